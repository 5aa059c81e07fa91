"""The console's side of the backend database: staff accounts, sessions, the audit log, and the
desk feed read from what ingest committed.

The schema is ingest's (:data:`station.ingest.store.MIGRATIONS`, number 4): one database, one
numbered history. This module opens its own connection (ingest's store is not thread-safe and
lives in another process or thread) and never writes to ``received`` except to delete a
record's citizen data on a desk system's acknowledgement.

The **feed cursor** is commit order, so a reader polling "since cursor" never skips a record
that commits late: on SQLite writers are serialised and the arrival column is assigned at
insert (MAX+1), which is commit order; on PostgreSQL identities are handed out at insert, so
the feed orders by (inserting transaction id, arrival) and returns only rows of transactions
older than every transaction still running (``pg_snapshot_xmin``) — later ones wait for the next
poll. A :class:`Cursor` is opaque to clients (``"<xact>-<arrival>"``; xact is 0 on SQLite).

One connection per process behind a lock: the web server's threads take turns, each statement
short. Every method raises :class:`ConsoleStoreError` (no SQL text with values, no data).
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from station import keys
from station.errors import StoreError
from station.ingest.store import migrate_sqlite

Role = Literal["clerk", "operator", "admin"]
ROLES: tuple[Role, ...] = ("clerk", "operator", "admin")


class ConsoleStoreError(StoreError):
    """The console database refused a statement (nothing half-written: each call is its own
    transaction)."""


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: Role
    password_hash: str
    disabled: bool
    desks: frozenset[str]
    """Station ids this account is bound to (clerks; other roles may have none)."""


@dataclass(frozen=True, order=True)
class Cursor:
    """A position in the desk feed, in commit order."""

    xact: int
    arrival: int

    def __str__(self) -> str:
        return f"{self.xact}-{self.arrival}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        xact, sep, arrival = text.partition("-")
        if not sep or not xact.isdigit() or not arrival.isdigit():
            raise ValueError("a cursor is two numbers joined by '-'")
        return cls(int(xact), int(arrival))


START = Cursor(0, 0)


@dataclass(frozen=True)
class FeedRow:
    """A committed record as the feed sees it: routing and audit fields, and the stored token
    (None once acknowledged or purged by retention)."""

    cursor: Cursor
    record_id: str
    station_id: str
    seq: int
    wall: str
    profile: str
    outcome: str
    received_at: float
    token: bytes | None


@dataclass(frozen=True)
class AuditEntry:
    at: float
    user_name: str
    action: str
    record_id: str | None
    detail: str


def secret_sha256(secret: str) -> bytes:
    """Sessions and API tokens are stored as the SHA-256 of their secret: 32 random bytes, so
    a fast hash suffices; a stolen database opens no session."""
    return hashlib.sha256(secret.encode("ascii")).digest()


_FEED_COLUMNS = ("record_id, station_id, seq, wall, profile, outcome, received_at, token")


class ConsoleStore:
    """SQLite (a path) or PostgreSQL (a ``postgresql://`` DSN), the same SQL with ``?``
    placeholders (rewritten to ``%s`` for psycopg)."""

    def __init__(self, target: Path | str) -> None:
        text = str(target)
        self._lock = threading.Lock()
        self.postgres = text.startswith(("postgresql://", "postgres://"))
        self._pg_error: type[Exception] = sqlite3.Error
        if self.postgres:
            # Deferred on purpose: psycopg is the ``backend`` extra.
            import psycopg

            from station.ingest.postgres import migrate_postgres

            self._pg_error = psycopg.Error
            try:
                self._pg = psycopg.connect(text, autocommit=True)
            except psycopg.Error as exc:
                raise ConsoleStoreError(
                    f"cannot connect to PostgreSQL: {type(exc).__name__}") from exc
            self._pg.autocommit = False
            try:
                migrate_postgres(self._pg)
            finally:
                self._pg.autocommit = True
        else:
            if text != ":memory:":
                keys.private_database(Path(text))
            self._db = sqlite3.connect(text, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA busy_timeout=5000")  # ingest's batch holds the lock briefly
            self._db.execute("PRAGMA secure_delete=ON")
            migrate_sqlite(self._db)

    # -- plumbing -------------------------------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        """One transaction; yields an ``execute(sql, params)`` callable."""
        with self._lock:
            if self.postgres:
                try:
                    with self._pg.transaction():
                        yield lambda sql, p=(): self._pg.execute(sql.replace("?", "%s"), p)
                except self._pg_error as exc:
                    raise ConsoleStoreError(f"console database: {type(exc).__name__}") \
                        from exc
            else:
                try:
                    self._db.execute("BEGIN IMMEDIATE")
                    yield lambda sql, p=(): self._db.execute(sql, p)
                    self._db.execute("COMMIT")
                except sqlite3.Error as exc:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise ConsoleStoreError(f"console database: {exc}") from exc
                except BaseException:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                if self.postgres:
                    return list(self._pg.execute(sql.replace("?", "%s"), params).fetchall())
                return list(self._db.execute(sql, params).fetchall())
            except (sqlite3.Error, self._pg_error) as exc:
                raise ConsoleStoreError(f"console database: {type(exc).__name__}") from exc

    def close(self) -> None:
        with self._lock:
            (self._pg if self.postgres else self._db).close()

    # -- accounts -------------------------------------------------------------------------

    def add_user(self, name: str, role: Role, password_hash: str) -> int:
        if role not in ROLES:
            raise ConsoleStoreError(f"unknown role {role!r}")
        with self._tx() as ex:
            if ex("SELECT 1 FROM console_user WHERE name=?", (name,)).fetchone():
                raise ConsoleStoreError(f"user {name!r} exists")
            row = ex("INSERT INTO console_user (name, role, password_hash, created_at) "
                     "VALUES (?, ?, ?, ?) RETURNING id",
                     (name, role, password_hash, time.time())).fetchone()
        return int(row[0])

    def set_password(self, name: str, password_hash: str) -> None:
        with self._tx() as ex:
            if ex("UPDATE console_user SET password_hash=? WHERE name=?",
                  (password_hash, name)).rowcount != 1:
                raise ConsoleStoreError(f"no user {name!r}")

    def disable_user(self, name: str) -> None:
        """No more sign-ins or API calls; existing sessions and tokens stop working."""
        with self._tx() as ex:
            if ex("UPDATE console_user SET disabled_at=? WHERE name=?",
                  (time.time(), name)).rowcount != 1:
                raise ConsoleStoreError(f"no user {name!r}")
            ex("DELETE FROM console_session WHERE user_id IN "
               "(SELECT id FROM console_user WHERE name=?)", (name,))

    def bind(self, name: str, station_id: str) -> None:
        with self._tx() as ex:
            row = ex("SELECT id FROM console_user WHERE name=?", (name,)).fetchone()
            if row is None:
                raise ConsoleStoreError(f"no user {name!r}")
            ex("INSERT INTO console_desk (user_id, station_id) VALUES (?, ?) "
               "ON CONFLICT DO NOTHING", (int(row[0]), station_id))

    def unbind(self, name: str, station_id: str) -> None:
        with self._tx() as ex:
            ex("DELETE FROM console_desk WHERE station_id=? AND user_id IN "
               "(SELECT id FROM console_user WHERE name=?)", (station_id, name))

    def user(self, name: str) -> User | None:
        rows = self._rows("SELECT id, name, role, password_hash, disabled_at FROM console_user "
                          "WHERE name=?", (name,))
        return self._user(rows[0]) if rows else None

    def users(self) -> list[User]:
        rows = self._rows("SELECT id, name, role, password_hash, disabled_at FROM console_user "
                          "ORDER BY name")
        return [self._user(r) for r in rows]

    def _user(self, row: tuple[Any, ...]) -> User:
        desks = self._rows("SELECT station_id FROM console_desk WHERE user_id=?", (row[0],))
        return User(int(row[0]), str(row[1]), row[2], str(row[3]), row[4] is not None,
                    frozenset(str(d[0]) for d in desks))

    # -- sessions and API tokens ----------------------------------------------------------

    def add_session(self, secret: str, user_id: int, expires_at: float) -> None:
        with self._tx() as ex:
            ex("DELETE FROM console_session WHERE expires_at < ?", (time.time(),))
            ex("INSERT INTO console_session (token_sha256, user_id, created_at, expires_at) "
               "VALUES (?, ?, ?, ?)", (secret_sha256(secret), user_id, time.time(), expires_at))

    def session_user(self, secret: str) -> User | None:
        rows = self._rows(
            "SELECT u.id, u.name, u.role, u.password_hash, u.disabled_at FROM console_session s "
            "JOIN console_user u ON u.id = s.user_id WHERE s.token_sha256=? AND s.expires_at>?",
            (secret_sha256(secret), time.time()))
        user = self._user(rows[0]) if rows else None
        return None if user is None or user.disabled else user

    def end_session(self, secret: str) -> None:
        with self._tx() as ex:
            ex("DELETE FROM console_session WHERE token_sha256=?", (secret_sha256(secret),))

    def add_token(self, secret: str, name: str, label: str) -> None:
        with self._tx() as ex:
            row = ex("SELECT id FROM console_user WHERE name=?", (name,)).fetchone()
            if row is None:
                raise ConsoleStoreError(f"no user {name!r}")
            ex("INSERT INTO console_token (token_sha256, user_id, label, created_at) "
               "VALUES (?, ?, ?, ?)", (secret_sha256(secret), int(row[0]), label, time.time()))

    def revoke_tokens(self, name: str) -> int:
        with self._tx() as ex:
            return int(ex("UPDATE console_token SET revoked_at=? WHERE revoked_at IS NULL AND "
                          "user_id IN (SELECT id FROM console_user WHERE name=?)",
                          (time.time(), name)).rowcount)

    def token_user(self, secret: str) -> User | None:
        rows = self._rows(
            "SELECT u.id, u.name, u.role, u.password_hash, u.disabled_at FROM console_token t "
            "JOIN console_user u ON u.id = t.user_id WHERE t.token_sha256=? AND "
            "t.revoked_at IS NULL", (secret_sha256(secret),))
        user = self._user(rows[0]) if rows else None
        return None if user is None or user.disabled else user

    # -- sign-in attempts -----------------------------------------------------------------

    def add_attempt(self, user_name: str, remote: str, ok: bool) -> None:
        with self._tx() as ex:
            # Older than a day: no policy looks that far back.
            ex("DELETE FROM console_signin WHERE at < ?", (time.time() - 86400,))
            ex("INSERT INTO console_signin (user_name, remote, at, ok) VALUES (?, ?, ?, ?)",
               (user_name, remote, time.time(), ok))

    def failures_since(self, user_name: str, since: float) -> list[float]:
        """Times of failed sign-ins of this account since ``since`` and after its last
        successful one, oldest first."""
        rows = self._rows(
            "SELECT at FROM console_signin WHERE user_name=? AND at>=? AND NOT ok AND at > "
            "COALESCE((SELECT MAX(at) FROM console_signin WHERE user_name=? AND ok), 0) "
            "ORDER BY at", (user_name, since, user_name))
        return [float(r[0]) for r in rows]

    def attempts_from(self, remote: str, since: float) -> int:
        rows = self._rows("SELECT COUNT(*) FROM console_signin WHERE remote=? AND at>=?",
                          (remote, since))
        return int(rows[0][0])

    # -- audit ----------------------------------------------------------------------------

    def audit(self, user_name: str, action: str, record_id: str | None = None,
              detail: str = "") -> None:
        """One line of the audit log: who did what to which record id. ``detail`` is a word or
        two of context (a form name, a desk id), never citizen data."""
        with self._tx() as ex:
            ex("INSERT INTO console_audit (at, user_name, action, record_id, detail) "
               "VALUES (?, ?, ?, ?, ?)", (time.time(), user_name, action, record_id, detail))

    def audit_log(self, record_id: str | None = None, limit: int = 200) -> list[AuditEntry]:
        where, params = ("WHERE record_id=?", (record_id, limit)) if record_id else ("", (limit,))
        rows = self._rows(f"SELECT at, user_name, action, record_id, detail FROM console_audit "
                          f"{where} ORDER BY id DESC LIMIT ?", params)
        return [AuditEntry(float(r[0]), str(r[1]), str(r[2]), r[3], str(r[4])) for r in rows]

    # -- the desk feed --------------------------------------------------------------------

    def feed(self, desks: Sequence[str] | None, after: Cursor, limit: int) -> list[FeedRow]:
        """Committed records of ``desks`` (None: every desk) after ``after``, in commit order,
        at most ``limit``."""
        if desks is not None and not desks:
            return []
        marks = ", ".join("?" for _ in desks or ())
        where = f"station_id IN ({marks}) AND " if desks is not None else ""
        if self.postgres:
            rows = self._rows(
                f"SELECT xact::text::bigint, arrival, {_FEED_COLUMNS} FROM received "
                f"WHERE {where}(xact, arrival) > (?::text::xid8, ?) "
                "AND xact < pg_snapshot_xmin(pg_current_snapshot()) "
                "ORDER BY xact, arrival LIMIT ?",
                (*(desks or ()), str(after.xact), after.arrival, limit))
        else:
            rows = self._rows(
                f"SELECT 0, arrival, {_FEED_COLUMNS} FROM received "
                f"WHERE {where}arrival > ? ORDER BY arrival LIMIT ?",
                (*(desks or ()), after.arrival, limit))
        return [_feed_row(r) for r in rows]

    def recent(self, desks: Sequence[str], since: float, limit: int = 50) -> list[FeedRow]:
        """Records of ``desks`` received since ``since`` whose data is still held, oldest
        first."""
        if not desks:
            return []
        marks = ", ".join("?" for _ in desks)
        xact = "xact::text::bigint" if self.postgres else "0"
        rows = self._rows(
            f"SELECT {xact}, arrival, {_FEED_COLUMNS} FROM received WHERE station_id IN "
            f"({marks}) AND received_at >= ? AND token IS NOT NULL "
            "ORDER BY received_at DESC LIMIT ?", (*desks, since, limit))
        return [_feed_row(r) for r in reversed(rows)]

    def head(self) -> Cursor:
        """The cursor after everything committed now (a live view starts here)."""
        if self.postgres:
            rows = self._rows(
                "SELECT xact::text::bigint, arrival FROM received "
                "WHERE xact < pg_snapshot_xmin(pg_current_snapshot()) "
                "ORDER BY xact DESC, arrival DESC LIMIT 1")
        else:
            rows = self._rows("SELECT 0, arrival FROM received ORDER BY arrival DESC LIMIT 1")
        return Cursor(int(rows[0][0]), int(rows[0][1])) if rows else START

    def record(self, record_id: str) -> FeedRow | None:
        xact = "xact::text::bigint" if self.postgres else "0"
        rows = self._rows(f"SELECT {xact}, arrival, {_FEED_COLUMNS} FROM received "
                          "WHERE record_id=?", (record_id,))
        return _feed_row(rows[0]) if rows else None

    def acknowledge(self, record_id: str, user_name: str) -> bool:
        """Delete the record's citizen data (its token) and log who did it, in one
        transaction; the audit row in ``received`` stays. False when already gone."""
        with self._tx() as ex:
            n = ex("UPDATE received SET token=NULL, purged_at=? WHERE record_id=? AND "
                   "token IS NOT NULL", (time.time(), record_id)).rowcount
            if n:
                ex("INSERT INTO console_audit (at, user_name, action, record_id, detail) "
                   "VALUES (?, ?, 'acknowledged', ?, '')", (time.time(), user_name, record_id))
        return bool(n)


def _feed_row(r: tuple[Any, ...]) -> FeedRow:
    return FeedRow(Cursor(int(r[0]), int(r[1])), str(r[2]), str(r[3]), int(r[4]), str(r[5]),
                   str(r[6]), str(r[7]), float(r[8]), None if r[9] is None else bytes(r[9]))
