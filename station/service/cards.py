"""The desk's card watch: the PC/SC card monitor (:mod:`station.drivers.reader.monitor`) as a
:class:`~station.service.ports.Watch`, its sightings posted as session events."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from station.drivers.reader.monitor import CardMonitor
from station.service import machine as m
from station.service.ports import Post


@dataclass
class CardWatch(CardMonitor):
    name: str = "cards"

    def run(self, post: Post, beat: Callable[[], None], stop: threading.Event) -> None:
        self.watch(_Posting(post), beat, stop)


@dataclass(frozen=True)
class _Posting:
    post: Post

    def placed(self, slot: str) -> None:
        self.post(m.CardPresent(slot))

    def removed(self, slot: str) -> None:
        self.post(m.CardRemoved(slot))

    def lost(self) -> None:
        self.post(m.ReaderLost())

    def back(self) -> None:
        self.post(m.ReaderBack())
