"""Secure messaging (ICAO 9303-11 §9.8, ISO/IEC 7816-4 §10).

Both sides of the channel are pure functions of (session keys, SSC, message), so the terminal
(:class:`SecureMessaging`) and the virtual chip (``station.sim``) share one implementation:

- terminal: :func:`protect_command` → card: :func:`unprotect_command`
- card: :func:`protect_response` → terminal: :func:`unprotect_response`

SSC rule: the send sequence counter is incremented once before protecting a command and once
before protecting its response, on both sides (§9.8.4). A response that comes back unprotected
(an error status word without DO'8E') still consumes its SSC step, so the two counters stay
aligned. ``ssc`` arguments are the value *to use* for that message (already incremented).

Data objects: DO'87' (padding-content indicator 01 + cryptogram; even INS), DO'85' (cryptogram
without indicator; odd INS), DO'97' (Le), DO'99' (status word), DO'8E' (8-byte MAC).
"""

from __future__ import annotations

from dataclasses import dataclass

from station.drivers.reader import Transport
from station.errors import ProtocolError, TagLost
from station.nfc import tlv
from station.nfc.apdu import CommandApdu, ResponseApdu
from station.nfc.crypto import SessionKeys, constant_time_equal, pad, unpad

# Status words with which a chip aborts secure messaging (ISO 7816-4 §5.6 / 9303-11 §9.8.5):
# after them the chip has dropped its session keys.
SW_SM_MISSING = 0x6987
SW_SM_INCORRECT = 0x6988


def ssc_bytes(keys: SessionKeys, ssc: int) -> bytes:
    return (ssc % (1 << (8 * keys.block))).to_bytes(keys.block, "big")


def do97(le: int, extended: bool) -> bytes:
    """DO'97' carrying Le: one byte (00 = 256) or, for extended length, two (0000 = 65536)."""
    if extended or le > 256:
        return tlv.encode(0x97, (le & 0xFFFF).to_bytes(2, "big"))
    return tlv.encode(0x97, bytes((le & 0xFF,)))


def _parse_dos(data: bytes) -> list[tuple[int, bytes, bytes]]:
    """Top-level SM data objects as (tag, raw encoding, value); strict bounds."""
    out: list[tuple[int, bytes, bytes]] = []
    pos = 0
    try:
        while pos < len(data):
            start = pos
            tag, pos = tlv.read_tag(data, pos)
            length, pos = tlv.read_length(data, pos)
            if pos + length > len(data):
                raise ProtocolError("SM data object overruns the message")
            out.append((tag, data[start : pos + length], data[pos : pos + length]))
            pos += length
    except Exception as exc:  # LdsFormatError from the TLV reader
        if isinstance(exc, ProtocolError):
            raise
        raise ProtocolError(f"malformed SM data objects: {exc}") from None
    return out


def _encrypted_do(keys: SessionKeys, ssc: bytes, data: bytes, odd_ins: bool) -> bytes:
    cryptogram = keys.encrypt(ssc, pad(data, keys.block))
    return tlv.encode(0x85, cryptogram) if odd_ins else tlv.encode(0x87, b"\x01" + cryptogram)


def _decrypt_do(keys: SessionKeys, ssc: bytes, tag: int, value: bytes) -> bytes:
    if tag == 0x87:
        if not value or value[0] != 0x01:
            raise ProtocolError("DO'87' without padding-content indicator 01")
        value = value[1:]
    if not value or len(value) % keys.block:
        raise ProtocolError("SM cryptogram is not a whole number of blocks")
    return unpad(keys.decrypt(ssc, value))


def protect_command(keys: SessionKeys, ssc: int, cmd: CommandApdu) -> CommandApdu:
    """Wrap a plain command: CLA | 0C, data → DO'87'/'85', Le → DO'97', MAC → DO'8E'; the
    protected command asks for Le = 00 (or 0000 when extended length is used)."""
    sscb = ssc_bytes(keys, ssc)
    cla = cmd.cla | 0x0C
    header = bytes((cla, cmd.ins, cmd.p1, cmd.p2))
    dos = b""
    if cmd.data:
        dos += _encrypted_do(keys, sscb, cmd.data, bool(cmd.ins & 1))
    extended = cmd.extended or (cmd.le is not None and cmd.le > 256)
    if cmd.le is not None:
        dos += do97(cmd.le, extended)
    mac = keys.mac(pad(sscb + pad(header, keys.block) + dos, keys.block))
    body = dos + tlv.encode(0x8E, mac)
    return CommandApdu(cla, cmd.ins, cmd.p1, cmd.p2, body, le=0,
                       extended=extended or len(body) > 255)


def unprotect_command(keys: SessionKeys, ssc: int, raw: bytes) -> CommandApdu:
    """Card side: verify and unwrap a protected command; :class:`ProtocolError` (→ 6988) when
    the MAC, the data objects or the padding are wrong."""
    cmd = CommandApdu.decode(raw)
    if cmd.cla & 0x0C != 0x0C:
        raise ProtocolError("command is not protected by secure messaging")
    sscb = ssc_bytes(keys, ssc)
    dos = _parse_dos(cmd.data)
    if not dos or dos[-1][0] != 0x8E:
        raise ProtocolError("protected command without DO'8E'")
    covered = b"".join(raw_do for _, raw_do, _ in dos[:-1])
    header = bytes((cmd.cla, cmd.ins, cmd.p1, cmd.p2))
    mac = keys.mac(pad(sscb + pad(header, keys.block) + covered, keys.block))
    if not constant_time_equal(mac, dos[-1][2]):
        raise ProtocolError("command MAC does not verify")
    data = b""
    le: int | None = None
    extended = cmd.extended
    for tag, _, value in dos[:-1]:
        if tag in (0x85, 0x87):
            data = _decrypt_do(keys, sscb, tag, value)
        elif tag == 0x97:
            if len(value) == 1:
                le = value[0] or 256
            elif len(value) == 2:
                le = int.from_bytes(value, "big") or 65536
                extended = True
            else:
                raise ProtocolError("DO'97' of bad length")
        else:
            raise ProtocolError(f"unexpected SM data object {tag:02X} in a command")
    return CommandApdu(cmd.cla & ~0x0C & 0xFF, cmd.ins, cmd.p1, cmd.p2, data, le=le,
                       extended=extended)


def protect_response(keys: SessionKeys, ssc: int, data: bytes, sw: int, *,
                     odd_ins: bool = False, do99: bool = True) -> bytes:
    """Card side: the protected R-APDU (DO'87'/'85' ‖ DO'99' ‖ DO'8E' ‖ SW); ``do99=False``
    leaves DO'99' out, as some chips do (see :func:`unprotect_response`)."""
    sscb = ssc_bytes(keys, ssc)
    dos = _encrypted_do(keys, sscb, data, odd_ins) if data else b""
    if do99:
        dos += tlv.encode(0x99, sw.to_bytes(2, "big"))
    mac = keys.mac(pad(sscb + dos, keys.block))
    return dos + tlv.encode(0x8E, mac) + sw.to_bytes(2, "big")


def unprotect_response(keys: SessionKeys, ssc: int, raw: bytes) -> ResponseApdu:
    """Terminal side: verify and unwrap a response. An error status word without any data
    objects is passed through (chips answer some errors unprotected); everything else must carry
    a valid DO'8E'. The status word is the MAC-protected one from DO'99' or, when the chip left
    DO'99' out, the trailer's."""
    resp = ResponseApdu.decode(raw)
    if not resp.data:
        if resp.sw == 0x9000:
            raise ProtocolError("unprotected 9000 on a secure-messaging channel")
        return resp
    sscb = ssc_bytes(keys, ssc)
    dos = _parse_dos(resp.data)
    if dos[-1][0] != 0x8E:
        raise ProtocolError("protected response without DO'8E'")
    covered = b"".join(raw_do for _, raw_do, _ in dos[:-1])
    mac = keys.mac(pad(sscb + covered, keys.block))
    if not constant_time_equal(mac, dos[-1][2]):
        raise ProtocolError("response MAC does not verify")
    data = b""
    sw: int | None = None
    for tag, _, value in dos[:-1]:
        if tag in (0x85, 0x87):
            data = _decrypt_do(keys, sscb, tag, value)
        elif tag == 0x99:
            if len(value) != 2:
                raise ProtocolError("DO'99' of bad length")
            sw = int.from_bytes(value, "big")
        else:
            raise ProtocolError(f"unexpected SM data object {tag:02X} in a response")
    if sw is None:
        # ISO 7816-4 §10.2 leaves DO'99' optional, and chips omit it: vsmartcard's vicc ePass
        # answers SELECT with DO'8E' ‖ 9000 alone. JMRTD then takes the status word from the
        # trailer once the MAC over the objects present has verified, and so do we. The MAC
        # (checked above, under this answer's SSC) proves the answer is the chip's and fresh;
        # the trailer itself is not covered, but it only decides success or failure: data is
        # believed only as MAC-covered DO'87'/'85', so a forged trailer can make a read fail,
        # never make a forged byte pass.
        sw = resp.sw
    return ResponseApdu(data, sw)


def max_plain_read(keys: SessionKeys, extended: bool = False, limit: int | None = None) -> int:
    """The largest READ BINARY Le whose protected answer still fits one R-APDU: 223 bytes with
    AES and 231 with 3DES in a short APDU (256-byte response data)."""
    cap = limit if limit is not None else (65536 if extended else 256)
    best = 0
    # DO'87' + DO'99' (4) + DO'8E' (10) must fit; the cryptogram is padded to whole blocks.
    for n in range(cap, 0, -1):
        crypt = (n // keys.block + 1) * keys.block
        value = 1 + crypt
        lenlen = 1 if value < 0x80 else 2 if value < 0x100 else 3
        if 1 + lenlen + value + 14 <= cap:
            best = n
            break
    return best


@dataclass
class SecureMessaging:
    """A :class:`Transport` that protects every command sent through it (and is itself one, so
    file reading is the same code with or without SM)."""

    inner: Transport
    keys: SessionKeys
    ssc: int
    broken: bool = False
    naked_error_step: bool = True
    """Whether an unprotected error answer (a bare status word, no DO'8E') consumed the
    response's SSC step on the chip. The specification does not say, and chips differ: our
    virtual chip counts it, vsmartcard's vicc ePass counts only the command (it increments its
    SSC when it computes a MAC, and it MACs no error answer). A wrong guess shows as 6988 on the
    next command; :class:`~station.nfc.session.ChipSession` then authenticates again with the
    other convention (see :attr:`naked_errors`)."""
    naked_errors: int = 0
    """Unprotected error answers received on this channel."""
    ended_by_card: bool = False
    """The chip ended secure messaging (6987/6988), as opposed to an answer refused here."""

    def transmit(self, apdu: bytes) -> bytes:
        if self.broken:
            raise ProtocolError("secure messaging was aborted; authenticate again")
        cmd = CommandApdu.decode(apdu)
        self.ssc += 1
        wrapped = protect_command(self.keys, self.ssc, cmd)
        try:
            raw = self._exchange(wrapped)
        except TagLost:
            self.broken = True
            raise
        self.ssc += 1
        try:
            resp = unprotect_response(self.keys, self.ssc, raw)
        except ProtocolError:
            self.broken = True
            raise
        if len(raw) == 2 and resp.sw not in (SW_SM_MISSING, SW_SM_INCORRECT):
            self.naked_errors += 1
            if not self.naked_error_step:
                self.ssc -= 1
        if resp.sw in (SW_SM_MISSING, SW_SM_INCORRECT) and not resp.data:
            self.broken = self.ended_by_card = True
            raise ProtocolError(f"card ended secure messaging ({resp.sw:04X})")
        return resp.data + resp.sw.to_bytes(2, "big")

    def _exchange(self, cmd: CommandApdu) -> bytes:
        # 61xx: the protected response is fetched with plain GET RESPONSE (ISO 7816-4 §5.3.4).
        raw = self.inner.transmit(cmd.encode())
        data = b""
        for _ in range(256):
            if len(raw) < 2 or raw[-2] != 0x61:
                return data + raw
            data += raw[:-2]
            get = CommandApdu(cmd.cla & 0x03, 0xC0, 0, 0, le=raw[-1] or 256)
            raw = self.inner.transmit(get.encode())
        raise ProtocolError("card keeps answering 61xx")


__all__ = [
    "SecureMessaging", "do97", "max_plain_read", "protect_command", "protect_response",
    "ssc_bytes", "unprotect_command", "unprotect_response",
]
