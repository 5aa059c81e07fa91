"""Where ingest keeps what it received: accepted records and rejections.

The schema is a list of numbered :data:`MIGRATIONS`; the numbers applied are recorded in the
``schema_migrations`` table, so a database is brought forward from whatever version it is at
and a database from a newer release is refused rather than guessed at. Migration 1 is the
schema ingest created before migrations existed (``CREATE TABLE IF NOT EXISTS``), so a file made
by an older release is adopted as version 1.

Writes go into one open transaction per batch (:meth:`SqliteStore.add` opens it,
:meth:`SqliteStore.commit` ends it): one fsync per batch, not one per record. The store is not
thread-safe; :class:`station.ingest.worker.Ingest` serialises calls.
"""

from __future__ import annotations

import enum
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from station.errors import StoreError
from station.ingest.verification import Verified
from station.pipeline.records import b64url


class IngestStoreError(StoreError):
    """The ingest database refused a write or is of an unknown version (the batch is rolled
    back: nothing of it is receipted, the stations re-send)."""


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
    why: str
    sqlite: str


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
    ),
)


class SqliteStore:
    """The embedded store: one SQLite file (WAL, ``synchronous=FULL``), for the demo and a
    single small site."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        migrate_sqlite(self.db)

    def version(self) -> int:
        return sqlite_version(self.db)

    def _begin(self) -> None:
        if not self.db.in_transaction:
            self.db.execute("BEGIN IMMEDIATE")

    def add(self, v: Verified) -> Added:
        rec = v.record
        self._begin()
        row = self.db.execute(
            "SELECT record_id, token FROM received WHERE record_id=? OR "
            "(station_id=? AND seq=?)", (rec.record_id, rec.station_id, rec.seq)).fetchone()
        if row is None:
            self.db.execute(
                "INSERT INTO received VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (rec.record_id, rec.station_id, rec.seq, rec.wall, rec.profile, rec.outcome,
                 v.token, citizen_json(v), time.time()))
            return Added.NEW
        if row[0] == rec.record_id and bytes(row[1]) == v.token:
            return Added.DUPLICATE
        return Added.REPLAY

    def reject(self, topic: str, reason: str) -> None:
        self._begin()
        self.db.execute("INSERT INTO rejected VALUES (?, ?, ?)", (topic, reason, time.time()))

    def commit(self) -> None:
        try:
            if self.db.in_transaction:
                self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise IngestStoreError(f"commit failed: {exc}") from exc

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

    def close(self) -> None:
        self.db.close()


def citizen_json(v: Verified) -> str | None:
    if v.citizen is None:
        return None
    return json.dumps({k: {"b64": b64url(x)} if isinstance(x, bytes) else x
                       for k, x in v.citizen.items()}, ensure_ascii=False)


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
    target = len(MIGRATIONS) if upto is None else upto
    for number in range(current + 1, target + 1):
        sql = MIGRATIONS[number - 1].sqlite
        try:
            db.executescript(f"BEGIN IMMEDIATE; {sql}; INSERT INTO schema_migrations VALUES "
                             f"({number}, {time.time()!r}); COMMIT;")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise IngestStoreError(f"migration {number} failed: {exc}") from exc


class IngestStore(Protocol):
    """What the worker needs of a store; each backend implements it with its own SQL."""

    def add(self, v: Verified) -> Added: ...
    def reject(self, topic: str, reason: str) -> None: ...
    def commit(self) -> None: ...
    def count(self) -> int: ...
    def sequences(self, station_id: str) -> list[int]: ...
    def rejections(self) -> list[tuple[str, str]]: ...
    def version(self) -> int: ...
    def close(self) -> None: ...
