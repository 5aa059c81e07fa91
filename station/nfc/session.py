"""Reading a chip: which files, in what order, over which channel.

Walking-skeleton form: EF.COM and DG1 over a plain channel (the skeleton's file card has no
access control). The chip-reading issue puts PACE/BAC and secure messaging under the same
``read_files`` call.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from station.drivers.reader import Transport
from station.nfc.files import Progress, read_file, select_application

FILE_IDS: dict[str, int] = {
    "COM": 0x011E, "DG1": 0x0101, "DG2": 0x0102, "DG3": 0x0103, "DG11": 0x010B,
    "DG12": 0x010C, "DG13": 0x010D, "DG14": 0x010E, "DG15": 0x010F, "SOD": 0x011D,
}


@dataclass(frozen=True)
class ChipRead:
    protocol: str
    """Access control used: "none" (skeleton), "PACE", "BAC"."""
    files: dict[str, bytes] = field(default_factory=dict)


class _CountingTransport:
    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.count = 0

    def transmit(self, apdu: bytes) -> bytes:
        self.count += 1
        return self.inner.transmit(apdu)


def read_plain(
    transport: Transport, names: Iterable[str] = ("COM", "DG1"),
    progress: Progress | None = None,
) -> ChipRead:
    select_application(transport)
    files = {name: read_file(transport, FILE_IDS[name], name, progress=progress)
             for name in names}
    return ChipRead("none", files)
