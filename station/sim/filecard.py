"""A plain-file ISO 7816-4 card: SELECT (AID or FID) and READ BINARY (by offset or short EF
identifier) without access control.

The walking skeleton reads it; the full CCCD chip (PACE, BAC, secure messaging) replaces it.
"""

from __future__ import annotations

from collections.abc import Mapping

from station.nfc.files import EMRTD_AID
from station.sim.vpcd import contactless_atr

SW_OK = b"\x90\x00"
SW_WRONG_LENGTH = b"\x67\x00"
SW_WRONG_P1P2 = b"\x6B\x00"
SW_NOT_FOUND = b"\x6A\x82"
SW_INS_NOT_SUPPORTED = b"\x6D\x00"
SW_CLA_NOT_SUPPORTED = b"\x6E\x00"
SW_NO_CURRENT_EF = b"\x69\x86"


class FileCard:
    """Serves ``files`` (FID → content) inside the eMRTD application."""

    def __init__(self, files: Mapping[int, bytes], *, aid: bytes = EMRTD_AID) -> None:
        self.files = dict(files)
        self.aid = aid
        self._atr = contactless_atr()
        self._app_selected = False
        self._current: bytes | None = None

    @property
    def atr(self) -> bytes:
        return self._atr

    def power_on(self) -> None:
        self._app_selected = False
        self._current = None

    def power_off(self) -> None:
        self.power_on()

    def process(self, apdu: bytes) -> bytes:
        if len(apdu) < 4:
            return SW_WRONG_LENGTH
        cla, ins, p1, p2 = apdu[:4]
        if cla & 0x0C:
            return SW_CLA_NOT_SUPPORTED  # no secure messaging on this card
        body = apdu[4:]
        if ins == 0xA4:
            return self._select(p1, body)
        if ins == 0xB0:
            return self._read_binary(p1, p2, body)
        return SW_INS_NOT_SUPPORTED

    def _select(self, p1: int, body: bytes) -> bytes:
        if not body or len(body) < 1 + body[0]:
            return SW_WRONG_LENGTH
        ident = body[1 : 1 + body[0]]
        if p1 == 0x04:
            if ident != self.aid:
                return SW_NOT_FOUND
            self._app_selected, self._current = True, None
            return SW_OK
        if p1 in (0x00, 0x02) and len(ident) == 2:
            content = self.files.get(int.from_bytes(ident, "big"))
            if content is None or not self._app_selected:
                return SW_NOT_FOUND
            self._current = content
            return SW_OK
        return SW_WRONG_P1P2

    def _read_binary(self, p1: int, p2: int, body: bytes) -> bytes:
        if p1 & 0x80:
            # Short EF identifier in P1 (ISO 7816-4 §11.2.2): select the EF 01xx and read at P2.
            content = self.files.get(0x0100 | (p1 & 0x1F))
            if content is None or not self._app_selected:
                return SW_NOT_FOUND
            self._current = content
            offset = p2
        elif self._current is None:
            return SW_NO_CURRENT_EF
        else:
            offset = (p1 << 8) | p2
        le = body[0] if len(body) == 1 else 0
        le = le or 256
        if offset > len(self._current):
            return SW_WRONG_P1P2
        return self._current[offset : offset + le] + SW_OK
