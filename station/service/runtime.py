"""The service loop: the reading-session machine fed by threads, with systemd supervision.

One thread owns the :class:`~station.service.machine.Machine` (the caller's, in :meth:`Service
.run`); everything else talks to it through a queue of events:

- *watches* (card monitor, QR camera) run on their own threads and are supervised: a watch
  whose thread died or whose heartbeat stopped (pyscard's monitor can die silently; a camera can
  wedge) is restarted with exponential backoff;
- the chip read, the verification and the store each run on a worker thread, so none blocks
  the others or the loop; a read is abandoned by setting its cancel flag;
- feedback (LEDs, then the display) runs on its own thread and always shows the latest state:
  the machine's listener hands each new session to it inside the ``handle`` call that made it,
  and the thread waits in a blocking ``get`` (no polling period), so the LEDs/buzzer change as
  soon as it is scheduled — the "feedback within 100 ms" requirement holds by construction.

systemd: ``READY=1`` once every watch has beaten once, ``WATCHDOG=1`` from the loop only while
it is healthy, ``STATUS=`` on each change, ``STOPPING=1`` on SIGTERM; the notify protocol is a
datagram on ``$NOTIFY_SOCKET`` (sd_notify(3)), no library needed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from station.errors import (
    AuthFailed,
    CardError,
    LdsFormatError,
    OutboxFull,
    ReaderUnavailable,
    StationError,
    TagLost,
)
from station.log import event
from station.service import machine as m
from station.service.ports import Assemble, ChipReader, Feedback, RecordStore, Verifier, Watch
from station.service.readings import Checked

log = logging.getLogger(__name__)


class Notifier:
    """sd_notify(3) over ``$NOTIFY_SOCKET``; silent when not run by systemd."""

    def __init__(self, address: str | None = None, environ: dict[str, str] | None = None
                 ) -> None:
        env = os.environ if environ is None else environ
        self.address = address if address is not None else env.get("NOTIFY_SOCKET", "")
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        mine = not pid or pid == str(os.getpid())
        self.watchdog_s: float | None = int(usec) / 1e6 if usec.isdigit() and mine else None
        self._sock: socket.socket | None = None

    def notify(self, **fields: str) -> bool:
        if not self.address:
            return False
        # An abstract socket is written "@name" in the variable, "\0name" on the wire.
        addr = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        msg = "\n".join(f"{k.upper()}={v}" for k, v in fields.items()).encode()
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(msg, addr)
        except OSError as exc:
            event(log, "notify.failed", logging.WARNING, errno=exc.errno)
            return False
        return True

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()


@dataclass
class _Supervised:
    watch: Watch
    thread: threading.Thread | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    last_beat: float = 0.0
    beats: int = 0
    restarts: int = 0
    """restarts since the watch last stayed healthy for ``backoff_reset_s``"""
    next_start: float = 0.0
    started: float = 0.0
    delays: list[float] = field(default_factory=list)
    """every backoff delay chosen for this watch, in order (the supervisor's record)"""


BACKOFF_MAX_S = 30.0
"""The longest wait before restarting a dead watch: a camera unplugged all day is retried twice
a minute, not hammered."""


def backoff_delay(restarts: int) -> float:
    """Seconds to wait before restarting a watch that already restarted ``restarts`` times
    without staying healthy: 1, 2, 4, 8, 16, then 30."""
    return min(BACKOFF_MAX_S, 2.0 ** min(restarts, 5))


def classify(exc: BaseException) -> m.ReadFailure:
    """How a typed card error ends a read attempt (the machine decides what it means)."""
    if isinstance(exc, TagLost):
        return m.ReadFailure.TAG_LOST
    if isinstance(exc, AuthFailed):
        return m.ReadFailure.AUTH_REFUSED
    if isinstance(exc, ReaderUnavailable):
        return m.ReadFailure.READER_GONE
    return m.ReadFailure.ERROR


class Service:
    """Wire a :class:`~station.service.machine.Machine` to its watches, workers and feedback."""

    def __init__(self, rules: m.Rules, *, watches: list[Watch], chip: ChipReader,
                 verifier: Verifier, assemble: Assemble, store: RecordStore,
                 feedback: Feedback,
                 notifier: Notifier | None = None, clock: Callable[[], float] = time.monotonic,
                 tick_s: float = 0.1, beat_timeout_s: float = 5.0, stop_grace_s: float = 5.0,
                 backoff_reset_s: float = 60.0,
                 initial: Callable[[Checked], str | None] | None = None) -> None:
        self.machine = m.Machine(rules, clock)
        self.clock = clock
        self.chip, self.verifier, self.store, self.feedback = chip, verifier, store, feedback
        self.assemble = assemble
        """verified reading + outcome → the finished record reading the store signs"""
        self.notifier = notifier or Notifier()
        self.tick_s = tick_s
        self.initial = initial
        """verified reading → the first-name initial for the success screen (None: not shown)"""
        self.beat_timeout_s = beat_timeout_s
        self.stop_grace_s = stop_grace_s
        self.backoff_reset_s = backoff_reset_s
        """a restarted watch healthy this long starts its backoff again from 1 s"""
        self.events: queue.Queue[m.Event] = queue.Queue()
        self.stopping = threading.Event()
        self.ready = threading.Event()
        self._watches = [_Supervised(w) for w in watches]
        self._cancel: dict[int, threading.Event] = {}
        self._jobs: dict[str, queue.Queue[Callable[[], None] | None]] = {}
        self._busy_since: dict[str, float] = {}
        self._workers: list[threading.Thread] = []
        self._feedback_q: queue.Queue[tuple[str, m.Session | None]] = queue.Queue()
        self._status = ""
        self.machine.listeners.append(self._on_change)

    # -- posting -----------------------------------------------------------------------------

    def post(self, ev: m.Event) -> None:
        """Thread-safe: how watches and workers speak to the machine."""
        self.events.put(ev)

    def request_stop(self, *_: Any) -> None:
        self.stopping.set()

    # -- workers -----------------------------------------------------------------------------

    def _start_worker(self, name: str) -> None:
        jobs: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._jobs[name] = jobs

        def loop() -> None:
            while (job := jobs.get()) is not None:
                self._busy_since[name] = self.clock()
                try:
                    job()
                except Exception as exc:  # a worker must never die: report and go on
                    event(log, "worker.crashed", logging.ERROR, worker=name,
                          exc=type(exc).__name__)
                finally:
                    self._busy_since.pop(name, None)

        t = threading.Thread(target=loop, name=f"station-{name}", daemon=True)
        t.start()
        self._workers.append(t)

    def _read(self, eff: m.StartRead) -> None:
        cancel = self._cancel[eff.attempt]
        if cancel.is_set():
            return
        try:
            result, subject = self.chip.read(
                eff.slot, eff.keys, lambda f: self.post(m.ReadProgress(eff.attempt, f)), cancel)
        except (CardError, LdsFormatError) as exc:
            event(log, "read.failed", attempt=eff.attempt, error=type(exc).__name__)
            self.post(m.ReadFailed(eff.attempt, classify(exc)))
        except Exception as exc:
            event(log, "read.crashed", logging.ERROR, attempt=eff.attempt,
                  error=type(exc).__name__)
            self.post(m.ReadFailed(eff.attempt, m.ReadFailure.ERROR))
        else:
            self.post(m.ReadDone(eff.attempt, result, subject))
        finally:
            self._cancel.pop(eff.attempt, None)

    def _verify(self, eff: m.Verify) -> None:
        try:
            outcome, verified = self.verifier.verify(eff.result)
        except Exception as exc:
            event(log, "verify.failed", logging.ERROR, error=type(exc).__name__)
            self.post(m.VerifyFailed(eff.attempt))
        else:
            event(log, "verify.done", outcome=outcome.name.lower())
            self.post(m.Verified(eff.attempt, outcome, verified))

    def _store(self, eff: m.Store) -> None:
        try:
            record_id = self.store.store(self.assemble(eff.result, eff.outcome))
        except OutboxFull:
            event(log, "store.full", logging.WARNING)
            self.post(m.StoreFailed(eff.attempt, full=True))
        except Exception as exc:
            event(log, "store.failed", logging.ERROR, error=type(exc).__name__)
            self.post(m.StoreFailed(eff.attempt, full=False))
        else:
            event(log, "store.done", record_id=record_id)
            initial = None
            if self.initial is not None:
                try:
                    initial = self.initial(eff.result)
                except Exception:  # a greeting is not worth failing a stored record for
                    initial = None
            self.post(m.Stored(eff.attempt, initial))

    def _perform(self, eff: m.Effect) -> None:
        match eff:
            case m.StartRead():
                self._cancel[eff.attempt] = threading.Event()
                self._jobs["read"].put(lambda: self._read(eff))
            case m.AbortRead():
                cancel = self._cancel.get(eff.attempt)
                if cancel is not None:
                    cancel.set()
            case m.Verify():
                self._jobs["verify"].put(lambda: self._verify(eff))
            case m.Store():
                self._jobs["store"].put(lambda: self._store(eff))
            case m.Refuse():
                self._feedback_q.put(("refused", None))

    # -- feedback ----------------------------------------------------------------------------

    def _on_change(self, before: m.Session, after: m.Session) -> None:
        self._feedback_q.put(("show", after))
        if before.phase is not after.phase:
            event(log, "session.phase", phase=after.phase.value,
                  failure=after.failure.value if after.failure else "")

    def _feedback_loop(self) -> None:
        while True:
            batch = [self._feedback_q.get()]
            with contextlib.suppress(queue.Empty):
                while True:
                    batch.append(self._feedback_q.get_nowait())
            # A slow display catches up by skipping superseded progress updates, never a phase:
            # a person must see "success" or "failure" even if the next state came quickly.
            todo: list[tuple[str, m.Session | None]] = []
            for kind, session in batch:
                prev = todo[-1] if todo else None
                if (kind == "show" and prev is not None and prev[0] == "show"
                        and prev[1] is not None and session is not None
                        and prev[1].phase is session.phase):
                    todo[-1] = (kind, session)
                else:
                    todo.append((kind, session))
            for kind, session in todo:
                if kind == "stop":
                    return
                try:
                    if kind == "refused":
                        self.feedback.refused()
                    elif session is not None:
                        self.feedback.show(session)
                except Exception as exc:  # a broken display must not stop the desk
                    event(log, "feedback.failed", logging.WARNING, error=type(exc).__name__)

    # -- watches -----------------------------------------------------------------------------

    def _start_watch(self, sv: _Supervised) -> None:
        sv.stop = threading.Event()
        sv.last_beat = sv.started = self.clock()

        def beat() -> None:
            sv.last_beat = self.clock()
            sv.beats += 1

        def run() -> None:
            try:
                sv.watch.run(self.post, beat, sv.stop)
            except Exception as exc:
                event(log, "watch.crashed", logging.ERROR, watch=sv.watch.name,
                      error=type(exc).__name__)

        sv.thread = threading.Thread(target=run, name=f"station-watch-{sv.watch.name}",
                                     daemon=True)
        sv.thread.start()

    def _supervise(self, now: float) -> bool:
        """Start watches not yet started, restart dead or silent ones with exponential backoff
        (:func:`backoff_delay`); True when every watch is alive and beating."""
        healthy = True
        for sv in self._watches:
            if sv.thread is None:
                self._start_watch(sv)
                healthy = False
                continue
            alive = sv.thread.is_alive()
            silent = now - sv.last_beat > self.beat_timeout_s
            if alive and not silent:
                # A camera that fails once a day must not inherit yesterday's 30 s backoff.
                if sv.restarts and now - sv.started >= self.backoff_reset_s:
                    sv.restarts = 0
                continue
            healthy = False
            if sv.next_start == 0.0:
                sv.stop.set()  # a silent thread may wake up later: tell it to go away
                delay = backoff_delay(sv.restarts)
                sv.delays.append(delay)
                sv.next_start = now + delay
                event(log, "watch.dead", logging.WARNING, watch=sv.watch.name,
                      silent=silent, restart_in_s=delay)
            if now >= sv.next_start:
                sv.restarts += 1
                sv.next_start = 0.0
                self._start_watch(sv)
        return healthy

    def _workers_healthy(self, now: float) -> bool:
        r = self.machine.rules
        limit = 2 * max(r.read_timeout_s, r.verify_timeout_s, r.store_timeout_s)
        return all(now - t < limit for t in list(self._busy_since.values()))

    # -- the loop ----------------------------------------------------------------------------

    def _set_status(self, healthy: bool) -> None:
        s = self.machine.session
        faults = ",".join(sorted(f.value for f in s.faults)) or "none"
        status = f"{s.phase.value}; faults: {faults}" + ("" if healthy else "; degraded")
        if status != self._status:
            self._status = status
            self.notifier.notify(status=status)

    def run(self) -> int:
        """Run until :meth:`request_stop` (SIGTERM); returns the exit code."""
        for name in ("read", "verify", "store"):
            self._start_worker(name)
        fb = threading.Thread(target=self._feedback_loop, name="station-feedback", daemon=True)
        fb.start()
        self._supervise(self.clock())  # starts every watch
        self._feedback_q.put(("show", self.machine.session))
        last_ping = 0.0
        try:
            while not self.stopping.is_set():
                try:
                    ev: m.Event = self.events.get(timeout=self.tick_s)
                except queue.Empty:
                    ev = m.Tick()
                for eff in self.machine.handle(ev):
                    self._perform(eff)
                now = self.clock()
                healthy = self._supervise(now) and self._workers_healthy(now)
                if m.Fault.OUTBOX_FULL in self.machine.session.faults and self.store.has_room():
                    self.post(m.OutboxRoom())
                if not self.ready.is_set() and all(sv.beats for sv in self._watches):
                    self.ready.set()
                    self.notifier.notify(ready="1")
                    event(log, "service.ready")
                self._set_status(healthy)
                wd = self.notifier.watchdog_s
                if healthy and wd is not None and now - last_ping >= wd / 2:
                    self.notifier.notify(watchdog="1")
                    last_ping = now
        finally:
            self._shutdown()
        return 0

    def _shutdown(self) -> None:
        self.notifier.notify(stopping="1", status="stopping")
        event(log, "service.stopping", phase=self.machine.session.phase.value)
        # Let a reading in progress finish (its record committed) within the grace period;
        # otherwise abort it — a half-read card is simply not recorded.
        deadline = self.clock() + self.stop_grace_s
        while self.machine.session.busy and self.clock() < deadline:
            try:
                ev = self.events.get(timeout=self.tick_s)
            except queue.Empty:
                ev = m.Tick()
            for eff in self.machine.handle(ev):
                if not isinstance(eff, m.StartRead):
                    self._perform(eff)
        for cancel in list(self._cancel.values()):
            cancel.set()
        for sv in self._watches:
            sv.stop.set()
        for jobs in self._jobs.values():
            jobs.put(None)
        for t in self._workers:
            t.join(timeout=self.stop_grace_s)
        # A watch may be inside a native decoder (zxing-cpp, Tesseract) with the GIL released:
        # if the interpreter finalizes then, that thread is unwound through C++ and the process
        # aborts ("terminate called without an active exception", exit -6) instead of exiting.
        # Wait for each to see its stop event (one frame) within the grace period.
        deadline = self.clock() + self.stop_grace_s
        for sv in self._watches:
            if sv.thread is not None:
                sv.thread.join(timeout=max(0.0, deadline - self.clock()))
                if sv.thread.is_alive():
                    event(log, "watch.stuck", logging.WARNING, watch=sv.watch.name)
        self._feedback_q.put(("stop", None))
        for closer in (self.store.close, self.feedback.close):
            try:
                closer()
            except StationError as exc:
                event(log, "service.close_failed", logging.ERROR, error=type(exc).__name__)
        self.notifier.close()
        event(log, "service.stopped")


def install_signal_handlers(service: Service) -> None:
    """SIGTERM (systemd stop) and SIGINT end the loop cleanly."""
    signal.signal(signal.SIGTERM, service.request_stop)
    signal.signal(signal.SIGINT, service.request_stop)
