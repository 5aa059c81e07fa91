"""The narrow interfaces the service runtime drives; the real stages satisfy them.

Each stage runs on its own thread (pyscard and picamera2 block), so a slow camera never delays
a card event and a slow outbox commit never delays the LEDs. Workers report back to the runtime
only by posting :mod:`station.service.machine` events.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from station.service.machine import Event, Outcome, Session

Post = Callable[[Event], None]


class Watch(Protocol):
    """A source of events that runs until ``stop`` is set: the card monitor (CardPresent,
    CardRemoved, ReaderLost, ReaderBack) or the QR camera (QrSeen). It calls ``beat()`` at least
    every second while it is alive and working; a watch whose beat stops is restarted."""

    name: str

    def run(self, post: Post, beat: Callable[[], None], stop: threading.Event) -> None: ...


class ChipReader(Protocol):
    def read(self, slot: str, keys: object, progress: Callable[[float], None],
             cancel: threading.Event) -> tuple[object, str]:
        """Read (and chip/active-authenticate) the card on ``slot``; returns the reading and its
        subject token. Raises TagLost, AuthFailed, ReaderUnavailable or another CardError."""
        ...


class Verifier(Protocol):
    def verify(self, reading: object) -> tuple[Outcome, object]:
        """Passive authentication against the trust store: the outcome and the verified
        reading handed on to the store."""
        ...


class RecordStore(Protocol):
    def store(self, verified: object, outcome: Outcome) -> str:
        """Minimise to the profile, sign, commit to the outbox; the record id. Raises OutboxFull
        (refuses rather than drop queued records) or StoreError."""
        ...

    def has_room(self) -> bool: ...

    def close(self) -> None:
        """Flush the last commit and publish the offline status."""
        ...


class Feedback(Protocol):
    def show(self, session: Session) -> None: ...

    def refused(self) -> None: ...

    def close(self) -> None: ...
