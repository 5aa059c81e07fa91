"""BER-TLV (ISO/IEC 8825-1 as used by ISO 7816-4 and ICAO 9303): strict, bounded, iterative
where it matters."""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class Tlv:
    """One BER-TLV data object. Children are parsed on demand (:meth:`children`), one level at a
    time, so nesting depth costs nothing until a caller walks it — no recursion bombs."""

    tag: int
    value: bytes
    constructed: bool

    def children(self) -> list[Tlv]:
        if not self.constructed:
            raise LdsFormatError(f"tag {self.tag:X} is primitive, not constructed")
        return decode_all(self.value)

    def find(self, tag: int) -> Tlv | None:
        return next((c for c in self.children() if c.tag == tag), None)

    def require(self, tag: int) -> Tlv:
        found = self.find(tag)
        if found is None:
            raise LdsFormatError(f"tag {tag:X} missing inside {self.tag:X}")
        return found

    def encode(self) -> bytes:
        return encode(self.tag, self.value)


def _decode_at(buf: bytes, pos: int) -> tuple[Tlv, int]:
    constructed = pos < len(buf) and bool(buf[pos] & 0x20)
    tag, pos = read_tag(buf, pos)
    length, pos = read_length(buf, pos)
    end = pos + length
    if end > len(buf):
        raise LdsFormatError(f"TLV {tag:X}: length {length} overruns the {len(buf)}-byte buffer")
    return Tlv(tag, bytes(buf[pos:end]), constructed), end


def decode_all(buf: bytes) -> list[Tlv]:
    """Every data object in ``buf``, which they must fill exactly."""
    out: list[Tlv] = []
    pos = 0
    while pos < len(buf):
        obj, pos = _decode_at(buf, pos)
        out.append(obj)
    return out


def decode(buf: bytes, *, trailing: bool = False) -> Tlv:
    """Exactly one data object (``trailing=True`` tolerates bytes after it, as files padded
    beyond their TLV do)."""
    obj, end = _decode_at(buf, 0)
    if end != len(buf) and not trailing:
        raise LdsFormatError(f"{len(buf) - end} byte(s) after TLV {obj.tag:X}")
    return obj


def encode_length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    size = (n.bit_length() + 7) // 8
    return bytes((0x80 | size,)) + n.to_bytes(size, "big")


def encode(tag: int, value: bytes) -> bytes:
    """DER-style encoding: the tag's own bytes, then the shortest length form."""
    tag_bytes = tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")
    return tag_bytes + encode_length(len(value)) + value
