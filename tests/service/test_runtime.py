"""The service loop with its threads: stages are software twins here (the real chip, trust and
pipeline stages plug into the same ports); systemd's notify socket is a real datagram socket."""

from __future__ import annotations

import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from station.config import FeedbackSection
from station.drivers.gpio import Indication, Outputs
from station.errors import AuthFailed, OutboxFull, ReaderUnavailable, TagLost
from station.service import machine as m
from station.service.feedback import DeskFeedback
from station.service.ports import Post
from station.service.runtime import Notifier, Service, classify


class Systemd:
    """The receiving end of $NOTIFY_SOCKET."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.01)
        self.path = str(path)
        self.messages: list[str] = []

    def drain(self) -> list[str]:
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except TimeoutError:
                return self.messages


@pytest.fixture()
def systemd(tmp_path: Path) -> Iterator[Systemd]:
    s = Systemd(tmp_path / "notify")
    yield s
    s.sock.close()


class Desk:
    """A watch the test drives: it posts what the test queues, and beats while ``beating``."""

    name = "desk"

    def __init__(self) -> None:
        self.outbox: list[m.Event] = []
        self.beating = True
        self.die = False
        self.runs = 0
        self.lock = threading.Lock()

    def run(self, post: Post, beat: Callable[[], None], stop: threading.Event) -> None:
        self.runs += 1
        self.die = False
        while not stop.is_set():
            if self.die:
                raise RuntimeError("monitor thread died")
            if self.beating:
                beat()
            with self.lock:
                pending, self.outbox[:] = list(self.outbox), []
            for ev in pending:
                post(ev)
            time.sleep(0.01)

    def send(self, *evs: m.Event) -> None:
        with self.lock:
            self.outbox.extend(evs)


class Chip:
    def __init__(self) -> None:
        self.error: Exception | None = None
        self.delay = 0.0
        self.reads = 0

    def read(self, slot: str, keys: object, progress: Callable[[float], None],
             cancel: threading.Event) -> tuple[object, str]:
        self.reads += 1
        progress(0.5)
        end = time.monotonic() + self.delay
        while time.monotonic() < end:
            if cancel.is_set():
                raise TagLost("cancelled")
            time.sleep(0.01)
        if self.error is not None:
            raise self.error
        return ("reading", keys), "subject-1"


class Trust:
    outcome = m.Outcome.AUTHENTIC

    def verify(self, reading: object) -> tuple[m.Outcome, object]:
        return self.outcome, ("verified", reading)


class Outbox:
    def __init__(self) -> None:
        self.records: list[tuple[object, m.Outcome]] = []
        self.full = False
        self.closed = False

    def store(self, reading: tuple[object, m.Outcome]) -> str:  # what assemble() below made
        if self.full:
            raise OutboxFull("over max_bytes")
        self.records.append(reading)
        return f"rec-{len(self.records)}"

    def has_room(self) -> bool:
        return not self.full

    def close(self) -> None:
        self.closed = True


def assemble(verified: object, outcome: m.Outcome) -> tuple[object, m.Outcome]:
    """The record the service assembles, kept as what it was assembled from."""
    return verified, outcome


class Lights:
    def __init__(self, delay: float = 0.0) -> None:
        self.shown: list[m.Session] = []
        self.refusals = 0
        self.delay = delay
        self.closed = False

    def show(self, session: m.Session) -> None:
        time.sleep(self.delay)
        self.shown.append(session)

    def refused(self) -> None:
        self.refusals += 1

    def close(self) -> None:
        self.closed = True


class Running:
    def __init__(self, systemd: Systemd, *, lights: Lights | None = None,
                 rules: m.Rules | None = None, watchdog_usec: str = "") -> None:
        self.desk, self.chip, self.trust = Desk(), Chip(), Trust()
        self.outbox, self.lights = Outbox(), lights or Lights()
        env = {"NOTIFY_SOCKET": systemd.path, "WATCHDOG_USEC": watchdog_usec}
        self.service = Service(rules or m.Rules(result_hold_s=0.2), watches=[self.desk],
                               chip=self.chip, verifier=self.trust, assemble=assemble,
                               store=self.outbox,
                               feedback=self.lights, notifier=Notifier(environ=env),
                               tick_s=0.02, beat_timeout_s=0.3, stop_grace_s=2.0)
        self.thread = threading.Thread(target=self.service.run)
        self.thread.start()

    def until(self, cond: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            assert time.monotonic() < deadline, "condition not reached"
            time.sleep(0.01)

    def phase_seen(self, phase: m.Phase) -> bool:
        return any(s.phase is phase for s in self.lights.shown)

    def stop(self) -> None:
        self.service.request_stop()
        self.thread.join(10)
        assert not self.thread.is_alive()


@pytest.fixture()
def running(systemd: Systemd) -> Iterator[Running]:
    r = Running(systemd)
    yield r
    if r.thread.is_alive():
        r.stop()


def test_qr_then_card_gives_one_record_ready_and_status(running: Running,
                                                        systemd: Systemd) -> None:
    running.until(running.service.ready.is_set)
    running.desk.send(m.QrSeen("keys-1", "subject-1"), m.CardPresent("r0"))
    running.until(lambda: running.phase_seen(m.Phase.SUCCESS))
    assert running.outbox.records == [(("verified", ("reading", "keys-1")), m.Outcome.AUTHENTIC)]
    phases = [s.phase for s in running.lights.shown]
    assert phases.index(m.Phase.READING) < phases.index(m.Phase.SUCCESS)
    running.until(lambda: running.service.machine.session.phase is m.Phase.IDLE)
    running.stop()
    msgs = systemd.drain()
    assert "READY=1" in msgs
    assert any(x.startswith("STATUS=success") for x in msgs)
    assert msgs[-1].startswith("STOPPING=1")
    assert running.outbox.closed and running.lights.closed


@pytest.mark.parametrize(("error", "failure"), [
    (TagLost("lifted"), m.Failure.CARD_REMOVED),
    (AuthFailed("refused"), m.Failure.WRONG_CARD),
    (ReaderUnavailable("unplugged"), m.Failure.READER_MISSING),
    (ValueError("bug in a stage"), m.Failure.READ_ERROR),
])
def test_read_errors_become_failures(running: Running, error: Exception,
                                     failure: m.Failure) -> None:
    running.chip.error = error
    running.desk.send(m.QrSeen("k", "subject-1"), m.CardPresent("r0"))
    running.until(lambda: any(s.failure is failure for s in running.lights.shown))
    assert running.outbox.records == []


def test_second_card_refused_while_reading(running: Running) -> None:
    running.chip.delay = 0.5
    running.desk.send(m.QrSeen("k", "subject-1"), m.CardPresent("r0"))
    running.until(lambda: running.phase_seen(m.Phase.READING))
    running.desk.send(m.CardPresent("r1"))
    running.until(lambda: running.lights.refusals == 1)
    running.until(lambda: running.phase_seen(m.Phase.SUCCESS))
    assert running.chip.reads == 1 and len(running.outbox.records) == 1


def test_outbox_full_is_a_fault_until_room(running: Running) -> None:
    running.outbox.full = True
    running.desk.send(m.QrSeen("k", "subject-1"), m.CardPresent("r0"))
    running.until(lambda: m.Fault.OUTBOX_FULL in running.service.machine.session.faults)
    running.outbox.full = False
    running.until(lambda: not running.service.machine.session.faults)


def test_a_dead_watch_is_restarted(running: Running) -> None:
    running.until(running.service.ready.is_set)
    running.desk.die = True
    running.until(lambda: running.desk.runs >= 2, timeout=8)
    running.desk.send(m.QrSeen("k", "subject-1"), m.CardPresent("r0"))
    running.until(lambda: running.phase_seen(m.Phase.SUCCESS))


def test_a_silent_watch_is_restarted_and_the_watchdog_stops_meanwhile(systemd: Systemd) -> None:
    r = Running(systemd, watchdog_usec="100000")  # ping every 50 ms while healthy
    try:
        r.until(lambda: "WATCHDOG=1" in systemd.drain())
        r.desk.beating = False  # alive but wedged, like a pyscard monitor blocked in a call
        r.until(lambda: any("degraded" in x for x in systemd.drain()))
        systemd.messages.clear()
        time.sleep(0.3)
        assert "WATCHDOG=1" not in systemd.drain()
        r.desk.beating = True
        r.until(lambda: r.desk.runs >= 2, timeout=8)
        r.until(lambda: "WATCHDOG=1" in systemd.drain())
    finally:
        r.stop()


def test_slow_display_does_not_hold_up_the_reading(systemd: Systemd) -> None:
    r = Running(systemd, lights=Lights(delay=0.3))
    try:
        r.desk.send(m.QrSeen("k", "subject-1"), m.CardPresent("r0"))
        r.until(lambda: len(r.outbox.records) == 1, timeout=3)
        # The record was stored while the display was still catching up (each frame takes
        # 0.3 s); the display then shows every phase, success included.
        assert not r.phase_seen(m.Phase.SUCCESS)
        r.until(lambda: r.phase_seen(m.Phase.SUCCESS))
    finally:
        r.stop()


def test_sigterm_mid_read_finishes_the_reading(systemd: Systemd) -> None:
    r = Running(systemd)
    r.chip.delay = 0.4
    r.desk.send(m.QrSeen("k", "subject-1"), m.CardPresent("r0"))
    r.until(lambda: r.chip.reads == 1)
    r.stop()
    assert len(r.outbox.records) == 1 and r.outbox.closed


def test_notifier_without_systemd_and_abstract_sockets() -> None:
    assert Notifier(environ={}).notify(ready="1") is False
    n = Notifier(environ={"NOTIFY_SOCKET": "@station-test-absent", "WATCHDOG_USEC": "30000000",
                          "WATCHDOG_PID": "1"})
    assert n.watchdog_s is None  # the watchdog is for another process
    assert n.notify(ready="1") is False  # nobody listens: reported, not raised


def test_classify() -> None:
    assert classify(TagLost("x")) is m.ReadFailure.TAG_LOST
    assert classify(AuthFailed("x")) is m.ReadFailure.AUTH_REFUSED
    assert classify(ReaderUnavailable("x")) is m.ReadFailure.READER_GONE
    assert classify(RuntimeError()) is m.ReadFailure.ERROR


class WatchedQueue(queue.Queue[tuple[str, m.Session | None]]):
    """The feedback hand-off queue, recording how its consumer waits."""

    def __init__(self) -> None:
        super().__init__()
        self.gets: list[tuple[bool, float | None]] = []

    def get(self, block: bool = True, timeout: float | None = None
            ) -> tuple[str, m.Session | None]:
        self.gets.append((block, timeout))
        return super().get(block, timeout)


def test_each_state_change_reaches_the_feedback_thread_at_once_and_sets_a_pin() -> None:
    """Feedback within 100 ms, by construction: the transition and its hand-off to the feedback
    thread happen in the same ``handle`` call, and that thread sleeps in a blocking ``get`` (no
    polling period) until it is handed something, then sets the pins (gpiozero's MockFactory)."""
    factory = MockFactory()
    fb = DeskFeedback(Outputs(FeedbackSection(), pin_factory=factory), None, None)
    svc = Service(m.Rules(), watches=[], chip=Chip(), verifier=Trust(), assemble=assemble,
                  store=Outbox(),
                  feedback=fb, notifier=Notifier(environ={}))
    q = WatchedQueue()
    svc._feedback_q = q
    red = factory.pin(FeedbackSection().red_pin)
    thread: threading.Thread | None = None
    try:
        # No feedback thread yet: each item is on the queue when handle() returns.
        svc.machine.handle(m.QrSeen("k", "subject-1"))
        assert [s.phase for _, s in list(q.queue) if s] == [m.Phase.WAITING]
        start = next(e for e in svc.machine.handle(m.CardPresent("r0"))
                     if isinstance(e, m.StartRead))
        assert [s.phase for _, s in list(q.queue) if s][-1] is m.Phase.READING
        svc.machine.handle(m.ReadFailed(start.attempt, m.ReadFailure.TAG_LOST))
        assert [s.phase for _, s in list(q.queue) if s][-1] is m.Phase.FAILED
        assert red.state is False and factory.pin(FeedbackSection().amber_pin).state is False

        thread = threading.Thread(target=svc._feedback_loop)
        thread.start()
        deadline = time.monotonic() + 5
        # The pin is set before Outputs records its indication: wait for both (under load the
        # check could land between the two and fail a correct run).
        while not (red.state is True and q.empty() and fb.outputs is not None
                   and fb.outputs.current is Indication.FAILURE):
            assert time.monotonic() < deadline, "the feedback thread did not light red"
            time.sleep(0.005)

        # Once idle it waits for the next hand-off, without a timeout (not a polling period).
        deadline = time.monotonic() + 5
        while q.gets[-1] != (True, None):
            assert time.monotonic() < deadline
            time.sleep(0.005)
        assert all(timeout is None for block, timeout in q.gets if block)
    finally:
        q.put(("stop", None))
        if thread is not None:
            thread.join(5)
        fb.close()
        factory.reset()


class SlowFrame(Desk):
    """A watch inside a long native call (a decoder with the GIL released) when stop comes:
    it sees the stop event only after its frame."""

    name = "camera"

    def __init__(self) -> None:
        super().__init__()
        self.finished = threading.Event()

    def run(self, post: Post, beat: Callable[[], None], stop: threading.Event) -> None:
        while not stop.is_set():
            beat()
            time.sleep(0.4)  # one slow frame
        self.finished.set()


def test_stop_waits_for_each_watch_to_leave_its_frame(systemd: Systemd) -> None:
    # Returning from run() while a watch is still in a native decoder lets the interpreter
    # finalize under it: the process aborts (exit -6) instead of exiting 0.
    watch = SlowFrame()
    svc = Service(m.Rules(), watches=[watch], chip=Chip(), verifier=Trust(), assemble=assemble,
                  store=Outbox(),
                  feedback=Lights(), notifier=Notifier(environ={}), tick_s=0.02,
                  stop_grace_s=2.0)
    runner = threading.Thread(target=svc.run)
    runner.start()
    assert svc.ready.wait(5)
    time.sleep(0.1)  # inside a frame
    svc.request_stop()
    runner.join(10)
    assert not runner.is_alive()
    assert watch.finished.is_set()  # run() returned only after the watch did
