"""Reading elementary files: SELECT by FID, size from the TLV header, READ BINARY in chunks.

The same code runs over a plain transport or a secure-messaging one (which is a transport too).
"""

from __future__ import annotations

from collections.abc import Callable

from station.drivers.reader import Transport
from station.errors import LdsFormatError, StatusWordError
from station.nfc import tlv
from station.nfc.apdu import CommandApdu, transceive

EMRTD_AID = bytes.fromhex("A0000002471001")

Progress = Callable[[str, int, int], None]
"""progress(file_name, bytes_done, bytes_total)"""


def select_application(transport: Transport, aid: bytes = EMRTD_AID) -> None:
    transceive(transport, CommandApdu(0x00, 0xA4, 0x04, 0x0C, aid)).check("SELECT AID")


def select_file(transport: Transport, fid: int) -> None:
    cmd = CommandApdu(0x00, 0xA4, 0x02, 0x0C, fid.to_bytes(2, "big"))
    transceive(transport, cmd).check(f"SELECT {fid:04X}")


def read_binary(transport: Transport, offset: int, length: int) -> bytes:
    if offset > 0x7FFF:
        raise LdsFormatError("offset beyond short READ BINARY range")
    cmd = CommandApdu(0x00, 0xB0, offset >> 8, offset & 0xFF, le=length)
    return transceive(transport, cmd).check("READ BINARY").data


def read_file(
    transport: Transport,
    fid: int,
    name: str = "",
    *,
    chunk: int = 0xDF,
    progress: Progress | None = None,
) -> bytes:
    """Select ``fid`` and read it whole: the first bytes size it from its TLV header, so no read
    goes past the end of the file."""
    name = name or f"{fid:04X}"
    select_file(transport, fid)
    head = read_binary(transport, 0, 4)
    if len(head) < 2:
        raise LdsFormatError(f"{name}: header too short")
    hlen, vlen = tlv.header_size(head)
    total = hlen + vlen
    data = bytearray(head[:total])
    while len(data) < total:
        want = min(chunk, total - len(data))
        part = read_binary(transport, len(data), want)
        if not part:
            raise LdsFormatError(f"{name}: empty READ BINARY answer at offset {len(data)}")
        data += part[: total - len(data)]
        if progress is not None:
            progress(name, len(data), total)
    return bytes(data)


__all__ = ["EMRTD_AID", "StatusWordError", "read_binary", "read_file", "select_application"]
