"""The MQTT side of ingest: subscribe, check, batch, commit, receipt.

For every message paho's network thread hands the bytes to a pool
(:mod:`station.ingest.checking`: threads, or child processes with ``verify_processes``), where
:class:`~station.ingest.verification.Verifier` decides whether the record is acceptable (the
CPU-heavy part: the Ed25519 check, which the ``cryptography`` package runs without Python's
GIL, and the unsealing, whose HPKE open holds it), so checking keeps more than one core busy
while the network thread goes on reading; each message is queued in arrival order. The
flush thread hands the queued batch to the store in one call
(:meth:`~station.ingest.store.IngestStore.add_many`: one round trip to PostgreSQL, not one per
record), which says of each record whether it is new, a QoS 1 duplicate or a replay, so the
next batch is verified while this one is written.
:meth:`Ingest.flush` commits the batch (one commit per :data:`RECEIPT_BATCH` records or
:data:`FLUSH_INTERVAL_S`, not one fsync per record) and only once the commit returned — never
before — publishes a **receipt** ``{"ids": [record ids]}`` on ``stations/{station}/receipts``
(QoS 1), one per station and batch — or, while a backlog is written, one per station for
several consecutive batches (:data:`RECEIPT_COALESCE`) — for new records and QoS 1
duplicates alike (the station may have missed the first receipt). The station deletes its
copy of the citizen data only on that receipt.

The broker's PUBACK (paho sends it when the callback returns) therefore does not mean
"stored": a crash between it and the commit loses nothing, because the station still holds the
record and re-sends it when no receipt comes within its timeout. Rejected records get no
receipt: the station keeps them and its TTL alarm shows them. Rejections are stored too (topic,
reason, time; never the payload) for the operator.

Reconnects use a short capped backoff with full jitter (at most :data:`RECONNECT_MAX_S`) rather
than paho's default (up to 120 s): while ingest is away the broker only queues up to its limit.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

from station import topics
from station.ingest.checking import (
    Checked,
    Slot,
    VerifyProcesses,
    VerifyThreads,
    check_guarded,
    default_verify_threads,
)
from station.ingest.store import Added, IngestStore, IngestStoreError, open_token
from station.ingest.stores import open_store
from station.ingest.verification import Refused, Verified, Verifier
from station.log import event
from station.pipeline.mqtt import BrokerSettings, make_client
from station.pipeline.records import Record

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 24 * 3600
RECEIPT_BATCH = 200
"""Records per commit and per receipt at most."""
FLUSH_INTERVAL_S = 0.02
"""A batch is committed and receipted at the latest this long after it started."""
RECEIPT_COALESCE = 1000
"""While a backlog is written (more queued after a commit), the receipts of consecutive
committed batches are held and merged, one message per station, for up to this many records
or :data:`RECEIPT_HOLD_S`: a drain of a few records per desk from hundreds of desks otherwise
sends nearly one receipt, and takes one PUBACK, per record."""
RECEIPT_HOLD_S = 0.25
RECONNECT_MAX_S = 5.0
PURGE_INTERVAL_S = 60.0


@dataclass(frozen=True)
class Received:
    record: Record
    duplicate: bool
    citizen: Mapping[str, Any] | None
    """The opened citizen fields; None when this instance has no backend key."""
    dg_hashes: Mapping[str, str] | None = None
    """The sealed SHA-256 of each file read ("DG1", "SOD", …); None without the backend key."""


OnRecord = Callable[[Received], None]


class Ingest:
    def __init__(
        self,
        db: Path | str | IngestStore,
        settings: BrokerSettings,
        *,
        stations: Mapping[str, ed25519.Ed25519PublicKey],
        backend_key: x25519.X25519PrivateKey | None = None,
        client_id: str = "ingest",
        on_record: OnRecord | None = None,
        retention_s: float | None = None,
        webhook: bool = False,
        revoked: frozenset[str] = frozenset(),
        verify_threads: int | None = None,
        verify_processes: int = 0,
        on_batch: Callable[[], None] | None = None,
    ) -> None:
        """``db``: a SQLite path, a ``postgresql://`` DSN or an open store. ``retention_s``:
        citizen data older than this is deleted (the audit row stays), checked every
        :data:`PURGE_INTERVAL_S` while started; None keeps it. ``revoked``: station ids whose
        records are refused (``revoked_station``). ``client_id``: the broker replaces it with
        the certificate's CN (``use_username_as_clientid``), so give it that CN. ``webhook``: queue
        each new record for :class:`~station.ingest.webhook.WebhookDeliverer` in its own
        transaction. ``verify_threads``: threads checking messages off the network thread
        (default :func:`~station.ingest.checking.default_verify_threads`; 0 checks on the
        network thread itself). ``verify_processes``: when > 0, that many child processes
        check instead of threads (:class:`~station.ingest.checking.VerifyProcesses`).
        ``on_batch``: called once after a committed batch's ``on_record`` calls, before its
        receipts (the CLI flushes its output there: one write per batch, not per record)."""
        self.store: IngestStore = open_store(db) if isinstance(db, (str, Path)) else db
        self.verifier = Verifier(stations, backend_key, revoked)
        self._lock = threading.Lock()
        """Guards the store and the open batch."""
        self._flush_lock = threading.RLock()
        """One flush at a time, so receipts leave in commit order (re-entrant: an
        ``on_record`` callback may read counts)."""
        self._queue_lock = threading.Lock()
        """Guards :attr:`_queued` only, so the network thread never waits for the database."""
        self._queued: deque[Slot] = deque()
        """Messages in arrival order (topic, outcome — being checked or checked) not yet handed
        to the store."""
        self.verify_threads = default_verify_threads() if verify_threads is None \
            else max(0, verify_threads)
        self.verify_processes = max(0, verify_processes)
        self._pool: VerifyThreads | VerifyProcesses | None = None
        """The verify threads or processes while started (None: check on the calling
        thread)."""
        self._batch: list[Received] = []
        """Accepted in the open transaction: committed, then receipted, by :meth:`flush`."""
        self._wake = threading.Event()
        """Set when a full batch is queued: the flush thread writes it at once."""
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        self._attempt = 0
        self._last_receipt: Any = None
        self.settings = settings
        self.on_record = on_record
        self.on_batch = on_batch
        self.retention_s = retention_s
        self.webhook = webhook
        self._purged_at = 0.0
        self.batches_lost = 0
        """Batches rolled back by a store error: their records were not receipted, their
        stations re-send them."""
        self.duplicates = 0
        self.stored = 0
        """New records this instance committed (duplicates not counted)."""
        self.rejections: dict[str, int] = {}
        self.client_id = client_id
        self._batch_since = 0.0
        """When the open batch got its first record (monotonic)."""
        self._last_commit = 0.0
        self._last_delay_s: float | None = None
        self._client = make_client(client_id, settings)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._backoff()
        self._subscribed = threading.Event()
        self._client.on_subscribe = lambda *a: self._subscribed.set()

    @property
    def rejected(self) -> int:
        return sum(self.rejections.values())

    def _backoff(self) -> None:
        # Full jitter in [0.1, min(RECONNECT_MAX_S, 0.25·2^n)]: back within seconds of the
        # broker, without every instance arriving at once.
        cap = min(RECONNECT_MAX_S, 0.25 * 2 ** min(self._attempt, 8))
        delay = random.uniform(0.1, max(0.1, cap))
        self._client.reconnect_delay_set(delay, delay)
        self._attempt += 1

    def _on_connect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if rc.is_failure:
            self._backoff()
            return
        self._attempt = 0
        self._backoff()
        if flags.session_present:
            # The broker kept this identity's session, subscription included, and may be
            # sending what it queued meanwhile ahead of the SUBACK: already subscribed.
            self._subscribed.set()
        client.subscribe(topics.SHARED_RECORDS, qos=1)

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        self._backoff()
        if rc.is_failure:  # not our own stop()
            event(log, "ingest.disconnected", logging.WARNING, reason=str(rc))

    def _lose_batch(self, exc: IngestStoreError, writing: int) -> None:
        # The store rolled the whole open transaction back: nothing of this batch (nor the
        # ``writing`` records being added to it) may be receipted (the caller holds self._lock).
        lost, self._batch = self._batch, []
        self.batches_lost += 1
        event(log, "ingest.batch_lost", logging.ERROR, reason=str(exc),
              records=len(lost) + writing)

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        # Runs on paho's network thread; for QoS 1 paho sends the PUBACK after it returns —
        # before the batch's commit, which is why the station waits for the receipt.
        pool = self._pool
        slot = Slot(msg.topic, bytes(msg.payload))
        if pool is None:
            slot.checked = self._check(slot.topic, slot.token)
        with self._queue_lock:
            if not self._queued and not self._batch:
                self._batch_since = time.monotonic()
            self._queued.append(slot)
            queued = len(self._queued)
        if pool is not None:
            pool.submit(slot)
        if queued >= RECEIPT_BATCH:
            self._wake.set()
        if queued >= 4 * RECEIPT_BATCH:
            # The flush thread is behind (a slow database): write here, so this thread stops
            # reading and the broker holds further records at its in-flight window.
            self.flush()

    def _check(self, topic: str, token: bytes) -> Checked:
        return check_guarded(self.verifier, topic, token)  # the verifier in use now

    def _write_queued(self) -> list[Received | None]:
        """Hand what is queued (at most :data:`RECEIPT_BATCH`) to the store's open transaction
        in one :meth:`~IngestStore.add_many`; the caller holds ``_flush_lock`` and
        ``_lock``. Returns each message's outcome in order (None: rejected)."""
        with self._queue_lock:
            taken = [self._queued.popleft() for _ in range(min(RECEIPT_BATCH, len(self._queued)))]
        if not taken:
            return []
        queued: list[tuple[str, Checked]] = []
        pool = self._pool
        for slot in taken:  # in arrival order; one still being checked is waited for
            if (checked := slot.checked) is None:
                assert pool is not None  # without a pool a slot is checked when queued
                checked = pool.wait(slot)
            queued.append((slot.topic, checked))
        verified = [c for _, c in queued if isinstance(c, Verified)]
        try:
            added = iter(self.store.add_many(verified))
            outcomes: list[Received | None] = []
            rejected: list[tuple[str, str]] = []
            for topic, checked in queued:
                if isinstance(checked, Refused):
                    rejected.append((topic, checked.reason))
                    outcomes.append(None)
                    continue
                a = next(added)
                if a is Added.REPLAY:
                    rejected.append((topic, "replay"))
                    outcomes.append(None)
                    continue
                if a is Added.NEW and self.webhook:
                    self.store.enqueue_webhook(checked.record.record_id, time.time())
                received = Received(checked.record, a is Added.DUPLICATE, checked.citizen,
                                    checked.dg_hashes)
                self._batch.append(received)
                outcomes.append(received)
            for topic, reason in rejected:  # rare: one statement each
                self.store.reject(topic, reason)
        except IngestStoreError as exc:
            self._lose_batch(exc, len(queued))
            return [None] * len(queued)
        for topic, reason in rejected:
            self.rejections[reason] = self.rejections.get(reason, 0) + 1
            event(log, "ingest.rejected", logging.WARNING, topic=topic, reason=reason)
        self.duplicates += sum(1 for r in outcomes if r is not None and r.duplicate)
        return outcomes

    def accept(self, topic: str, token: bytes) -> Received | None:
        """Check one message and write it into the open transaction now (with whatever the
        network thread queued before it); returns what was accepted, None when rejected. It
        is committed and receipted by :meth:`flush` (at the latest :data:`FLUSH_INTERVAL_S`
        later while started). For callers that need each message's outcome at once; the MQTT
        path queues and writes whole batches."""
        slot = Slot(topic, token, self._check(topic, token))
        with self._flush_lock, self._lock:
            with self._queue_lock:
                if not self._queued and not self._batch:
                    self._batch_since = time.monotonic()
                self._queued.append(slot)
                ours = len(self._queued) - 1
            written: list[Received | None] = []
            while len(written) <= ours:  # in batches of RECEIPT_BATCH, up to and with ours
                written += self._write_queued()
        return written[ours]

    def flush(self) -> None:
        """Write what is queued, commit the open batch, hand its records to ``on_record``,
        then receipt them (one message per station); repeated while more is queued. A failed
        write or commit rolls the batch back: no receipt, so the stations keep those records
        and re-send them. While more is queued after a commit, receipts of consecutive
        batches are merged (:data:`RECEIPT_COALESCE`); none is held past the return."""
        with self._flush_lock:
            held: dict[str, list[str]] = {}
            count, since = 0, time.monotonic()
            while True:
                count += self._flush_once(held)
                with self._queue_lock:
                    backlog = bool(self._queued)
                if (not backlog or count >= RECEIPT_COALESCE
                        or time.monotonic() - since >= RECEIPT_HOLD_S):
                    for station_id, ids in held.items():
                        self._last_receipt = self._client.publish(
                            topics.RECEIPTS.of(station_id), json.dumps({"ids": ids}).encode(),
                            qos=1)
                    held, count, since = {}, 0, time.monotonic()
                if not backlog:
                    return

    def _flush_once(self, receipts: dict[str, list[str]]) -> int:
        """One batch written and committed; its record ids added to ``receipts`` by station.
        Returns how many were added. The caller (:meth:`flush`) holds ``_flush_lock``."""
        with self._lock:
            self._write_queued()
            batch, self._batch = self._batch, []
            try:
                self.store.commit()
            except IngestStoreError as exc:
                self.batches_lost += 1
                event(log, "ingest.commit_failed", logging.ERROR, reason=str(exc),
                      records=len(batch))
                return 0
            if batch:
                self._last_commit = time.monotonic()
                self.stored += sum(1 for r in batch if not r.duplicate)
                self._last_delay_s = _delay_s(batch[-1].record.wall)
        for r in batch:  # committed: tell the consumer before the station hears of it
            rec = r.record
            if r.duplicate:
                event(log, "ingest.duplicate", station=rec.station_id, seq=rec.seq)
            else:
                event(log, "ingest.received", station=rec.station_id, seq=rec.seq,
                      outcome=rec.outcome)
            if self.on_record is not None:
                try:
                    self.on_record(r)
                except Exception as exc:  # a consumer's bug must not withhold receipts
                    event(log, "ingest.on_record_failed", logging.ERROR,
                          reason=type(exc).__name__)
        if batch and self.on_batch is not None:
            try:
                self.on_batch()
            except Exception as exc:  # as for on_record: the receipts still leave
                event(log, "ingest.on_batch_failed", logging.ERROR,
                      reason=type(exc).__name__)
        for r in batch:
            receipts.setdefault(r.record.station_id, []).append(r.record.record_id)
        return len(batch)

    @contextlib.contextmanager
    def locked(self) -> Iterator[IngestStore]:
        """The store under this worker's lock, for a helper thread (the webhook deliverer)."""
        with self._lock:
            yield self.store

    def health(self) -> dict[str, Any]:
        """This worker's state and lag, for :mod:`station.ingest.health` (counters only)."""
        now = time.monotonic()
        with self._queue_lock:
            open_batch = len(self._batch) + len(self._queued)
            waiting = now - self._batch_since if open_batch else 0.0
        return {
            "client_id": self.client_id,
            "connected": bool(self._client.is_connected()),
            "stored": self.stored,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "batches_lost": self.batches_lost,
            "verifier_restarts": self._pool.restarts
            if isinstance(self._pool, VerifyProcesses) else 0,
            "open_batch": open_batch,
            "oldest_uncommitted_s": round(waiting, 3),
            "last_commit_age_s": None if not self._last_commit
            else round(now - self._last_commit, 3),
            "lag_s": None if self._last_delay_s is None else round(self._last_delay_s, 3),
        }

    def purge(self, now: float | None = None) -> int:
        """Apply the retention period now (the open batch is committed first); returns how
        many records lost their citizen data."""
        if self.retention_s is None:
            return 0
        self.flush()
        now = time.time() if now is None else now
        with self._lock:
            n = self.store.purge(now - self.retention_s)
        self._purged_at = time.monotonic()
        if n:
            event(log, "ingest.purged", records=n)
        return n

    def opened(self, record_id: str) -> dict[str, Any] | None:
        """The citizen fields of a stored record, opened from their sealed form with the
        backend key; None when unknown, purged, or this instance has no key."""
        key = self.verifier.backend_key
        self.flush()
        with self._lock:
            token = self.store.token(record_id)
        return None if token is None or key is None else open_token(token, key)

    def _flush_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(FLUSH_INTERVAL_S)
            self._wake.clear()
            try:
                self.flush()
                if (self.retention_s is not None
                        and time.monotonic() - self._purged_at >= PURGE_INTERVAL_S):
                    self.purge()
            except Exception as exc:  # never let one bad round stop receipts
                event(log, "ingest.flush_failed", logging.ERROR, reason=type(exc).__name__)

    def start(self, timeout_s: float = 10.0) -> None:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        # A persistent session: while this instance is away the broker keeps its subscription
        # and queues records for it, so stations keep getting "delivered" PUBACKs meaningfully.
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        self._client.connect(self.settings.host, self.settings.port,
                             keepalive=self.settings.keepalive_s, clean_start=False,
                             properties=props)
        if self.verify_processes and self._pool is None:
            self._pool = VerifyProcesses(self.verify_processes, self.verifier)
        elif self.verify_threads and self._pool is None:
            self._pool = VerifyThreads(self.verify_threads, self._check)
        self._client.loop_start()
        self._stop.clear()
        self._flusher = threading.Thread(target=self._flush_loop, name="ingest-flush",
                                         daemon=True)
        self._flusher.start()
        if not self._subscribed.wait(timeout_s):
            raise TimeoutError("ingest did not subscribe in time")

    def stop(self) -> None:
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join(timeout=5)
            self._flusher = None
        self.flush()
        last = self._last_receipt
        deadline = time.monotonic() + 2  # the last receipts out before disconnecting
        while (last is not None and self._client.is_connected() and not last.is_published()
               and time.monotonic() < deadline):
            time.sleep(0.01)
        self._client.disconnect()
        self._client.loop_stop()
        if self._pool is not None:  # the network thread is gone: nothing submits any more
            self._pool.close()
            self._pool = None

    def count(self) -> int:
        """Records stored (the open batch is committed first)."""
        self.flush()
        with self._lock:
            return self.store.count()

    def sequences(self, station_id: str) -> list[int]:
        """Sequence numbers received from one station, in arrival order (on PostgreSQL, within
        one batch in record-id order)."""
        self.flush()
        with self._lock:
            return self.store.sequences(station_id)


def _delay_s(wall: str) -> float | None:
    """Seconds from a record's wall time (the station's clock, so skew included) to now: the
    end-to-end lag of the newest committed record."""
    try:
        t = datetime.strptime(wall, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    return time.time() - t.timestamp()
