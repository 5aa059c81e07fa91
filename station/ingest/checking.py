"""Where a worker's messages are checked: off paho's network thread, in threads or processes.

Every message becomes a :class:`Slot` in arrival order; a pool fills in its outcome (the
:class:`~station.ingest.verification.Verifier`'s :data:`Checked`) while the network thread
goes on reading, and the flush takes the slots in order, waiting for one still being checked.

- :class:`VerifyThreads`: threads of this process. The Ed25519 check runs without Python's
  GIL, the rest of a check does not (base64, JSON, the record's fields, the HPKE open), so
  past about one core a worker is held by the GIL its network thread and store also need.
- :class:`VerifyProcesses`: child processes, each with its own interpreter: the whole check
  leaves this one, for a pipe round trip per batch of up to :data:`PROCESS_BATCH` messages.
  On a drain of 5 000 queued records from 500 desks (the fleet's setting, one worker, the
  machine's other core busy) it stored 1.6-2x as many records per second as two threads.

The checks are pure functions of (topic, token), so a child that died is started again and
its batch checked once more: a repeat changes nothing.
"""

from __future__ import annotations

import contextlib
import copyreg
import io
import logging
import os
import pickle
import queue
import signal
import threading
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

from station.ingest.verification import Refused, Verified, Verifier
from station.log import event

log = logging.getLogger(__name__)

Checked = Verified | Refused

PROCESS_BATCH = 64
"""Messages per request to a verify process at most."""
_RESTARTS_PER_BATCH = 2
"""A batch whose child dies this often in a row is refused (``internal:verifier``), typed and
logged, rather than retried for ever: the stations keep those records and re-send them."""


def check_guarded(verifier: Verifier, topic: str, token: bytes) -> Checked:
    """``verifier.check``, with a surprise (a bug, not a bad message: those are refusals of
    their own) refused as ``internal:<exception type>``: one message never stops a worker."""
    try:
        return verifier.check(topic, token)
    except Exception as exc:
        return Refused(f"internal:{type(exc).__name__}")


def default_verify_threads() -> int:
    """One checker per core this process may run on (at most 4: past that the network
    thread's own Python work is the limit). Several workers on one machine should share the
    cores between them (``station ingest --verify-threads`` / ``--verify-processes``)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


class Slot:
    """One message in arrival order; ``checked`` is filled in by a pool (or at once)."""

    __slots__ = ("checked", "token", "topic")

    def __init__(self, topic: str, token: bytes, checked: Checked | None = None) -> None:
        self.topic = topic
        self.token = token
        self.checked = checked


class VerifyThreads:
    """Threads taking slots from one queue and filling in their outcome: a C queue and a
    plain attribute, so the network thread pays a microsecond a message (a
    ``concurrent.futures`` future with its condition variable cost it about 30)."""

    def __init__(self, n: int, check: Callable[[str, bytes], Checked]) -> None:
        self._queue: queue.SimpleQueue[Slot | None] = queue.SimpleQueue()
        self._check = check
        self._threads = [threading.Thread(target=self._run, name=f"ingest-verify-{i}",
                                          daemon=True) for i in range(n)]
        for t in self._threads:
            t.start()

    def submit(self, slot: Slot) -> None:
        self._queue.put(slot)

    @staticmethod
    def wait(slot: Slot) -> Checked:
        """The slot's outcome, once a thread has filled it in (a check takes a fraction of a
        millisecond: polled, so the threads never pay for a notification)."""
        while (checked := slot.checked) is None:
            time.sleep(0.0002)
        return checked

    def _run(self) -> None:
        while (slot := self._queue.get()) is not None:
            slot.checked = self._check(slot.topic, slot.token)

    def close(self) -> None:
        """Check what was submitted, then end the threads."""
        for _ in self._threads:
            self._queue.put(None)
        for t in self._threads:
            t.join()


class VerifyProcesses:
    """``n`` child processes, each fed by a thread of this one: the feeder takes up to
    :data:`PROCESS_BATCH` queued slots, sends them in one message over the child's pipe and
    waits for the answers without holding the GIL.

    Children are started with ``spawn`` (never a fork of this threaded process) and get the
    station keys and the backend key as raw bytes over that pipe. They ignore SIGINT and
    SIGTERM (the terminal's Ctrl-C and systemd's stop reach the whole group: the worker
    ends them after its last batch) and end when their pipe closes, so a worker killed with
    SIGKILL leaves none behind."""

    def __init__(self, n: int, verifier: Verifier) -> None:
        import multiprocessing

        self._ctx = multiprocessing.get_context("spawn")
        self._keys = _raw_keys(verifier)
        self._queue: queue.SimpleQueue[Slot | None] = queue.SimpleQueue()
        self.restarts = 0
        """Children started again after one died (each logged as ``ingest.verifier_died``)."""
        self._children: list[Any] = []
        """The live child processes (:meth:`children`)."""
        self._lock = threading.Lock()
        self._answered = threading.Condition()
        self._threads = [threading.Thread(target=self._feed, name=f"ingest-verify-{i}",
                                          daemon=True) for i in range(n)]
        for t in self._threads:
            t.start()

    def submit(self, slot: Slot) -> None:
        self._queue.put(slot)

    def wait(self, slot: Slot) -> Checked:
        """The slot's outcome, once its batch's answer arrived: a batch is a pipe round trip
        of several milliseconds, so the flush sleeps on a condition the feeders notify, rather
        than polling."""
        with self._answered:
            while (checked := slot.checked) is None:
                self._answered.wait(0.05)
        return checked

    def children(self) -> list[int]:
        """Process ids of the live children."""
        with self._lock:
            return [p.pid for p in self._children if p.is_alive()]

    def _spawn(self) -> tuple[Any, Any]:
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(target=_child_main, args=(child, *self._keys),
                                 name="station-ingest-verify", daemon=True)
        proc.start()
        child.close()
        with self._lock:
            self._children.append(proc)
        return proc, parent

    def _try_spawn(self, batch: int) -> tuple[Any, Any] | None:
        try:
            return self._spawn()
        except OSError as exc:  # no process to be had (limits, memory): the caller refuses
            event(log, "ingest.verifier_unavailable", logging.ERROR,
                  reason=type(exc).__name__, batch=batch)
            return None

    def _retire(self, proc: Any, conn: Any) -> None:
        conn.close()
        proc.join(timeout=5)
        with self._lock:
            self._children.remove(proc)

    def _take(self, first: Slot) -> tuple[list[Slot], bool]:
        """``first`` and whatever else is queued, up to a batch; True when the end was met."""
        batch = [first]
        while len(batch) < PROCESS_BATCH:
            try:
                more = self._queue.get_nowait()
            except queue.Empty:
                break
            if more is None:
                return batch, True
            batch.append(more)
        return batch, False

    def _feed(self) -> None:
        child = self._try_spawn(0)  # ready before the first message, not at it
        try:
            end = False
            while not end and (first := self._queue.get()) is not None:
                batch, end = self._take(first)
                answers, child = self._ask(child, batch)
                for slot, checked in zip(batch, answers, strict=True):
                    slot.checked = checked
                with self._answered:
                    self._answered.notify_all()
        finally:
            if child is not None:
                self._retire(*child)

    def _ask(self, child: tuple[Any, Any] | None,
             batch: list[Slot]) -> tuple[list[Checked], tuple[Any, Any] | None]:
        """The batch's outcomes from ``child`` (started first when None), and the child to
        ask next time. Every slot gets an outcome: a child that cannot be started or keeps
        dying refuses the batch, typed, instead of leaving the flush waiting for ever."""
        request = pickle.dumps([(s.topic, s.token) for s in batch], protocol=5)
        for _ in range(_RESTARTS_PER_BATCH):
            if child is None and (child := self._try_spawn(len(batch))) is None:
                break
            proc, conn = child
            try:
                conn.send_bytes(request)
                answers: list[Checked] = pickle.loads(conn.recv_bytes())
            except (EOFError, OSError):
                self._retire(proc, conn)
                child = None
                self.restarts += 1
                event(log, "ingest.verifier_died", logging.ERROR, exitcode=proc.exitcode,
                      batch=len(batch))
                continue
            if len(answers) == len(batch):
                return answers, child
            break
        return [Refused("internal:verifier")] * len(batch), child

    def close(self) -> None:
        """Check what was submitted, then end the feeders and their children."""
        for _ in self._threads:
            self._queue.put(None)
        for t in self._threads:
            t.join()


def _raw_keys(verifier: Verifier) -> tuple[dict[str, bytes], bytes | None, frozenset[str]]:
    raw = serialization.Encoding.Raw
    stations = {sid: k.public_bytes(raw, serialization.PublicFormat.Raw)
                for sid, k in verifier.stations.items()}
    backend = None if verifier.backend_key is None else verifier.backend_key.private_bytes(
        raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    return stations, backend, verifier.revoked


def _read_only(d: dict[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(d)


def _reduce_read_only(m: MappingProxyType[str, Any]) -> tuple[Any, tuple[dict[str, Any]]]:
    return _read_only, (dict(m),)


def _child_main(conn: Any, stations: dict[str, bytes], backend: bytes | None,
                revoked: frozenset[str]) -> None:
    """A verify process: batches of (topic, token) in, their outcomes out, until the pipe
    closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    verifier = Verifier(
        {sid: ed25519.Ed25519PublicKey.from_public_bytes(k) for sid, k in stations.items()},
        None if backend is None else x25519.X25519PrivateKey.from_private_bytes(backend),
        revoked)
    # The outcomes hold read-only mappings (a record's context, the opened fields), which
    # pickle does not know: sent as dicts, read-only again on arrival.
    table = copyreg.dispatch_table.copy()
    table[MappingProxyType] = _reduce_read_only
    with contextlib.suppress(EOFError, OSError):
        while True:
            answers = [check_guarded(verifier, topic, token)
                       for topic, token in pickle.loads(conn.recv_bytes())]
            buf = io.BytesIO()
            pickler = pickle.Pickler(buf, protocol=5)
            pickler.dispatch_table = table
            try:
                pickler.dump(answers)
            except Exception as exc:  # an outcome that cannot be sent: the batch refused, typed
                buf = io.BytesIO()
                pickle.dump([Refused(f"internal:{type(exc).__name__}")] * len(answers), buf)
            conn.send_bytes(buf.getbuffer())
