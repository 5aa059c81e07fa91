"""The production store: PostgreSQL through psycopg 3 (the ``backend`` extra).

The same numbered :data:`~station.ingest.store.MIGRATIONS` as the embedded store, recorded in
``schema_migrations``; several workers starting at once take a transaction-scoped advisory
lock, so one migrates and the others find it done.

Several workers share the stream, so idempotence is the database's job: ``INSERT … ON
CONFLICT DO NOTHING`` on the primary key (record id) and the unique (station, sequence). A
worker inserting a record another worker holds in its open batch waits for that batch's commit
(or rollback) and then sees it as a duplicate (or inserts it); it never receipts a record that
is not committed. A batch's rows are inserted in record-id order (a UUIDv7: about the desks'
tap order), so two batches holding some of the same records take their rows in one order and
cannot deadlock (in arrival order they did: PostgreSQL aborted one, its batch went unreceipted
and its stations re-sent it a receipt timeout later — late, never lost). A deadlock still
possible across several statements of one transaction ends the same way.

A connection the server dropped (a restart, a failover) fails the batch it was in and is
opened again for the next one; a multi-host DSN with ``target_session_attrs=read-write`` makes
that a failover to whichever host is now the primary.

Deleted or updated rows (retention, migration 2's removal of the plaintext column) are
physically reclaimed by (auto)vacuum, not overwritten at once: the data directory must be on
an encrypted volume like any PII store.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from typing import Any

import psycopg

from station.ingest.store import (
    MIGRATIONS,
    Added,
    AuditRow,
    IngestStoreError,
    audit_row,
    decide,
    token_hash,
)
from station.ingest.verification import Verified

_MIGRATION_LOCK = 0x5354_4E49  # any constant shared by every worker of this schema


class PostgresStore:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        try:
            self.conn = psycopg.connect(dsn, autocommit=False)
        except psycopg.Error as exc:
            raise IngestStoreError(f"cannot connect to PostgreSQL: {type(exc).__name__}") \
                from exc
        self._open = False
        """A batch is open: reads join it; otherwise a read's implicit transaction is ended."""
        migrate_postgres(self.conn)

    def _live(self) -> psycopg.Connection[Any]:
        """The connection, opened again if the server dropped it (a restart, a failover to a
        standby: with a multi-host DSN and ``target_session_attrs=read-write`` libpq finds the
        new primary). Only between batches: a batch whose connection died has already failed
        (:meth:`_failed`), so nothing of it is receipted and the stations re-send it."""
        if (self.conn.closed or self.conn.broken) and not self._open:
            try:
                self.conn = psycopg.connect(self.dsn, autocommit=False)
            except psycopg.Error as exc:
                raise IngestStoreError(
                    f"cannot reconnect to PostgreSQL: {type(exc).__name__}") from exc
        return self.conn

    def _failed(self, what: str, exc: psycopg.Error) -> IngestStoreError:
        self._open = False
        with contextlib.suppress(psycopg.Error):  # gone: the server rolled it back itself
            self.conn.rollback()
        return IngestStoreError(f"{what} failed: {type(exc).__name__}: {exc}")

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            rows = self._live().execute(sql, params).fetchall()
            if not self._open:
                self.conn.commit()
        except psycopg.Error as exc:
            raise self._failed("read", exc) from exc
        return rows

    def version(self) -> int:
        return int(self._read("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")[0][0])

    def add(self, v: Verified) -> Added:
        return self.add_many([v])[0]

    def add_many(self, vs: Sequence[Verified]) -> list[Added]:
        """The batch in one ``INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING RETURNING``
        (one round trip), rows in record-id order (see the module docstring), results in the
        batch's order; only when some rows conflicted, one more ``SELECT`` of the
        rows holding their ids or (station, sequence) classifies each as :func:`decide` does
        for one record. A record repeated inside the batch conflicts with its own first
        occurrence, so it is a duplicate (same bytes) or a replay, as across batches.

        The arrays go in binary (``%b``): in text form psycopg quotes and escapes every element
        in Python and the server parses the hex of every token back — about 30-40 µs of the
        worker's CPU per record, against ~4 µs so."""
        if not vs:
            return []
        shas = [token_hash(v.token) for v in vs]
        now = time.time()
        try:
            conn = self._live()
            self._open = True
            inserted = {(str(r[0]), bytes(r[1])) for r in conn.execute(
                "INSERT INTO received (record_id, station_id, seq, wall, profile, outcome, "
                "token, token_sha256, received_at) "
                "SELECT r, s, q, w, p, o, t, h, %s FROM unnest(%b::text[], %b::text[], "
                "%b::bigint[], %b::text[], %b::text[], %b::text[], %b::bytea[], %b::bytea[]) "
                "AS b(r, s, q, w, p, o, t, h) ORDER BY r "
                "ON CONFLICT DO NOTHING RETURNING record_id, token_sha256",
                (now, [v.record.record_id for v in vs], [v.record.station_id for v in vs],
                 [v.record.seq for v in vs], [v.record.wall for v in vs],
                 [v.record.profile for v in vs], [v.record.outcome for v in vs],
                 [v.token for v in vs], shas)).fetchall()}
            out: list[Added | None] = []
            for v, sha in zip(vs, shas, strict=True):
                # The same id and bytes twice in the batch: the first is new, the repeat
                # conflicted with it (which of two identical records is "first" is moot).
                if (v.record.record_id, sha) in inserted:
                    inserted.discard((v.record.record_id, sha))
                    out.append(Added.NEW)
                else:
                    out.append(None)
            conflicted = [v for v, a in zip(vs, out, strict=True) if a is None]
            held: list[tuple[str, str, int, bytes]] = []
            if conflicted:
                # A new statement, so a new snapshot: rows another worker committed while our
                # INSERT waited on them are visible (READ COMMITTED), as in add's second query.
                held = [(str(r[0]), str(r[1]), int(r[2]), bytes(r[3])) for r in self.conn.execute(
                    "SELECT record_id, station_id, seq, token_sha256 FROM received "
                    "WHERE record_id = ANY(%b::text[]) OR (station_id, seq) IN "
                    "(SELECT * FROM unnest(%b::text[], %b::bigint[]))",
                    ([v.record.record_id for v in conflicted],
                     [v.record.station_id for v in conflicted],
                     [v.record.seq for v in conflicted])).fetchall()]
        except psycopg.Error as exc:
            raise self._failed("insert", exc) from exc
        result: list[Added] = []
        for v, sha, a in zip(vs, shas, out, strict=True):
            if a is not None:
                result.append(a)
                continue
            rec = v.record
            rows = [(rid, h) for rid, sid, seq, h in held
                    if rid == rec.record_id or (sid == rec.station_id and seq == rec.seq)]
            result.append(decide(rows, rec.record_id, sha))
        return result

    def reject(self, topic: str, reason: str) -> None:
        try:
            conn = self._live()
            self._open = True
            conn.execute("INSERT INTO rejected (topic, reason, received_at) "
                              "VALUES (%s, %s, %s)", (topic, reason, time.time()))
        except psycopg.Error as exc:
            raise self._failed("insert", exc) from exc

    def commit(self) -> None:
        try:
            self.conn.commit()
            self._open = False
        except psycopg.Error as exc:
            raise self._failed("commit", exc) from exc

    def rollback(self) -> None:
        self._open = False
        self.conn.rollback()

    def count(self) -> int:
        return int(self._read("SELECT COUNT(*) FROM received")[0][0])

    def sequences(self, station_id: str) -> list[int]:
        rows = self._read("SELECT seq FROM received WHERE station_id=%s ORDER BY arrival",
                          (station_id,))
        return [int(r[0]) for r in rows]

    def rejections(self) -> list[tuple[str, str]]:
        rows = self._read("SELECT topic, reason FROM rejected ORDER BY arrival")
        return [(str(r[0]), str(r[1])) for r in rows]

    def token(self, record_id: str) -> bytes | None:
        rows = self._read("SELECT token FROM received WHERE record_id=%s", (record_id,))
        return None if not rows or rows[0][0] is None else bytes(rows[0][0])

    def audit(self, record_id: str) -> AuditRow | None:
        rows = self._read(
            "SELECT record_id, station_id, seq, wall, profile, outcome, token_sha256, "
            "received_at, purged_at FROM received WHERE record_id=%s", (record_id,))
        return audit_row(rows[0]) if rows else None

    def purge(self, older_than: float) -> int:
        try:
            cur = self._live().execute(
                "UPDATE received SET token=NULL, purged_at=%s WHERE token IS NOT NULL AND "
                "received_at < %s", (time.time(), older_than))
            self.conn.commit()
        except psycopg.Error as exc:
            raise self._failed("purge", exc) from exc
        return int(cur.rowcount)

    def enqueue_webhook(self, record_id: str, at: float) -> None:
        try:
            conn = self._live()
            self._open = True
            conn.execute("INSERT INTO webhook (record_id, next_at) VALUES (%s, %s) "
                              "ON CONFLICT DO NOTHING", (record_id, at))
        except psycopg.Error as exc:
            raise self._failed("insert", exc) from exc

    def due_webhooks(self, now: float, limit: int) -> list[tuple[str, int, bytes | None]]:
        rows = self._read(
            "SELECT w.record_id, w.attempts, r.token FROM webhook w JOIN received r "
            "ON r.record_id = w.record_id WHERE w.delivered_at IS NULL AND w.next_at <= %s "
            "ORDER BY w.next_at LIMIT %s", (now, limit))
        return [(str(r[0]), int(r[1]), None if r[2] is None else bytes(r[2])) for r in rows]

    def webhook_done(self, record_id: str, at: float) -> None:
        self._write("UPDATE webhook SET delivered_at=%s, attempts=attempts+1, last_error=NULL "
                    "WHERE record_id=%s", (at, record_id))

    def webhook_retry(self, record_id: str, next_at: float, error: str) -> None:
        self._write("UPDATE webhook SET attempts=attempts+1, next_at=%s, last_error=%s "
                    "WHERE record_id=%s", (next_at, error, record_id))

    def webhook_state(self, record_id: str) -> tuple[int, float | None, str | None] | None:
        rows = self._read("SELECT attempts, delivered_at, last_error FROM webhook "
                          "WHERE record_id=%s", (record_id,))
        return (int(rows[0][0]), rows[0][1], rows[0][2]) if rows else None

    def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        try:
            self._live().execute(sql.encode(), params)
            self.conn.commit()
            self._open = False
        except psycopg.Error as exc:
            raise self._failed("write", exc) from exc

    def close(self) -> None:
        self.conn.close()


class PostgresFleetDb:
    """The fleet store's connection (:class:`station.ingest.fleet.store.FleetDb`): its own, so
    the tracker's writes never join an ingest batch."""

    def __init__(self, dsn: str) -> None:
        try:
            self.conn = psycopg.connect(dsn, autocommit=False)
        except psycopg.Error as exc:
            raise IngestStoreError(f"cannot connect to PostgreSQL: {type(exc).__name__}") \
                from exc
        migrate_postgres(self.conn)

    @staticmethod
    def _sql(sql: str) -> bytes:
        # The fleet's SQL is written once with "?" placeholders and holds no "%" or "?" of
        # its own.
        return sql.replace("?", "%s").encode()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            rows = self.conn.execute(self._sql(sql), tuple(params)).fetchall()
            self.conn.commit()
        except psycopg.Error as exc:
            with contextlib.suppress(psycopg.Error):
                self.conn.rollback()
            raise IngestStoreError(f"fleet read failed: {type(exc).__name__}") from exc
        return rows

    def write(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        try:
            for sql, params in statements:
                self.conn.execute(self._sql(sql), tuple(params))
            self.conn.commit()
        except psycopg.Error as exc:
            with contextlib.suppress(psycopg.Error):
                self.conn.rollback()
            raise IngestStoreError(f"fleet write failed: {type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        self.conn.close()


def migrate_postgres(conn: psycopg.Connection[Any], upto: int | None = None) -> None:
    """Apply the migrations the database lacks (up to ``upto``), each in its own transaction
    with its row in ``schema_migrations``."""
    target = len(MIGRATIONS) if upto is None else upto
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                         "(version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)")
            row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"
                               ).fetchone()
            current = int(row[0]) if row else 0
            if current > len(MIGRATIONS):
                raise IngestStoreError(
                    f"ingest database is at schema version {current}, newer than this "
                    f"release ({len(MIGRATIONS)}); refusing to touch it")
            for number in range(current + 1, target + 1):
                with conn.transaction():  # a savepoint per step: a failure names its number
                    conn.execute(MIGRATIONS[number - 1].postgres.encode())
                    conn.execute("INSERT INTO schema_migrations VALUES (%s, %s)",
                                 (number, time.time()))
    except psycopg.Error as exc:
        raise IngestStoreError(f"migration failed: {type(exc).__name__}: {exc}") from exc
