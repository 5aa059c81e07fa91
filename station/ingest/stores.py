"""Opening the backend's store by its target: a SQLite file, or PostgreSQL by URL."""

from __future__ import annotations

from pathlib import Path

from station.ingest.store import IngestStore, SqliteStore


def open_store(target: Path | str) -> IngestStore:
    """``postgresql://…`` (or ``postgres://…``): the PostgreSQL store; anything else is the
    path of a SQLite file."""
    text = str(target)
    if text.startswith(("postgresql://", "postgres://")):
        # Deferred on purpose: psycopg is the ``backend`` extra, not on a station.
        from station.ingest.postgres import PostgresStore

        return PostgresStore(text)
    return SqliteStore(target)
