"""Where ingest keeps what it received: accepted records and rejections.

The schema is a list of numbered :data:`MIGRATIONS`; the numbers applied are recorded in the
``schema_migrations`` table, so a database is brought forward from whatever version it is at
and a database from a newer release is refused rather than guessed at. Migration 1 is the
schema ingest created before migrations existed (``CREATE TABLE IF NOT EXISTS``), so a file made
by an older release is adopted as version 1.

Writes go into one open transaction per batch (:meth:`SqliteStore.add_many` opens it with a
batch's records, :meth:`SqliteStore.commit` ends it): one fsync per batch, not one per
record. The store is not thread-safe; :class:`station.ingest.worker.Ingest` serialises calls.
"""

from __future__ import annotations

import enum
import hashlib
import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric import x25519

from station import keys
from station.errors import StoreError
from station.ingest.verification import Verified
from station.pipeline.records import Record, open_sealed, parse_unverified


class IngestStoreError(StoreError):
    """The ingest database refused a write or is of an unknown version (the batch is rolled
    back: nothing of it is receipted, the stations re-send)."""


@dataclass(frozen=True)
class AuditRow:
    """What is kept of a record for good: no citizen data (``token_sha256`` proves which
    record it was to whoever holds the record)."""

    record_id: str
    station_id: str
    seq: int
    wall: str
    profile: str
    outcome: str
    token_sha256: bytes
    received_at: float
    purged_at: float | None


class Added(enum.Enum):
    NEW = "new"
    DUPLICATE = "duplicate"
    """The same record id with the same bytes: a QoS 1 re-delivery or a re-send, not stored
    again (receipted again: the station may have missed the first receipt)."""
    REPLAY = "replay"
    """A used record id or (station, sequence) with different bytes: a replay, or a forgery
    by a leaked key. Refused."""


@dataclass(frozen=True)
class Migration:
    """One schema step, written once per dialect; both stores apply the same numbers."""

    why: str
    sqlite: str
    postgres: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "the schema before numbered migrations (IF NOT EXISTS: an older file is adopted)",
        sqlite="""
        CREATE TABLE IF NOT EXISTS received (
            record_id   TEXT PRIMARY KEY,
            station_id  TEXT NOT NULL,
            seq         INTEGER NOT NULL,
            wall        TEXT NOT NULL,
            profile     TEXT NOT NULL,
            outcome     TEXT NOT NULL,
            token       BLOB NOT NULL,
            citizen     TEXT,
            received_at REAL NOT NULL,
            UNIQUE (station_id, seq)
        );
        CREATE TABLE IF NOT EXISTS rejected (
            topic       TEXT NOT NULL,
            reason      TEXT NOT NULL,
            received_at REAL NOT NULL
        );
        """,
        postgres="""
        CREATE TABLE received (
            record_id   TEXT PRIMARY KEY,
            station_id  TEXT NOT NULL,
            seq         BIGINT NOT NULL,
            wall        TEXT NOT NULL,
            profile     TEXT NOT NULL,
            outcome     TEXT NOT NULL,
            token       BYTEA NOT NULL,
            citizen     TEXT,
            received_at DOUBLE PRECISION NOT NULL,
            arrival     BIGINT GENERATED ALWAYS AS IDENTITY,
            UNIQUE (station_id, seq)
        );
        CREATE TABLE rejected (
            topic       TEXT NOT NULL,
            reason      TEXT NOT NULL,
            received_at DOUBLE PRECISION NOT NULL,
            arrival     BIGINT GENERATED ALWAYS AS IDENTITY
        );
        """,
    ),
    Migration(
        "citizen data only in its sealed form (opened on read with the backend key), never a "
        "plaintext column; token_sha256 for dedupe once retention has deleted the token; "
        "purged_at marks an audit row whose citizen data is gone",
        # SQLite cannot drop NOT NULL: the table is rebuilt (ORDER BY rowid keeps arrival
        # order). sha256() is registered on the connection by migrate_sqlite.
        sqlite="""
        CREATE TABLE received_v2 (
            record_id    TEXT PRIMARY KEY,
            station_id   TEXT NOT NULL,
            seq          INTEGER NOT NULL,
            wall         TEXT NOT NULL,
            profile      TEXT NOT NULL,
            outcome      TEXT NOT NULL,
            token        BLOB,
            token_sha256 BLOB NOT NULL,
            received_at  REAL NOT NULL,
            purged_at    REAL,
            UNIQUE (station_id, seq)
        );
        INSERT INTO received_v2 (record_id, station_id, seq, wall, profile, outcome, token,
                                 token_sha256, received_at)
            SELECT record_id, station_id, seq, wall, profile, outcome, token, sha256(token),
                   received_at FROM received ORDER BY rowid;
        DROP TABLE received;
        ALTER TABLE received_v2 RENAME TO received;
        CREATE INDEX received_unpurged ON received (received_at) WHERE token IS NOT NULL;
        """,
        postgres="""
        UPDATE received SET citizen = NULL WHERE citizen IS NOT NULL;
        ALTER TABLE received DROP COLUMN citizen;
        ALTER TABLE received ADD COLUMN token_sha256 BYTEA;
        UPDATE received SET token_sha256 = sha256(token);
        ALTER TABLE received ALTER COLUMN token_sha256 SET NOT NULL;
        ALTER TABLE received ALTER COLUMN token DROP NOT NULL;
        ALTER TABLE received ADD COLUMN purged_at DOUBLE PRECISION;
        CREATE INDEX received_unpurged ON received (received_at) WHERE token IS NOT NULL;
        """,
    ),
    Migration(
        "webhook deliveries: queued in the record's own transaction (at least once), retried "
        "with backoff until the consumer answers 2xx",
        sqlite="""
        CREATE TABLE webhook (
            record_id    TEXT PRIMARY KEY,
            attempts     INTEGER NOT NULL DEFAULT 0,
            next_at      REAL NOT NULL,
            delivered_at REAL,
            last_error   TEXT
        );
        CREATE INDEX webhook_due ON webhook (next_at) WHERE delivered_at IS NULL;
        """,
        postgres="""
        CREATE TABLE webhook (
            record_id    TEXT PRIMARY KEY,
            attempts     INTEGER NOT NULL DEFAULT 0,
            next_at      DOUBLE PRECISION NOT NULL,
            delivered_at DOUBLE PRECISION,
            last_error   TEXT
        );
        CREATE INDEX webhook_due ON webhook (next_at) WHERE delivered_at IS NULL;
        """,
    ),
    Migration(
        "the web console (station.console): staff accounts (argon2id hashes), clerk-desk "
        "bindings, sessions and API tokens (SHA-256 of the secret only), the audit log of who "
        "saw which record id (never data), sign-in attempts for the rate limit and lockout; "
        "a commit-ordered arrival cursor on received for the desk feed",
        # SQLite serialises writers (BEGIN IMMEDIATE), so MAX+1 at insert is commit order; a
        # column, not the rowid, because VACUUM may renumber rowids. PostgreSQL assigns
        # identities at insert, not commit: the feed orders by (inserting transaction,
        # arrival) and reads only transactions older than every one still running.
        sqlite="""
        ALTER TABLE received ADD COLUMN arrival INTEGER;
        UPDATE received SET arrival = rowid;
        CREATE UNIQUE INDEX received_arrival ON received (arrival);
        CREATE INDEX received_desk ON received (station_id, arrival);
        CREATE TRIGGER received_arrival AFTER INSERT ON received WHEN NEW.arrival IS NULL
        BEGIN
            UPDATE received SET arrival = (SELECT COALESCE(MAX(arrival), 0) + 1 FROM received)
                WHERE rowid = NEW.rowid;
        END;
        CREATE TABLE console_user (
            id            INTEGER PRIMARY KEY AUTOINCREMENT,
            name          TEXT NOT NULL UNIQUE,
            role          TEXT NOT NULL CHECK (role IN ('clerk', 'operator', 'admin')),
            password_hash TEXT NOT NULL,
            created_at    REAL NOT NULL,
            disabled_at   REAL
        );
        CREATE TABLE console_desk (
            user_id    INTEGER NOT NULL REFERENCES console_user (id),
            station_id TEXT NOT NULL,
            PRIMARY KEY (user_id, station_id)
        );
        CREATE TABLE console_session (
            token_sha256 BLOB PRIMARY KEY,
            user_id      INTEGER NOT NULL REFERENCES console_user (id),
            created_at   REAL NOT NULL,
            expires_at   REAL NOT NULL
        );
        CREATE TABLE console_token (
            token_sha256 BLOB PRIMARY KEY,
            user_id      INTEGER NOT NULL REFERENCES console_user (id),
            label        TEXT NOT NULL,
            created_at   REAL NOT NULL,
            revoked_at   REAL
        );
        CREATE TABLE console_audit (
            id        INTEGER PRIMARY KEY AUTOINCREMENT,
            at        REAL NOT NULL,
            user_name TEXT NOT NULL,
            action    TEXT NOT NULL,
            record_id TEXT,
            detail    TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX console_audit_record ON console_audit (record_id);
        CREATE TABLE console_signin (
            user_name TEXT NOT NULL,
            remote    TEXT NOT NULL,
            at        REAL NOT NULL,
            ok        INTEGER NOT NULL
        );
        CREATE INDEX console_signin_user ON console_signin (user_name, at);
        CREATE INDEX console_signin_remote ON console_signin (remote, at);
        """,
        postgres="""
        ALTER TABLE received ADD COLUMN xact xid8 NOT NULL DEFAULT pg_current_xact_id();
        CREATE INDEX received_desk ON received (station_id, xact, arrival);
        CREATE TABLE console_user (
            id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            name          TEXT NOT NULL UNIQUE,
            role          TEXT NOT NULL CHECK (role IN ('clerk', 'operator', 'admin')),
            password_hash TEXT NOT NULL,
            created_at    DOUBLE PRECISION NOT NULL,
            disabled_at   DOUBLE PRECISION
        );
        CREATE TABLE console_desk (
            user_id    BIGINT NOT NULL REFERENCES console_user (id),
            station_id TEXT NOT NULL,
            PRIMARY KEY (user_id, station_id)
        );
        CREATE TABLE console_session (
            token_sha256 BYTEA PRIMARY KEY,
            user_id      BIGINT NOT NULL REFERENCES console_user (id),
            created_at   DOUBLE PRECISION NOT NULL,
            expires_at   DOUBLE PRECISION NOT NULL
        );
        CREATE TABLE console_token (
            token_sha256 BYTEA PRIMARY KEY,
            user_id      BIGINT NOT NULL REFERENCES console_user (id),
            label        TEXT NOT NULL,
            created_at   DOUBLE PRECISION NOT NULL,
            revoked_at   DOUBLE PRECISION
        );
        CREATE TABLE console_audit (
            id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            at        DOUBLE PRECISION NOT NULL,
            user_name TEXT NOT NULL,
            action    TEXT NOT NULL,
            record_id TEXT,
            detail    TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX console_audit_record ON console_audit (record_id);
        CREATE TABLE console_signin (
            user_name TEXT NOT NULL,
            remote    TEXT NOT NULL,
            at        DOUBLE PRECISION NOT NULL,
            ok        BOOLEAN NOT NULL
        );
        CREATE INDEX console_signin_user ON console_signin (user_name, at);
        CREATE INDEX console_signin_remote ON console_signin (remote, at);
        """,
    ),
    Migration(
        "the operator console's fleet view (station/ingest/fleet): each station's last status, "
        "heartbeat and certificate state, its recent events and the commands sent to it — what "
        "a station says about itself, never a record's content",
        sqlite="""
        CREATE TABLE fleet_station (
            station_id   TEXT PRIMARY KEY,
            registered   INTEGER NOT NULL DEFAULT 0,
            tls_not_after TEXT,
            revoked_at   TEXT,
            state        TEXT,
            state_at     REAL,
            station_time REAL,
            health_at    REAL,
            uptime_s     INTEGER,
            pending      INTEGER,
            in_flight    INTEGER,
            delivered    INTEGER,
            oldest_pending_age_s REAL,
            expired      INTEGER,
            last_seq     INTEGER,
            outbox_full  INTEGER,
            acked        INTEGER,
            refused      INTEGER,
            alarms       TEXT NOT NULL DEFAULT '[]',
            version      TEXT,
            interval_s   REAL
        );
        CREATE TABLE fleet_event (
            event_id     INTEGER PRIMARY KEY AUTOINCREMENT,
            station_id   TEXT NOT NULL,
            at           REAL NOT NULL,
            kind         TEXT NOT NULL,
            detail       TEXT NOT NULL
        );
        CREATE INDEX fleet_event_station ON fleet_event (station_id, event_id);
        CREATE TABLE fleet_command (
            command_id   TEXT PRIMARY KEY,
            station_id   TEXT NOT NULL,
            cmd          TEXT NOT NULL,
            sent_by      TEXT NOT NULL,
            sent_at      REAL NOT NULL,
            answered_at  REAL,
            ok           INTEGER,
            message      TEXT
        );
        CREATE INDEX fleet_command_station ON fleet_command (station_id, sent_at);
        """,
        postgres="""
        CREATE TABLE fleet_station (
            station_id   TEXT PRIMARY KEY,
            registered   BOOLEAN NOT NULL DEFAULT FALSE,
            tls_not_after TEXT,
            revoked_at   TEXT,
            state        TEXT,
            state_at     DOUBLE PRECISION,
            station_time DOUBLE PRECISION,
            health_at    DOUBLE PRECISION,
            uptime_s     BIGINT,
            pending      BIGINT,
            in_flight    BIGINT,
            delivered    BIGINT,
            oldest_pending_age_s DOUBLE PRECISION,
            expired      BIGINT,
            last_seq     BIGINT,
            outbox_full  BOOLEAN,
            acked        BIGINT,
            refused      BIGINT,
            alarms       TEXT NOT NULL DEFAULT '[]',
            version      TEXT,
            interval_s   DOUBLE PRECISION
        );
        CREATE TABLE fleet_event (
            event_id     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            station_id   TEXT NOT NULL,
            at           DOUBLE PRECISION NOT NULL,
            kind         TEXT NOT NULL,
            detail       TEXT NOT NULL
        );
        CREATE INDEX fleet_event_station ON fleet_event (station_id, event_id);
        CREATE TABLE fleet_command (
            command_id   TEXT PRIMARY KEY,
            station_id   TEXT NOT NULL,
            cmd          TEXT NOT NULL,
            sent_by      TEXT NOT NULL,
            sent_at      DOUBLE PRECISION NOT NULL,
            answered_at  DOUBLE PRECISION,
            ok           BOOLEAN,
            message      TEXT
        );
        CREATE INDEX fleet_command_station ON fleet_command (station_id, sent_at);
        """,
    ),
    Migration(
        "the console's feed poller reads every desk in commit order: PostgreSQL needs an "
        "index on (xact, arrival) for that (migration 4's is per station); SQLite's arrival "
        "index already serves it",
        sqlite="SELECT 1;",
        postgres="CREATE INDEX received_feed ON received (xact, arrival);",
    ),
)


def token_hash(token: bytes) -> bytes:
    return hashlib.sha256(token).digest()


def decide(rows: list[tuple[str, bytes]], record_id: str, sha: bytes) -> Added:
    """After an insert that conflicted: ``rows`` are the (record_id, token_sha256) holding our
    id or our (station, sequence). The same id with the same bytes is a duplicate; anything
    else is a replay."""
    if any(rid == record_id and bytes(h) == sha for rid, h in rows):
        return Added.DUPLICATE
    return Added.REPLAY


def open_token(token: bytes, backend_key: x25519.X25519PrivateKey) -> dict[str, Any]:
    """The citizen fields of a stored token (verified when it was received)."""
    _header, payload, _si, _sig = parse_unverified(token)
    return open_sealed(Record.from_json(json.loads(payload)), backend_key).citizen


class SqliteStore:
    """The embedded store: one SQLite file (WAL, ``synchronous=FULL``), for the demo and a
    single small site. ``secure_delete``: retention's deletions overwrite the freed pages."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            keys.private_database(self.path)  # citizen data, even sealed: 0600 (+ -wal/-shm)
        self.db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA secure_delete=ON")
        migrate_sqlite(self.db)

    def version(self) -> int:
        return sqlite_version(self.db)

    def _begin(self) -> None:
        if not self.db.in_transaction:
            self.db.execute("BEGIN IMMEDIATE")

    def _failed(self, what: str, exc: sqlite3.Error) -> IngestStoreError:
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")
        return IngestStoreError(f"{what} failed: {exc}")

    def add(self, v: Verified) -> Added:
        return self.add_many([v])[0]

    def add_many(self, vs: Sequence[Verified]) -> list[Added]:
        """Into the open batch, in order: one outcome per record. In-process SQLite has no
        round trip to save, so each is one ``INSERT … ON CONFLICT DO NOTHING`` (a record
        repeated inside ``vs`` is a duplicate of its first occurrence, as across batches)."""
        out: list[Added] = []
        try:
            self._begin()
            for v in vs:
                rec = v.record
                sha = token_hash(v.token)
                cur = self.db.execute(
                    "INSERT INTO received (record_id, station_id, seq, wall, profile, outcome, "
                    "token, token_sha256, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT DO NOTHING",
                    (rec.record_id, rec.station_id, rec.seq, rec.wall, rec.profile,
                     rec.outcome, v.token, sha, time.time()))
                if cur.rowcount == 1:
                    out.append(Added.NEW)
                    continue
                rows = self.db.execute(
                    "SELECT record_id, token_sha256 FROM received WHERE record_id=? OR "
                    "(station_id=? AND seq=?)", (rec.record_id, rec.station_id, rec.seq)
                ).fetchall()
                out.append(decide(rows, rec.record_id, sha))
        except sqlite3.Error as exc:
            raise self._failed("insert", exc) from exc
        return out

    def reject(self, topic: str, reason: str) -> None:
        try:
            self._begin()
            self.db.execute("INSERT INTO rejected VALUES (?, ?, ?)", (topic, reason, time.time()))
        except sqlite3.Error as exc:
            raise self._failed("insert", exc) from exc

    def commit(self) -> None:
        try:
            if self.db.in_transaction:
                self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self._failed("commit", exc) from exc

    def rollback(self) -> None:
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")

    def count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM received").fetchone()[0])

    def sequences(self, station_id: str) -> list[int]:
        """Sequence numbers received from one station, in arrival order."""
        rows = self.db.execute("SELECT seq FROM received WHERE station_id=? ORDER BY rowid",
                               (station_id,))
        return [int(r[0]) for r in rows]

    def rejections(self) -> list[tuple[str, str]]:
        """(topic, reason) of every rejection, oldest first: never a payload."""
        rows = self.db.execute("SELECT topic, reason FROM rejected ORDER BY rowid")
        return [(str(r[0]), str(r[1])) for r in rows]

    def token(self, record_id: str) -> bytes | None:
        """The stored record as received; None when unknown or purged by retention."""
        row = self.db.execute("SELECT token FROM received WHERE record_id=?",
                              (record_id,)).fetchone()
        return None if row is None or row[0] is None else bytes(row[0])

    def audit(self, record_id: str) -> AuditRow | None:
        row = self.db.execute(
            "SELECT record_id, station_id, seq, wall, profile, outcome, token_sha256, "
            "received_at, purged_at FROM received WHERE record_id=?", (record_id,)).fetchone()
        return None if row is None else audit_row(row)

    def purge(self, older_than: float) -> int:
        """Retention: delete the citizen data (the token with its sealed fields) of records
        received before ``older_than`` (epoch seconds); the audit row stays. Its own
        transaction: call between batches."""
        try:
            self._begin()
            n = self.db.execute(
                "UPDATE received SET token=NULL, purged_at=? WHERE token IS NOT NULL AND "
                "received_at < ?", (time.time(), older_than)).rowcount
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self._failed("purge", exc) from exc
        return int(n)

    def enqueue_webhook(self, record_id: str, at: float) -> None:
        """Queue a delivery in the open batch's transaction (committed with the record)."""
        try:
            self._begin()
            self.db.execute("INSERT INTO webhook (record_id, next_at) VALUES (?, ?) "
                            "ON CONFLICT DO NOTHING", (record_id, at))
        except sqlite3.Error as exc:
            raise self._failed("insert", exc) from exc

    def due_webhooks(self, now: float, limit: int) -> list[tuple[str, int, bytes | None]]:
        """(record id, attempts so far, token or None when purged) of deliveries due."""
        rows = self.db.execute(
            "SELECT w.record_id, w.attempts, r.token FROM webhook w JOIN received r "
            "ON r.record_id = w.record_id WHERE w.delivered_at IS NULL AND w.next_at <= ? "
            "ORDER BY w.next_at LIMIT ?", (now, limit)).fetchall()
        return [(str(r[0]), int(r[1]), None if r[2] is None else bytes(r[2])) for r in rows]

    def webhook_done(self, record_id: str, at: float) -> None:
        self._write("UPDATE webhook SET delivered_at=?, attempts=attempts+1, last_error=NULL "
                    "WHERE record_id=?", (at, record_id))

    def webhook_retry(self, record_id: str, next_at: float, error: str) -> None:
        self._write("UPDATE webhook SET attempts=attempts+1, next_at=?, last_error=? "
                    "WHERE record_id=?", (next_at, error, record_id))

    def webhook_state(self, record_id: str) -> tuple[int, float | None, str | None] | None:
        row = self.db.execute("SELECT attempts, delivered_at, last_error FROM webhook "
                              "WHERE record_id=?", (record_id,)).fetchone()
        return None if row is None else (int(row[0]), row[1], row[2])

    def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        """A write of its own (between batches: the worker holds the lock)."""
        try:
            self._begin()
            self.db.execute(sql, params)
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self._failed("write", exc) from exc

    def close(self) -> None:
        self.db.close()


def audit_row(row: Any) -> AuditRow:
    return AuditRow(str(row[0]), str(row[1]), int(row[2]), str(row[3]), str(row[4]),
                    str(row[5]), bytes(row[6]), float(row[7]),
                    None if row[8] is None else float(row[8]))


def sqlite_version(db: sqlite3.Connection) -> int:
    row = db.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


def migrate_sqlite(db: sqlite3.Connection, upto: int | None = None) -> None:
    """Apply the migrations ``db`` lacks (up to ``upto``, default all), each in its own
    transaction with its row in ``schema_migrations``."""
    db.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
               "(version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)")
    current = sqlite_version(db)
    if current > len(MIGRATIONS):
        raise IngestStoreError(f"ingest database is at schema version {current}, newer than "
                               f"this release ({len(MIGRATIONS)}); refusing to touch it")
    db.create_function("sha256", 1, token_hash, deterministic=True)
    target = len(MIGRATIONS) if upto is None else upto
    for number in range(current + 1, target + 1):
        if sqlite_version(db) >= number:
            continue  # another connection (the console, a tracker, ingest) applied it meanwhile
        sql = MIGRATIONS[number - 1].sqlite
        try:
            db.executescript(f"BEGIN IMMEDIATE; {sql}; INSERT INTO schema_migrations VALUES "
                             f"({number}, {time.time()!r}); COMMIT;")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            # The step is one transaction: if another connection got the write lock first and
            # applied it, ours failed on what it had done (a column that exists, the version
            # row) and is rolled back whole; the step is done, not failed.
            if sqlite_version(db) >= number:
                continue
            raise IngestStoreError(f"migration {number} failed: {exc}") from exc


class IngestStore(Protocol):
    """What the worker needs of a store; each backend implements it with its own SQL."""

    def add(self, v: Verified) -> Added:
        """``add_many([v])[0]``."""

    def add_many(self, vs: Sequence[Verified]) -> list[Added]:
        """Into the open batch (opened if none), one outcome per record in order: NEW, or a
        DUPLICATE / REPLAY of a stored record or of an earlier one in ``vs``. Raises
        IngestStoreError after rolling the whole batch back."""

    def reject(self, topic: str, reason: str) -> None: ...

    def commit(self) -> None:
        """End the batch; raises IngestStoreError after rolling it back."""

    def rollback(self) -> None: ...
    def count(self) -> int: ...
    def sequences(self, station_id: str) -> list[int]: ...
    def rejections(self) -> list[tuple[str, str]]: ...
    def token(self, record_id: str) -> bytes | None: ...
    def audit(self, record_id: str) -> AuditRow | None: ...
    def purge(self, older_than: float) -> int: ...
    def enqueue_webhook(self, record_id: str, at: float) -> None: ...
    def due_webhooks(self, now: float, limit: int) -> list[tuple[str, int, bytes | None]]: ...
    def webhook_done(self, record_id: str, at: float) -> None: ...
    def webhook_retry(self, record_id: str, next_at: float, error: str) -> None: ...
    def webhook_state(self, record_id: str) -> tuple[int, float | None, str | None] | None: ...
    def version(self) -> int: ...
    def close(self) -> None: ...
