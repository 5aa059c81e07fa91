"""The narrow interfaces the service runtime drives; the real stages satisfy them.

Each stage runs on its own thread (pyscard and picamera2 block), so a slow camera never delays
a card event and a slow outbox commit never delays the LEDs. Workers report back to the runtime
only by posting :mod:`station.service.machine` events.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from station.pipeline.records import Reading
from station.service.machine import Event, Session
from station.service.readings import Checked, ChipReading, DeskKeys, Read
from station.trust.verdict import Outcome

Post = Callable[[Event], None]

Assemble = Callable[[Checked, Outcome], Reading]
"""What the service records of a verified reading: the profile's minimised
:class:`~station.pipeline.records.Reading` (:func:`station.service.records.assembler`)."""


class Watch(Protocol):
    """A source of events that runs until ``stop`` is set: the card monitor (CardPresent,
    CardRemoved, ReaderLost, ReaderBack) or the QR camera (QrSeen). It calls ``beat()`` at least
    every second while it is alive and working; a watch whose beat stops is restarted."""

    name: str

    def run(self, post: Post, beat: Callable[[], None], stop: threading.Event) -> None: ...


class ChipReader(Protocol):
    def read(self, slot: str, keys: DeskKeys, progress: Callable[[float], None],
             cancel: threading.Event) -> tuple[ChipReading, str]:
        """Read (and chip/active-authenticate) the card on ``slot``; returns the reading and its
        subject token. Raises TagLost, AuthFailed, ReaderUnavailable or another CardError."""
        ...


class Verifier(Protocol):
    def verify(self, reading: Read) -> tuple[Outcome, Checked]:
        """Passive authentication against the trust store: the outcome and the verified
        reading the record is assembled from."""
        ...


class RecordStore(Protocol):
    def store(self, reading: Reading) -> str:
        """Sign and commit the finished reading to the outbox; the record id. Raises
        OutboxFull (refuses rather than drop queued records) or StoreError."""
        ...

    def has_room(self) -> bool: ...

    def close(self) -> None:
        """Flush the last commit and publish the offline status."""
        ...


class Feedback(Protocol):
    def show(self, session: Session) -> None: ...

    def refused(self) -> None: ...

    def close(self) -> None: ...
