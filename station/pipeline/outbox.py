"""The durable outbox: a real SQLite file in WAL mode with ``synchronous=FULL``, one writer.

States: ``pending`` → (in flight) → ``delivered`` → ``acked``. A record is *stored* once its insert
transaction committed. *In flight* — published, PUBACK awaited — lives only in the publisher's
memory (:meth:`Outbox.claim` reads, it writes nothing): it could never outlive the process anyway
(a restart must send such a record again). ``delivered`` means the broker answered PUBACK success:
that only says the broker *queued* it (Mosquitto PUBACKs 0x00 and may still drop the message beyond
``max_queued_messages`` for the backend's session), so the payload is kept. A delivery is a row in
the narrow ``deliveries`` table (sequence, time), not a change to the record's own row, whose
rewrite (row and page) was a large part of the publisher's CPU (README's benchmark section has the
figures; the record stays ``pending`` in ``records``; :meth:`Outbox.counts` tells them apart).
``acked`` means the backend's application-level receipt named the record
(:meth:`Outbox.mark_received`): only then is the payload *deleted* (set NULL, freeing the pages)
and the delivery forgotten, in one transaction, leaving a non-citizen audit row (id, sequence,
times, outcome, size) until ``purge --acked``. A delivered record without a receipt after the
publisher's timeout goes back to ``pending`` (:meth:`Outbox.requeue_unreceipted`) and is re-sent in
sequence order; the backend dedupes. For a backend that sends no receipts the publisher can release
on PUBACK instead (:meth:`Outbox.mark_acked`, ``mqtt.release = "puback"``).

Deliveries survive a restart (their receipt may be queued for us at the broker) until the timeout
re-sends them (files written by older versions may hold ``in_flight`` rows: they go back to
``pending`` at open). Inserts commit with ``FULL``; deliveries, receipts and acks, which touch
consecutive sequence numbers, are written one statement per run of sequence numbers and commit
with ``synchronous=NORMAL``: in WAL mode such a commit survives a crash of the process and is
made durable by the next ``FULL`` commit's WAL sync or the next checkpoint; a power cut before
then can only bring a delivered or acknowledged record back to an earlier state, to be re-sent
and deduplicated by the backend (QoS 1 is at-least-once anyway) — never lose one. It keeps the
fsync of every batch (slow on a Pi's flash) from holding the write lock a tap's commit waits
for.

Checkpoints stay off the tap's path: the writer's connection only checkpoints as a safety net
far above SQLite's default (:data:`SAFETY_CHECKPOINT_PAGES`), and the publisher's thread — after
releasing the lock — runs a ``PASSIVE`` checkpoint (which never blocks a writer) on its own
connection at most every :data:`CHECKPOINT_INTERVAL_S` (:meth:`Outbox.checkpoint_if_due`).

Never silent dropping: a record not yet acknowledged by the backend (pending, in flight or
delivered: the citizen data is still held) older than the TTL raises an alarm and stays; when
the size cap or the disk's reserve would be crossed, :meth:`Outbox.add_many` refuses new records
with :class:`~station.errors.OutboxFull` and keeps every queued one; a database that is damaged
(SQLITE_CORRUPT / SQLITE_NOTADB, or a failed quick_check) is moved aside
(``<name>.corrupt-<time>``), what can still be read from it is copied into a fresh outbox, and an
alarm says so. Anything else at open — a full disk (:class:`~station.errors.OutboxFull`), a lock
held too long, an I/O error (:class:`~station.errors.StoreError`) — leaves the file untouched.

Schema changes are numbered migrations in :data:`MIGRATIONS` (``PRAGMA user_version``).
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from station import keys
from station.errors import OutboxFull, StoreError
from station.log import event

log = logging.getLogger(__name__)


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """The one way into a write transaction: ``BEGIN IMMEDIATE`` (the write lock up front, so a
    busy wait happens here and not at the first write), ``COMMIT`` on success, ``ROLLBACK`` on
    any error — unless SQLite already rolled back itself (e.g. on SQLITE_FULL) — and re-raise."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise

MIGRATIONS: tuple[str, ...] = (
    # 1: records
    """
    CREATE TABLE records (
        id          TEXT PRIMARY KEY,
        seq         INTEGER NOT NULL UNIQUE,
        created_at  REAL NOT NULL,
        topic       TEXT NOT NULL,
        state       TEXT NOT NULL CHECK (state IN ('pending', 'in_flight', 'acked')),
        payload     BLOB,
        acked_at    REAL
    );
    CREATE INDEX records_pending ON records(state, seq);
    """,
    # 2: the sequence high-water mark survives purges; audit columns (no citizen data)
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
    INSERT INTO meta VALUES ('last_seq', (SELECT COALESCE(MAX(seq), 0) FROM records));
    ALTER TABLE records ADD COLUMN outcome TEXT NOT NULL DEFAULT '';
    ALTER TABLE records ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
    UPDATE records SET size = COALESCE(LENGTH(payload), 0);
    """,
    # 3: 'delivered' (broker PUBACK, payload kept until the backend's receipt) and sent_at.
    # SQLite cannot alter a CHECK constraint: rebuild the table (the documented "12 steps"
    # without foreign keys, views or triggers to re-point), keeping every row and the index.
    """
    CREATE TABLE records_v3 (
        id          TEXT PRIMARY KEY,
        seq         INTEGER NOT NULL UNIQUE,
        created_at  REAL NOT NULL,
        topic       TEXT NOT NULL,
        state       TEXT NOT NULL
                    CHECK (state IN ('pending', 'in_flight', 'delivered', 'acked')),
        payload     BLOB,
        acked_at    REAL,
        outcome     TEXT NOT NULL DEFAULT '',
        size        INTEGER NOT NULL DEFAULT 0,
        sent_at     REAL
    );
    INSERT INTO records_v3 (id, seq, created_at, topic, state, payload, acked_at, outcome, size)
        SELECT id, seq, created_at, topic, state, payload, acked_at, outcome, size FROM records;
    DROP TABLE records;
    ALTER TABLE records_v3 RENAME TO records;
    CREATE INDEX records_pending ON records(state, seq);
    CREATE INDEX records_delivered ON records(sent_at) WHERE state = 'delivered';
    """,
    # 4: deliveries in a narrow table of their own — marking one there is far cheaper than
    # rewriting the record's row and its page; records keep 'pending' until the receipt.
    # Version 3's delivered rows move over.
    """
    CREATE TABLE deliveries (seq INTEGER PRIMARY KEY, sent_at REAL NOT NULL);
    CREATE INDEX deliveries_sent ON deliveries(sent_at);
    INSERT INTO deliveries
        SELECT seq, COALESCE(sent_at, CAST(strftime('%s', 'now') AS REAL)) FROM records
        WHERE state = 'delivered';
    UPDATE records SET state = 'pending' WHERE state = 'delivered';
    DROP INDEX records_delivered;
    """,
)

DEFAULT_MAX_BYTES = 512 * 1024 * 1024
SAFETY_CHECKPOINT_PAGES = 16_000
BUSY_TIMEOUT_MS = 5000
"""How long a statement waits for another connection's lock before failing."""
"""The writer's own automatic checkpoint (64 MB of WAL at 4 KiB pages): only when nothing has
acknowledged for a long time (broker away) — otherwise the publisher's thread checkpoints."""
CHECKPOINT_INTERVAL_S = 0.5
DEFAULT_DISK_RESERVE = 32 * 1024 * 1024
"""Free space left on the file system for SQLite's own needs (WAL growth, acks, checkpoints)."""


@dataclass(frozen=True)
class Pending:
    id: str
    seq: int
    topic: str
    payload: bytes


@dataclass(frozen=True)
class Entry:
    """One row as ``station outbox list`` shows it: metadata only, never the payload."""

    id: str
    seq: int
    state: str
    created_at: float
    acked_at: float | None
    outcome: str
    size: int
    sent_at: float | None = None
    """When the broker acknowledged it (delivered; the receipt timeout runs from here)."""


@dataclass(frozen=True)
class Status:
    pending: int
    """Not delivered yet (includes what the running publisher has in flight)."""
    delivered: int
    """The broker took them; the backend's receipt has not come yet (payload still held)."""
    acked: int
    oldest_pending_age_s: float | None
    """Age of the oldest record not yet acknowledged by the backend (any state but acked)."""
    expired: int
    """Records not yet acknowledged and older than the TTL (alarm: kept, never dropped)."""
    used_bytes: int
    max_bytes: int
    full: bool
    last_seq: int
    quarantined: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "pending": self.pending, "delivered": self.delivered, "acked": self.acked,
            "oldest_pending_age_s": self.oldest_pending_age_s, "expired": self.expired,
            "used_bytes": self.used_bytes, "max_bytes": self.max_bytes, "full": self.full,
            "last_seq": self.last_seq, "quarantined": list(self.quarantined),
        }


Row = tuple[str, int, str, bytes] | tuple[str, int, str, bytes, str]
"""(id, seq, topic, payload[, outcome])"""


class Outbox:
    """One connection, serialised by a lock: safe to call from the reading worker and the
    publisher thread of one process."""

    def __init__(self, path: Path | str, *, max_bytes: int = DEFAULT_MAX_BYTES,
                 ttl_s: float = 72 * 3600.0, disk_reserve: int = DEFAULT_DISK_RESERVE) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.ttl_s = ttl_s
        self.disk_reserve = disk_reserve
        self.alarms: list[str] = []
        """Alarms raised since open (quarantine, TTL, full): the service shows and reports them."""
        self._lock = threading.Lock()
        try:
            self.conn = self._open()
        except sqlite3.DatabaseError as exc:
            if not _is_corrupt(exc):
                # A full disk, a lock held too long, an I/O error: the file may be perfectly
                # good and holds queued records. Never move it aside for that.
                raise _open_error(self.path, exc) from None
            try:
                self.conn = self._quarantine_and_recreate(exc)
            except sqlite3.Error as again:
                raise _open_error(self.path, again) from None
        self._page_size = int(self.conn.execute("PRAGMA page_size").fetchone()[0])
        self._last_seq = self._read_last_seq()
        self._checkpointer: sqlite3.Connection | None = None
        self._checkpoint_lock = threading.Lock()
        self._next_checkpoint = 0.0

    # --- opening, migrations, quarantine ---------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        try:
            # Sealed citizen data: the file (and so SQLite's -wal/-shm) 0600, a new dir 0700.
            keys.private_database(self.path)
        except OSError as exc:
            raise StoreError(f"outbox {self.path}: cannot create it: {exc.strerror}") from None
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute(f"PRAGMA wal_autocheckpoint={SAFETY_CHECKPOINT_PAGES}")
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(f"quick_check: {check}")
            self._migrate(conn)
            conn.execute("UPDATE records SET state='pending' WHERE state='in_flight'")
        except BaseException:
            conn.close()
            raise
        return conn

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StoreError(f"outbox schema {version} is newer than this software "
                             f"({len(MIGRATIONS)}); refusing to touch it")
        for number, sql in enumerate(MIGRATIONS[version:], start=version + 1):
            conn.executescript(f"BEGIN; {sql}; PRAGMA user_version={number}; COMMIT;")

    def _quarantine_and_recreate(self, exc: sqlite3.DatabaseError) -> sqlite3.Connection:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        moved = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            src = Path(f"{self.path}{suffix}")
            if src.exists():
                src.rename(Path(f"{moved}{suffix}"))
        rows, last_seq, salvage_ok = _salvage(moved)
        if not salvage_ok:
            # The old sequence is unknown: restart above anything it can have reached so the
            # backend never sees a sequence number twice (ms since the epoch grows faster than
            # any desk reads).
            last_seq = max(last_seq, time.time_ns() // 1_000_000)
        conn = self._open()
        with _transaction(conn):
            conn.executemany(
                "INSERT OR IGNORE INTO records (id, seq, created_at, topic, state, payload, "
                "outcome, size) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?)", rows)
            conn.execute("UPDATE meta SET value=MAX(value, ?) WHERE key='last_seq'", (last_seq,))
        message = (f"outbox {self.path.name} was unusable ({exc}); moved to {moved.name}, "
                   f"recovered {len(rows)} pending record(s)"
                   + ("" if salvage_ok else ", the rest may need manual recovery"))
        self.alarms.append(message)
        event(log, "outbox.quarantined", logging.ERROR, file=moved.name, recovered=len(rows),
              complete=salvage_ok)
        return conn

    def _read_last_seq(self) -> int:
        row = self.conn.execute("SELECT value FROM meta WHERE key='last_seq'").fetchone()
        return int(row[0])

    # --- the hot path ----------------------------------------------------------------------

    def next_seq(self) -> int:
        """The sequence number the next record gets (the high-water mark survives purges)."""
        with self._lock:
            return self._last_seq + 1

    def add(self, record_id: str, seq: int, topic: str, payload: bytes,
            outcome: str = "") -> None:
        """Store one record; returns only once its transaction is committed (durable)."""
        self.add_many([(record_id, seq, topic, payload, outcome)])

    def add_many(self, rows: Iterable[Row]) -> None:
        """Store records in one transaction: all of them are durable when this returns, or none
        is (:class:`StoreError`; :class:`OutboxFull` when the cap or the disk refuses)."""
        now = time.time()
        values = [(r[0], r[1], now, r[2], r[3], r[4] if len(r) > 4 else "", len(r[3]))
                  for r in rows]
        if not values:
            return
        incoming = sum(v[6] for v in values)
        with self._lock:
            first = min(v[1] for v in values)
            if first <= self._last_seq:
                raise StoreError(f"sequence {first} is not above the last stored "
                                 f"({self._last_seq})")
            self._check_room(incoming)
            try:
                with _transaction(self.conn):
                    self.conn.executemany(
                        "INSERT INTO records (id, seq, created_at, topic, state, payload, "
                        "outcome, size) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?)", values)
                    last = max(v[1] for v in values)
                    self.conn.execute("UPDATE meta SET value=? WHERE key='last_seq'", (last,))
            except sqlite3.Error as exc:
                if isinstance(exc, sqlite3.OperationalError) and _is_full(exc):
                    self._alarm_full("the disk is full")
                    raise OutboxFull("outbox refused the record: the disk is full; queued "
                                     "records are kept") from None
                raise StoreError(f"outbox refused the record: {exc}") from None
            self._last_seq = last

    def _used_bytes(self) -> int:
        pages, free = (int(self.conn.execute(f"PRAGMA {p}").fetchone()[0])
                       for p in ("page_count", "freelist_count"))
        return (pages - free) * self._page_size

    def _check_room(self, incoming: int) -> None:
        if self._used_bytes() + incoming > self.max_bytes:
            self._alarm_full(f"the size cap ({self.max_bytes} bytes) is reached")
            raise OutboxFull(f"outbox is full (cap {self.max_bytes} bytes); queued records are "
                             "kept, new reads are refused until they are delivered")
        if shutil.disk_usage(self.path.parent).free - incoming < self.disk_reserve:
            self._alarm_full("the disk's free space is below the reserve")
            raise OutboxFull("the disk is nearly full; queued records are kept, new reads are "
                             "refused until space is freed")

    def _alarm_full(self, why: str) -> None:
        message = f"outbox full: {why}"
        if message not in self.alarms:
            self.alarms.append(message)
        event(log, "outbox.full", logging.ERROR, reason=why)

    def set_alarm(self, about: str, message: str | None) -> None:
        """Raise the one alarm ``about`` something (every message about it contains ``about``):
        it replaces the previous one; ``None`` clears it."""
        self.alarms[:] = [a for a in self.alarms if about not in a] + (
            [message] if message is not None else [])

    def has_room(self, incoming: int = 64 * 1024) -> bool:
        """Whether a record of ``incoming`` bytes would be accepted now (for the desk's
        "ready" state)."""
        with self._lock:
            try:
                self._check_room(incoming)
            except OutboxFull:
                return False
            return True

    def claim(self, limit: int, after_seq: int = 0) -> list[Pending]:
        """Up to ``limit`` oldest pending (not delivered) records with ``seq > after_seq``, in
        sequence order. It writes nothing: the caller — the one publisher of this outbox —
        keeps them in flight in memory and remembers where it is."""
        with self._lock:
            rows = self.conn.execute(
                "SELECT id, seq, topic, payload FROM records r WHERE state='pending' AND seq > ? "
                "AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.seq = r.seq) "
                "ORDER BY seq LIMIT ?", (after_seq, limit)).fetchall()
        return [Pending(r[0], r[1], r[2], bytes(r[3])) for r in rows]

    def _write_normal(self, what: str, statements: Sequence[tuple[str, Sequence[Sequence[object]]]],
                      ) -> int:
        """``executemany`` of each (sql, rows) in one transaction committed with
        ``synchronous=NORMAL`` (see the module's docstring: losing it in a power cut only
        causes a re-send); rows changed by the first statement."""
        with self._lock:
            self.conn.execute("PRAGMA synchronous=NORMAL")
            try:
                with _transaction(self.conn):
                    changed = 0
                    for n, (sql, rows) in enumerate(statements):
                        count = self.conn.executemany(sql, rows).rowcount
                        changed = count if n == 0 else changed
            except sqlite3.Error as exc:
                raise StoreError(f"outbox could not record {what}: {exc}") from None
            finally:
                self.conn.execute("PRAGMA synchronous=FULL")
        return int(changed)

    def mark_delivered(self, seqs: Iterable[int]) -> None:
        """PUBACK succeeded for these sequence numbers: the broker has them, the backend may
        not. The payload stays until the receipt; ``sent_at`` (re)starts the receipt timeout.
        A record already acknowledged (its receipt overtook this PUBACK after a re-send) stays
        acknowledged."""
        now = time.time()
        self._write_normal("deliveries", [(
            "INSERT OR REPLACE INTO deliveries (seq, sent_at) SELECT seq, ? FROM records "
            "WHERE seq BETWEEN ? AND ? AND state='pending'",
            [(now, first, last) for first, last in _runs(seqs)])])
        self.checkpoint_if_due()

    def mark_received(self, ids: Sequence[str]) -> list[str]:
        """The backend's receipt names these records: it has stored them. Acknowledge every one
        not yet acknowledged, whatever its state (a receipt may overtake a PUBACK or arrive after
        a timeout re-queued the record): delete the payload, keep the audit row. Returns the ids
        acknowledged now (unknown and already acknowledged ids are ignored)."""
        if not ids:
            return []
        unique = list(dict.fromkeys(ids))
        fresh: dict[int, str] = {}
        with self._lock:
            for start in range(0, len(unique), 500):  # SQLite's bound-parameter limit
                chunk = unique[start:start + 500]
                fresh.update((int(r[1]), r[0]) for r in self.conn.execute(
                    f"SELECT id, seq FROM records WHERE state != 'acked' AND id IN "
                    f"({','.join('?' * len(chunk))})", chunk))
        if fresh:
            self._ack(fresh)
        self.checkpoint_if_due()
        return [fresh[seq] for seq in sorted(fresh)]

    def _ack(self, seqs: Iterable[int], sent_now: bool = False) -> None:
        """Acknowledged for good: delete the payload, keep the audit row (with when it was
        delivered), forget the delivery."""
        now = time.time()
        runs = _runs(seqs)
        sent = "?" if sent_now else "(SELECT sent_at FROM deliveries d WHERE d.seq = records.seq)"
        self._write_normal("acknowledgements", [
            (f"UPDATE records SET state='acked', payload=NULL, acked_at=?, sent_at={sent} "
             "WHERE seq BETWEEN ? AND ? AND state != 'acked'",
             [(now, *((now,) if sent_now else ()), first, last) for first, last in runs]),
            ("DELETE FROM deliveries WHERE seq BETWEEN ? AND ?", runs)])

    def delivered_count(self) -> int:
        """Records the broker took that the backend has not receipted yet."""
        with self._lock:
            return int(self.conn.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0])

    def requeue_unreceipted(self, older_than_s: float, now: float | None = None) -> int:
        """Delivered records whose receipt has not come within ``older_than_s`` go back to
        pending, to be re-sent in sequence order (the broker may have dropped them; if not, the
        backend dedupes and receipts the copy). Returns how many."""
        cutoff = (time.time() if now is None else now) - older_than_s
        with self._lock:
            # The index on sent_at makes this probe cheap when nothing is due (the usual case).
            due = self.conn.execute(
                "SELECT 1 FROM deliveries WHERE sent_at < ? LIMIT 1", (cutoff,)).fetchone()
        if due is None:
            return 0
        return self._write_normal("re-queues", [
            ("DELETE FROM deliveries WHERE sent_at < ?", [(cutoff,)])])

    def mark_acked(self, seqs: Iterable[int]) -> None:
        """Released on PUBACK (``mqtt.release = "puback"``, a backend without receipts): delete
        the payload, keep the audit row (one ``NORMAL`` commit), then checkpoint if due."""
        self._ack(seqs, sent_now=True)
        self.checkpoint_if_due()

    def checkpoint_if_due(self) -> None:
        """A ``PASSIVE`` checkpoint on a connection of its own, without the outbox's lock: the
        writer keeps committing meanwhile. Best effort (a full disk only delays it)."""
        now = time.monotonic()
        if now < self._next_checkpoint or not self._checkpoint_lock.acquire(blocking=False):
            return
        try:
            self._next_checkpoint = now + CHECKPOINT_INTERVAL_S
            if self._checkpointer is None:
                self._checkpointer = sqlite3.connect(self.path, check_same_thread=False,
                                                     isolation_level=None)
                self._checkpointer.execute("PRAGMA synchronous=FULL")
            self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:
            event(log, "outbox.checkpoint_failed", logging.WARNING, reason=str(exc))
        finally:
            self._checkpoint_lock.release()

    # --- inspection and maintenance (no payloads) -------------------------------------------

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self.conn.execute("SELECT state, COUNT(*) FROM records GROUP BY state")
            counts = {"pending": 0, "delivered": 0, "acked": 0}
            for state, n in rows:
                counts[state] = int(n)
            # Delivered ones are 'pending' rows with a delivery (see migration 4).
            delivered = int(self.conn.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0])
            counts["delivered"] = delivered
            counts["pending"] -= delivered
            return counts

    def status(self, now: float | None = None) -> Status:
        now = time.time() if now is None else now
        counts = self.counts()
        with self._lock:
            oldest = self.conn.execute(
                "SELECT MIN(created_at) FROM records WHERE state != 'acked'").fetchone()[0]
            expired = int(self.conn.execute(
                "SELECT COUNT(*) FROM records WHERE state != 'acked' AND created_at < ?",
                (now - self.ttl_s,)).fetchone()[0])
            used = self._used_bytes()
        quarantined = tuple(sorted(p.name for p in self.path.parent.glob(
            f"{self.path.name}.corrupt-*") if not p.name.endswith(("-wal", "-shm"))))
        return Status(counts["pending"], counts["delivered"], counts["acked"],
                      None if oldest is None else max(0.0, now - float(oldest)), expired, used,
                      self.max_bytes, used >= self.max_bytes, self._last_seq, quarantined)

    def check_ttl(self, now: float | None = None) -> int:
        """Raise the TTL alarm when citizen data waits longer than allowed; returns how many
        records are past it. They are kept: only the backend's acknowledgement or an operator
        removes them."""
        st = self.status(now)
        if st.expired:
            message = (f"{st.expired} record(s) older than {self.ttl_s / 3600:g} h are waiting "
                       "in the outbox (not yet acknowledged by the backend)")
            self.set_alarm("older than", message)
            event(log, "outbox.ttl_exceeded", logging.ERROR, records=st.expired,
                  oldest_age_s=round(st.oldest_pending_age_s or 0.0))
        return st.expired

    def entries(self, limit: int = 50, state: str | None = None) -> list[Entry]:
        with self._lock:
            rows = self.conn.execute(
                "SELECT * FROM (SELECT r.id, r.seq, CASE WHEN d.seq IS NULL THEN r.state "
                "ELSE 'delivered' END AS state, r.created_at, r.acked_at, r.outcome, r.size, "
                "COALESCE(d.sent_at, r.sent_at) FROM records r "
                "LEFT JOIN deliveries d ON d.seq = r.seq) "
                + ("WHERE state=? " if state else "") + "ORDER BY seq DESC LIMIT ?",
                ((state, limit) if state else (limit,))).fetchall()
        return [Entry(r[0], int(r[1]), r[2], float(r[3]), r[4], r[5], int(r[6]), r[7])
                for r in rows]

    def purge_acked(self, older_than_s: float = 0.0) -> int:
        """Delete audit rows of acknowledged records (never a pending one)."""
        cutoff = time.time() - older_than_s
        with self._lock:
            with _transaction(self.conn):
                cur = self.conn.execute(
                    "DELETE FROM records WHERE state='acked' AND acked_at <= ?", (cutoff,))
            return int(cur.rowcount)

    def close(self) -> None:
        with self._checkpoint_lock:
            if self._checkpointer is not None:
                self._checkpointer.close()
                self._checkpointer = None
        with self._lock:
            self.conn.close()


def _runs(seqs: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted runs of consecutive sequence numbers, as (first, last): PUBACKs come back in
    order, so a batch is usually one run and one range ``UPDATE``."""
    runs: list[tuple[int, int]] = []
    for seq in sorted(set(seqs)):
        if runs and seq == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], seq)
        else:
            runs.append((seq, seq))
    return runs


def _is_corrupt(exc: sqlite3.DatabaseError) -> bool:
    """Only a damaged file is quarantined: SQLITE_CORRUPT, SQLITE_NOTADB (primary codes; the
    extended ones keep them in the low byte) or a failed quick_check."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return True
    return str(exc).startswith("quick_check:")


def _open_error(path: Path, exc: sqlite3.Error) -> StoreError:
    # On a full filesystem SQLite often reports "disk I/O error" (it cannot size the -shm
    # file) rather than SQLITE_FULL: look at the disk too.
    try:
        no_room = shutil.disk_usage(path.parent).free < 64 * 1024
    except OSError:
        no_room = False
    if no_room or (isinstance(exc, sqlite3.OperationalError) and _is_full(exc)):
        return OutboxFull(f"outbox {path.name} cannot be opened: the disk is full; free space "
                          "(queued records are kept in the file)")
    return StoreError(f"outbox {path.name} cannot be opened: {exc} (the file was left as it "
                      "is)")


def _is_full(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code == sqlite3.SQLITE_FULL or "full" in str(exc)


def _salvage(path: Path) -> tuple[list[tuple[str, int, float, str, bytes, str, int]], int, bool]:
    """Read what can be read from a quarantined outbox: its undelivered rows and its last
    sequence. Returns (rows, last_seq, complete)."""
    rows: list[tuple[str, int, float, str, bytes, str, int]] = []
    last_seq = 0
    if not path.exists():
        return rows, last_seq, True
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return rows, last_seq, False
    try:
        try:
            last_seq = int(conn.execute("SELECT MAX(seq) FROM records").fetchone()[0] or 0)
            meta = conn.execute("SELECT value FROM meta WHERE key='last_seq'").fetchone()
            last_seq = max(last_seq, int(meta[0]) if meta else 0)
            for r in conn.execute(
                    "SELECT id, seq, created_at, topic, payload FROM records "
                    "WHERE state != 'acked' AND payload IS NOT NULL ORDER BY seq"):
                rows.append((r[0], int(r[1]), float(r[2]), r[3], bytes(r[4]), "", len(r[4])))
        except sqlite3.Error:
            return rows, last_seq, False
        return rows, last_seq, True
    finally:
        conn.close()
