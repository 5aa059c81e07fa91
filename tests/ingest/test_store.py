"""The ingest store's schema: numbered migrations recorded in schema_migrations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from station.ingest.store import MIGRATIONS, IngestStoreError, SqliteStore, migrate_sqlite

# The schema ingest created before numbered migrations existed, verbatim.
_LEGACY = """
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
"""


def test_empty_database_gets_every_migration(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "i.sqlite3")
    assert store.version() == len(MIGRATIONS)
    rows = store.db.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    assert [r[0] for r in rows] == list(range(1, len(MIGRATIONS) + 1))
    store.close()
    again = SqliteStore(tmp_path / "i.sqlite3")  # reopening applies nothing twice
    assert again.version() == len(MIGRATIONS)
    again.close()


def test_file_from_before_migrations_is_adopted(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(_LEGACY)
    db.execute("INSERT INTO received VALUES ('r1', 'desk-1', 1, 'w', 'p', 'o', x'00', NULL, 1)")
    db.commit()
    db.close()
    store = SqliteStore(path)
    assert store.version() == len(MIGRATIONS)
    assert store.count() == 1 and store.sequences("desk-1") == [1]
    store.close()


def test_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    SqliteStore(path).close()
    db = sqlite3.connect(path)
    db.execute("INSERT INTO schema_migrations VALUES (?, 0)", (len(MIGRATIONS) + 1,))
    db.commit()
    db.close()
    with pytest.raises(IngestStoreError, match="newer"):
        SqliteStore(path)


def test_migrations_step_by_step(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "s.sqlite3", isolation_level=None)
    for n in range(1, len(MIGRATIONS) + 1):
        migrate_sqlite(db, upto=n)
        assert db.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0] == n
