"""The PC/SC card watch on a real pcscd with the vpcd driver: placing and lifting cards, a card
left lying, and pcscd killed and restarted under a running watch (in a child process, because
libpcsclite reads the socket path once per process)."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from station.service import machine as m
from station.service.cards import CardWatch
from station.sim.citizens import skeleton_files
from station.sim.filecard import FileCard
from station.sim.vpcd import VpcdLink
from station.testing.pcscd import PcscdTestbed
from station.testing.pcscd import TestbedUnavailable as Unavailable

ROOT = Path(__file__).resolve().parents[2]


class Running:
    def __init__(self, watch: CardWatch) -> None:
        self.events: queue.Queue[m.Event] = queue.Queue()
        self.beats = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=watch.run, args=(self.events.put, self._beat, self.stop), daemon=True)

    def _beat(self) -> None:
        self.beats += 1

    def next(self, timeout: float = 5.0) -> m.Event:
        return self.events.get(timeout=timeout)

    def quiet(self, seconds: float) -> list[m.Event]:
        time.sleep(seconds)
        out = []
        while not self.events.empty():
            out.append(self.events.get_nowait())
        return out


@pytest.fixture()
def watching(pcscd: PcscdTestbed) -> Iterator[Running]:
    r = Running(CardWatch(reader=pcscd.readers[0], poll_ms=100))
    r.thread.start()
    yield r
    r.stop.set()
    r.thread.join(timeout=5)
    assert not r.thread.is_alive()


def test_placing_and_lifting_a_card_are_events_on_its_slot(pcscd: PcscdTestbed,
                                                            watching: Running) -> None:
    assert watching.quiet(0.3) == []  # an empty reader: nothing to say
    link = VpcdLink(FileCard(skeleton_files(1)), pcscd.slot_port(0))
    link.insert()
    try:
        assert watching.next() == m.CardPresent(pcscd.readers[0])
    finally:
        link.remove()
    assert watching.next() == m.CardRemoved(pcscd.readers[0])
    link.insert()
    assert watching.next() == m.CardPresent(pcscd.readers[0])
    link.remove()
    assert watching.next() == m.CardRemoved(pcscd.readers[0])
    assert watching.beats >= 2


def test_other_readers_are_not_watched(pcscd: PcscdTestbed, watching: Running) -> None:
    link = VpcdLink(FileCard(skeleton_files(2)), pcscd.slot_port(1))
    link.insert()
    try:
        assert watching.quiet(0.5) == []
    finally:
        link.remove()


def test_a_card_left_lying_is_not_a_tap(pcscd: PcscdTestbed) -> None:
    link = VpcdLink(FileCard(skeleton_files(3)), pcscd.slot_port(0))
    link.insert()
    time.sleep(0.3)
    r = Running(CardWatch(reader=pcscd.readers[0], poll_ms=100))
    r.thread.start()
    try:
        assert r.quiet(0.5) == []
        link.remove()
        assert r.next() == m.CardRemoved(pcscd.readers[0])
    finally:
        link.remove()
        r.stop.set()
        r.thread.join(timeout=5)


def test_no_matching_reader_is_reader_lost(pcscd: PcscdTestbed) -> None:
    r = Running(CardWatch(reader="No Such Reader", poll_ms=100, retry_s=0.1))
    r.thread.start()
    try:
        assert r.next() == m.ReaderLost()
        assert r.quiet(0.4) == []  # said once, not on every retry
        assert r.beats >= 2  # still beating while it waits
    finally:
        r.stop.set()
        r.thread.join(timeout=5)


CHILD = """
import json, sys, threading
from station.service.cards import CardWatch
stop = threading.Event()
def post(ev):
    print(json.dumps(type(ev).__name__), flush=True)
def beat():
    pass
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
CardWatch(reader=sys.argv[1], poll_ms=100, retry_s=0.1).run(post, beat, stop)
print(json.dumps("stopped"), flush=True)
"""


def test_survives_pcscd_killed_and_restarted() -> None:
    try:
        testbed = PcscdTestbed().start()
    except Unavailable as exc:
        pytest.skip(str(exc))
    lines: queue.Queue[str] = queue.Queue()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, testbed.readers[0]], cwd=ROOT, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        env={**os.environ, **testbed.env()})
    assert child.stdout is not None and child.stdin is not None
    threading.Thread(target=lambda: [lines.put(json.loads(x)) for x in child.stdout],
                     daemon=True).start()
    link = VpcdLink(FileCard(skeleton_files(4)), testbed.slot_port(0))
    try:
        time.sleep(0.5)
        link.insert()
        assert lines.get(timeout=10) == "CardPresent"
        testbed.kill()
        # pcscd gone: the card is gone with it, and the reader is reported missing.
        seen = [lines.get(timeout=10)]
        if seen[0] == "CardRemoved":
            seen.append(lines.get(timeout=10))
        assert seen[-1] == "ReaderLost"
        link.remove()
        testbed.restart()
        assert lines.get(timeout=15) == "ReaderBack"
        link.insert()
        assert lines.get(timeout=10) == "CardPresent"
        link.remove()
        assert lines.get(timeout=10) == "CardRemoved"
        child.stdin.close()
        assert lines.get(timeout=10) == "stopped"
        assert child.wait(timeout=10) == 0
    finally:
        link.remove()
        if child.poll() is None:
            child.kill()
            child.wait()
        testbed.stop()


def test_reconnect_waits_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    """pcscd down for long: the retries double but never wait more than ``max_retry_s``, so a
    restarted pcscd is seen within it (the 5 s recovery goal)."""
    import threading

    from station.drivers.reader import monitor
    from station.service import cards

    waits: list[float] = []
    stop = threading.Event()

    def fake_sleep(stop_: threading.Event, beat: object, delay: float) -> None:
        waits.append(delay)
        if len(waits) >= 8:
            stop.set()

    monkeypatch.setattr(monitor, "_establish", lambda scard: None)
    monkeypatch.setattr(monitor, "_sleep_beating", fake_sleep)
    cards.CardWatch().run(lambda event: None, lambda: None, stop)
    assert waits[:3] == [0.5, 1.0, 2.0]
    assert max(waits) == 2.0
