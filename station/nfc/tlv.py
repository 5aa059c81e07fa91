"""BER-TLV (ISO/IEC 8825-1 as used by ISO 7816-4 and ICAO 9303): strict, bounded, iterative
where it matters."""

from __future__ import annotations

from station.errors import LdsFormatError


def read_tag(buf: bytes, pos: int) -> tuple[int, int]:
    """Return (tag, position after the tag) for the tag at ``pos``."""
    if pos >= len(buf):
        raise LdsFormatError("TLV truncated in tag")
    first = buf[pos]
    tag = first
    pos += 1
    if first & 0x1F == 0x1F:
        for _ in range(3):
            if pos >= len(buf):
                raise LdsFormatError("TLV truncated in multi-byte tag")
            b = buf[pos]
            tag = (tag << 8) | b
            pos += 1
            if not b & 0x80:
                break
        else:
            raise LdsFormatError("TLV tag longer than 4 bytes")
    return tag, pos


def read_length(buf: bytes, pos: int) -> tuple[int, int]:
    """Return (length, position after the length field) for the length at ``pos``."""
    if pos >= len(buf):
        raise LdsFormatError("TLV truncated in length")
    first = buf[pos]
    pos += 1
    if first < 0x80:
        return first, pos
    n = first & 0x7F
    if n == 0 or n > 4:
        raise LdsFormatError(f"unsupported TLV length form 0x{first:02X}")
    if pos + n > len(buf):
        raise LdsFormatError("TLV truncated in long length")
    return int.from_bytes(buf[pos : pos + n], "big"), pos + n


def header_size(buf: bytes) -> tuple[int, int]:
    """For the first bytes of a file, return (header length, value length): the total file size
    is their sum. Used to size a file from its first 4–6 bytes."""
    _, pos = read_tag(buf, 0)
    length, pos = read_length(buf, pos)
    return pos, length
