"""Reading elementary files: SELECT by FID, size from the TLV header, READ BINARY in as few
APDUs as the chip allows.

The same code runs over a plain transport or a secure-messaging one (which is a transport too).

Read strategy (:class:`ReadStrategy`, one per card session):
- the first READ BINARY of a file addresses it by its short EF identifier (P1 = 0x80 | SFI,
  ICAO 9303-10 §3.6: every LDS file has one), which selects and reads in one APDU, and asks for
  the largest Le at once: a file that fits (EF.COM, DG1, DG13, DG14 …) costs one APDU, and the
  TLV header in the answer sizes the rest. ISO 7816-4 lets a chip answer such a read with
  fewer bytes (6282, or 9000), and real chips also answer 6Cxx (the right Le), 6700, 6B00 or
  an empty answer, or more bytes than the file: 6Cxx is retried with its Le, 6700 steps down,
  6B00 / an empty answer makes the session read a 4-byte header first (no read then asks past
  the end of a file), surplus bytes are cut at the length the header gives. A chip that
  refuses SFI addressing gets SELECT + READ BINARY for the rest of the session (gmrtd, too,
  adapts its read size to the chip);
- then chunks of the largest Le that fits: 223 bytes with AES SM, 231 with 3DES (one short
  R-APDU), or far more with extended length when the card advertises it;
- a chip or reader that answers 6700 / 6Cxx / a malformed answer to a large Le makes the
  strategy step down (…→ 223 → 192 → 128 → 64) and remember it for the rest of the session;
- offsets beyond 32767 use READ BINARY with odd INS (B1) and an offset data object (ISO 7816-4).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from station.drivers.reader import Transport
from station.errors import EmptyFile, LdsFormatError, ProtocolError, StatusWordError
from station.nfc import tlv
from station.nfc.apdu import CommandApdu, ResponseApdu, transceive

EMRTD_AID = bytes.fromhex("A0000002471001")

Progress = Callable[[str, int, int], None]
"""progress(file_name, bytes_done, bytes_total)"""

HEADER_LEN = 4
"""Enough for tag + length of every LDS file (1-2 byte tag, up to 3 length bytes → 5 at worst,
in which case one more byte is read)."""

SW_END_OF_FILE = 0x6282
SW_WRONG_LENGTH = 0x6700
SW_WRONG_OFFSET = 0x6B00
SW_NOT_FOUND = 0x6A82
SW_SECURITY_NOT_SATISFIED = 0x6982


@dataclass
class ReadStrategy:
    """How large a READ BINARY may be; shared by every file of a card session so that a step
    down learnt on one file is not paid again on the next."""

    max_le: int = 223
    extended: bool = False
    ladder: tuple[int, ...] = (223, 192, 128, 64)
    step_downs: list[int] = field(default_factory=list)
    """Le values that failed, in order (reported by the bench and the CLI)."""
    sfi: bool = True
    """Address files by short EF identifier; cleared when the chip refuses it."""
    header_first: bool = False
    """Read a 4-byte TLV header before the rest: set for a chip that refuses a first read whose
    Le goes past the end of a small file (6B00 or an empty answer)."""
    sfi_confirmed: bool = False
    """A read by SFI has succeeded on this chip, so its 6A82 to one means the file is absent.
    Before that, 6A82 may only mean "no SFI addressing" (vsmartcard's vicc ePass answers every
    SFI read so): the file is then SELECTed by FID to find out."""

    def step_down(self) -> bool:
        """Use the next smaller size; False when already at the floor."""
        smaller = [n for n in self.ladder if n < self.max_le]
        if not smaller:
            return False
        self.step_downs.append(self.max_le)
        self.max_le = smaller[0]
        if self.max_le <= 256:
            self.extended = False
        return True


def select_application(transport: Transport, aid: bytes = EMRTD_AID) -> None:
    transceive(transport, CommandApdu(0x00, 0xA4, 0x04, 0x0C, aid)).check("SELECT AID")


def short_ef_id(fid: int) -> int | None:
    """The SFI of an LDS file (FID 01xx → xx, ICAO 9303-10 Table 39), None for other files."""
    sfi = fid & 0x1F
    return sfi if fid & 0xFFE0 == 0x0100 and sfi else None


def _first_le(strategy: ReadStrategy) -> int:
    return HEADER_LEN if strategy.header_first else strategy.max_le


def _read_first_by_sfi(transport: Transport, sfi: int, strategy: ReadStrategy) -> bytes | None:
    """READ BINARY with the SFI in P1: selects the file and reads its first bytes in one APDU,
    as many as the strategy allows. None when the chip does not offer SFI addressing (the
    caller then SELECTs)."""
    want = _first_le(strategy)
    retried_6c = False
    while True:
        cmd = CommandApdu(0x00, 0xB0, 0x80 | sfi, 0, le=want,
                          extended=strategy.extended and want > 256)
        resp = transceive(transport, cmd)
        if resp.sw in (0x9000, SW_END_OF_FILE) and resp.data:
            strategy.sfi_confirmed = True
            return resp.data
        if resp.sw >> 8 == 0x6C and resp.sw & 0xFF and not retried_6c:
            want, retried_6c = resp.sw & 0xFF, True  # "wrong Le, the right one is xx"
            continue
        if resp.sw == SW_WRONG_LENGTH and want > HEADER_LEN:
            while strategy.max_le >= want and strategy.step_down():
                pass
            want = strategy.max_le if strategy.max_le < want else HEADER_LEN
            continue
        if (resp.sw in (SW_WRONG_OFFSET, SW_END_OF_FILE, 0x9000) and not resp.data
                and want > HEADER_LEN):
            # 6B00 or nothing for a large Le at offset 0: a chip that will not read past the
            # end of a small file. Ask for the header only, now and for the next files.
            strategy.header_first = True
            want = HEADER_LEN
            continue
        break
    # An empty "success" is a chip that took P1 as an offset beyond the file: no SFI support.
    if resp.sw == SW_SECURITY_NOT_SATISFIED or (resp.sw == SW_NOT_FOUND
                                                and strategy.sfi_confirmed):
        resp.check(f"READ BINARY SFI {sfi:02X}")  # the file's own answer, as SELECT would give
    if resp.sw != SW_NOT_FOUND:
        strategy.sfi = False  # 6B00, 6A86, 6986, 6D00 …: no SFI addressing on this chip
    return None


def _read_first_selected(transport: Transport, strategy: ReadStrategy) -> bytes:
    """The first READ BINARY of a SELECTed file: the largest Le, with the same fallbacks as by
    SFI (6700 / 6Cxx step down; 6B00 or an empty answer → the 4-byte header first)."""
    if not strategy.header_first:
        try:
            first = _adaptive_read(transport, 0, strategy.max_le, strategy, size_known=False)
        except StatusWordError as exc:
            if exc.sw != SW_WRONG_OFFSET:
                raise
            first = b""
        if first:
            return first
        strategy.header_first = True
    return read_binary(transport, 0, HEADER_LEN)


def select_file(transport: Transport, fid: int) -> None:
    cmd = CommandApdu(0x00, 0xA4, 0x02, 0x0C, fid.to_bytes(2, "big"))
    transceive(transport, cmd).check(f"SELECT {fid:04X}")


def _read_command(offset: int, length: int, extended: bool) -> CommandApdu:
    le = length if length < 65536 else 65536
    if offset <= 0x7FFF:
        return CommandApdu(0x00, 0xB0, offset >> 8, offset & 0xFF, le=le,
                           extended=extended and length > 256)
    # Odd INS: offset in DO'54', answer wrapped in DO'53' (ISO 7816-4 §11.3.3).
    off = offset.to_bytes(3 if offset > 0xFFFF else 2, "big")
    return CommandApdu(0x00, 0xB1, 0x00, 0x00, tlv.encode(0x54, off), le=le,
                       extended=extended and length > 256)


def read_binary(transport: Transport, offset: int, length: int, *,
                extended: bool = False) -> bytes:
    """READ BINARY ``length`` bytes at ``offset``; fewer may come back (6282 end of file)."""
    if offset > 0xFFFFFF:
        raise LdsFormatError("offset beyond READ BINARY range")
    cmd = _read_command(offset, length, extended)
    resp = transceive(transport, cmd)
    if resp.sw not in (0x9000, SW_END_OF_FILE):
        resp.check(f"READ BINARY at {offset}")
    data = resp.data
    if cmd.ins == 0xB1:
        data = _unwrap_odd(resp)
    return data


def _unwrap_odd(resp: ResponseApdu) -> bytes:
    try:
        obj = tlv.decode(resp.data)
    except LdsFormatError:
        raise ProtocolError("READ BINARY (B1) answer is not a DO'53'") from None
    if obj.tag != 0x53:
        raise ProtocolError("READ BINARY (B1) answer is not a DO'53'")
    return obj.value


def _adaptive_read(transport: Transport, offset: int, want: int,
                   strategy: ReadStrategy, *, size_known: bool = True) -> bytes:
    """READ BINARY of up to ``want`` bytes at the strategy's size. ``size_known``: ``want`` is
    what is left of the file (so a 6Cxx below it is the chip's limit, not the file's end)."""
    while True:
        n = min(want, strategy.max_le)
        try:
            return read_binary(transport, offset, n, extended=strategy.extended)
        except StatusWordError as exc:
            xx = exc.sw & 0xFF if exc.sw >> 8 == 0x6C else 0
            if 0 < xx < n:
                # ISO 7816-4: "wrong Le, xx bytes available". Past the end of a file that is
                # the bytes left; inside a file of known size it is the chip's limit.
                if size_known:
                    while strategy.max_le > xx and strategy.step_down():
                        pass
                    strategy.max_le = min(strategy.max_le, xx)
                return read_binary(transport, offset, xx, extended=False)
            if exc.sw != SW_WRONG_LENGTH and exc.sw >> 8 != 0x6C:
                raise
            # 6700 for less than the maximum (the rest of a small file) still means the chip's
            # limit is below n: step down past n, not just below the maximum.
            while strategy.max_le >= n:
                if not strategy.step_down():
                    raise


def read_file(
    transport: Transport,
    fid: int,
    name: str = "",
    *,
    chunk: int = 0xDF,
    progress: Progress | None = None,
    strategy: ReadStrategy | None = None,
    into: bytearray | None = None,
) -> bytes:
    """Select ``fid`` and read it whole. ``into`` holds what an earlier, interrupted read got
    (it is extended in place, so after a :class:`~station.errors.TagLost` the caller still has
    every byte read so far and the next call resumes at its end)."""
    name = name or f"{fid:04X}"
    strategy = strategy or ReadStrategy(max_le=chunk, ladder=tuple(
        n for n in (chunk, 192, 128, 64) if n <= chunk))
    data = into if into is not None else bytearray()
    sfi = short_ef_id(fid)
    head: bytes | None = None
    by_sfi = sfi is not None and strategy.sfi and not data
    if sfi is not None and by_sfi:
        head = _read_first_by_sfi(transport, sfi, strategy)
    if head is None:
        select_file(transport, fid)
        if by_sfi:
            strategy.sfi = False  # SFI refused a file that SELECT finds: no SFI addressing
        if not data:
            head = _read_first_selected(transport, strategy)
        elif len(data) < HEADER_LEN:
            head = read_binary(transport, len(data), HEADER_LEN - len(data))
    if head is not None:
        if not head and not data:
            raise EmptyFile(f"{name}: empty file")
        data += head
    try:
        hlen, vlen = tlv.header_size(bytes(data))
    except LdsFormatError:
        if len(data) >= 6:
            raise
        data += read_binary(transport, len(data), 6 - len(data))
        hlen, vlen = tlv.header_size(bytes(data))
    total = hlen + vlen
    if len(data) > total:
        del data[total:]
    if progress is not None:
        progress(name, len(data), total)
    while len(data) < total:
        try:
            part = _adaptive_read(transport, len(data), total - len(data), strategy)
        except StatusWordError as exc:
            if exc.sw != SW_WRONG_OFFSET:
                raise
            part = b""  # 6B00: the offset is beyond the end of the EF
        if not part:
            # 6B00, an empty 6282 or an empty 9000: the file is shorter than its TLV header
            # says. A truncated file is never passed on as a complete one.
            raise LdsFormatError(f"{name}: the file ends at offset {len(data)}, before the "
                                 f"{total} bytes its header announces")
        data += part[: total - len(data)]
        if progress is not None:
            progress(name, len(data), total)
    return bytes(data)


def supports_extended_length(atr: bytes) -> bool:
    """Does the ATR's historical bytes' card-capabilities object (compact-TLV tag 7, ISO 7816-4
    §8.1.1.2.7) advertise extended Lc/Le (third software-function byte, bit 7)?"""
    hist = _historical_bytes(atr)
    if not hist or hist[0] != 0x80:
        return False
    pos = 1
    while pos < len(hist):
        tag, length = hist[pos] >> 4, hist[pos] & 0x0F
        value = hist[pos + 1 : pos + 1 + length]
        if tag == 0x7 and len(value) >= 3:
            return bool(value[2] & 0x40)
        pos += 1 + length
    return False


def _historical_bytes(atr: bytes) -> bytes:
    if len(atr) < 2:
        return b""
    k = atr[1] & 0x0F
    pos, y = 2, atr[1] >> 4
    while True:
        # TA/TB/TC present per bits; TD announces the next group.
        pos += bin(y & 0x7).count("1")
        if not y & 0x8:
            break
        if pos >= len(atr):
            return b""
        y = atr[pos] >> 4
        pos += 1
    return atr[pos : pos + k]


__all__ = [
    "EMRTD_AID", "ReadStrategy", "StatusWordError", "read_binary", "read_file",
    "select_application", "supports_extended_length",
]
