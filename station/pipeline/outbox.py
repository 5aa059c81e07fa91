"""The durable outbox: a real SQLite file in WAL mode with ``synchronous=FULL``.

States: pending → in_flight → acked. ``in_flight`` rows go back to pending at start (the
process died before their PUBACK). Acked rows lose their payload and keep only audit metadata.
Schema changes are numbered migrations in :data:`MIGRATIONS`.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from station.errors import StoreError

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
)


@dataclass(frozen=True)
class Pending:
    id: str
    seq: int
    topic: str
    payload: bytes


class Outbox:
    """One writer; safe to call from several threads (calls are serialised by a lock)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self._migrate()
            self.conn.execute("UPDATE records SET state='pending' WHERE state='in_flight'")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"outbox {self.path.name} unusable: {exc}") from None
        self._lock = threading.Lock()

    def _migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        for number, sql in enumerate(MIGRATIONS[version:], start=version + 1):
            self.conn.executescript(f"BEGIN; {sql}; PRAGMA user_version={number}; COMMIT;")

    def next_seq(self) -> int:
        with self._lock:
            row = self.conn.execute("SELECT COALESCE(MAX(seq), 0) FROM records").fetchone()
            return int(row[0]) + 1

    def add(self, record_id: str, seq: int, topic: str, payload: bytes) -> None:
        """Store one record; returns only once its transaction is committed (durable)."""
        self.add_many([(record_id, seq, topic, payload)])

    def add_many(self, rows: Iterable[tuple[str, int, str, bytes]]) -> None:
        now = time.time()
        with self._lock:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                self.conn.executemany(
                    "INSERT INTO records (id, seq, created_at, topic, state, payload) "
                    "VALUES (?, ?, ?, ?, 'pending', ?)",
                    [(i, s, now, t, p) for i, s, t, p in rows],
                )
                self.conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise StoreError(f"outbox refused the record: {exc}") from None

    def claim(self, limit: int) -> list[Pending]:
        """Move up to ``limit`` oldest pending records to in_flight and return them in order."""
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            rows = self.conn.execute(
                "SELECT id, seq, topic, payload FROM records WHERE state='pending' "
                "ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
            self.conn.executemany(
                "UPDATE records SET state='in_flight' WHERE id=?", [(r[0],) for r in rows]
            )
            self.conn.execute("COMMIT")
        return [Pending(r[0], r[1], r[2], bytes(r[3])) for r in rows]

    def mark_acked(self, ids: Sequence[str]) -> None:
        """PUBACK succeeded: drop the payload, keep the audit row."""
        if not ids:
            return
        now = time.time()
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.executemany(
                "UPDATE records SET state='acked', payload=NULL, acked_at=? WHERE id=?",
                [(now, i) for i in ids],
            )
            self.conn.execute("COMMIT")

    def release(self, ids: Sequence[str]) -> None:
        """Not delivered (disconnect, refused PUBACK): back to pending, kept."""
        with self._lock:
            self.conn.executemany(
                "UPDATE records SET state='pending' WHERE id=? AND state='in_flight'",
                [(i,) for i in ids],
            )

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self.conn.execute("SELECT state, COUNT(*) FROM records GROUP BY state")
            counts = {"pending": 0, "in_flight": 0, "acked": 0}
            counts.update({s: int(n) for s, n in rows})
            return counts

    def close(self) -> None:
        with self._lock:
            self.conn.close()
