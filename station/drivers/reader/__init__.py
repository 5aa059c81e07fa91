"""The card reader edge: a :class:`Transport` moves raw APDUs; a :class:`CardConnection` is a
transport to a card present on a reader.

``Transport`` is deliberately byte-level (C-APDU in, R-APDU with SW1SW2 out) so that secure
messaging can wrap a transport and be one itself (ICAO 9303-11 §9.8).
"""

from __future__ import annotations

from typing import Protocol


class Transport(Protocol):
    """Sends one command APDU and returns the response APDU (data ‖ SW1 ‖ SW2)."""

    def transmit(self, apdu: bytes) -> bytes: ...


class CardConnection(Transport, Protocol):
    """A transport to a card present on a reader."""

    @property
    def atr(self) -> bytes: ...

    @property
    def reader_name(self) -> str: ...

    def close(self) -> None: ...
