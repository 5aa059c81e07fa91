"""ISO/IEC 7816-4 command and response APDUs, and the status-word → error mapping."""

from __future__ import annotations

from dataclasses import dataclass

from station.drivers.reader import Transport
from station.errors import ProtocolError, StatusWordError

SW_OK = 0x9000


@dataclass(frozen=True)
class CommandApdu:
    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None
    """Expected response length; 0 means "as much as possible" (256, or 65536 extended)."""
    extended: bool = False

    def encode(self) -> bytes:
        head = bytes((self.cla, self.ins, self.p1, self.p2))
        ext = self.extended or len(self.data) > 255 or (self.le is not None and self.le > 256)
        if not ext:
            body = b""
            if self.data:
                body += bytes((len(self.data),)) + self.data
            if self.le is not None:
                body += bytes((self.le & 0xFF,))
            return head + body
        body = b""
        if self.data:
            body += b"\x00" + len(self.data).to_bytes(2, "big") + self.data
        if self.le is not None:
            le = self.le & 0xFFFF  # 65536 → 0000
            body += (b"" if self.data else b"\x00") + le.to_bytes(2, "big")
        return head + body

    @classmethod
    def decode(cls, raw: bytes) -> CommandApdu:
        """Parse the ISO 7816-3 cases 1, 2S/2E, 3S/3E and 4S/4E. ``le`` comes back as the
        number of bytes asked for (256 or 65536 for an all-zero Le)."""
        if len(raw) < 4:
            raise ProtocolError(f"command APDU of {len(raw)} byte(s) has no header")
        cla, ins, p1, p2 = raw[:4]
        body = raw[4:]
        n = len(body)
        if n == 0:
            return cls(cla, ins, p1, p2)
        if n == 1:
            return cls(cla, ins, p1, p2, le=body[0] or 256)
        if body[0] != 0:
            lc = body[0]
            if n == 1 + lc:
                return cls(cla, ins, p1, p2, bytes(body[1:]))
            if n == 2 + lc:
                return cls(cla, ins, p1, p2, bytes(body[1:-1]), le=body[-1] or 256)
            raise ProtocolError("command APDU length does not match Lc")
        # Extended length: a zero byte, then 2-byte Lc and/or 2-byte Le.
        if n == 3:
            return cls(cla, ins, p1, p2, le=int.from_bytes(body[1:3], "big") or 65536,
                       extended=True)
        if n < 3:
            raise ProtocolError("truncated extended-length command APDU")
        lc = int.from_bytes(body[1:3], "big")
        if n == 3 + lc:
            return cls(cla, ins, p1, p2, bytes(body[3:]), extended=True)
        if n == 5 + lc:
            return cls(cla, ins, p1, p2, bytes(body[3:-2]),
                       le=int.from_bytes(body[-2:], "big") or 65536, extended=True)
        raise ProtocolError("extended command APDU length does not match Lc")


@dataclass(frozen=True)
class ResponseApdu:
    data: bytes
    sw: int

    @classmethod
    def decode(cls, raw: bytes) -> ResponseApdu:
        if len(raw) < 2:
            raise ProtocolError(f"response of {len(raw)} byte(s) has no status word")
        return cls(bytes(raw[:-2]), int.from_bytes(raw[-2:], "big"))

    @property
    def ok(self) -> bool:
        return self.sw == SW_OK

    def check(self, command: str = "") -> ResponseApdu:
        if self.sw != SW_OK:
            raise StatusWordError(self.sw, command)
        return self


def transceive(transport: Transport, cmd: CommandApdu) -> ResponseApdu:
    """Send ``cmd``, following 61xx (GET RESPONSE) and 6Cxx (resend with Le=xx) as ISO 7816-4
    requires, and return the complete response (its SW not yet checked)."""
    resp = ResponseApdu.decode(transport.transmit(cmd.encode()))
    if resp.sw >> 8 == 0x6C:
        cmd = CommandApdu(cmd.cla, cmd.ins, cmd.p1, cmd.p2, cmd.data, resp.sw & 0xFF or 256)
        resp = ResponseApdu.decode(transport.transmit(cmd.encode()))
    data = resp.data
    rounds = 0
    while resp.sw >> 8 == 0x61:
        rounds += 1
        if rounds > 256:
            raise ProtocolError("card keeps answering 61xx")
        get = CommandApdu(cmd.cla & 0x03, 0xC0, 0x00, 0x00, le=resp.sw & 0xFF or 256)
        resp = ResponseApdu.decode(transport.transmit(get.encode()))
        data += resp.data
    return ResponseApdu(data, resp.sw)
