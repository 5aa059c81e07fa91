"""The fleet's tables in the backend store (migration 5 of
:data:`station.ingest.store.MIGRATIONS`): ``fleet_station`` (one row per station: registry
state, last status, last heartbeat), ``fleet_event`` (its recent events, :data:`EVENTS_KEPT`
per station) and ``fleet_command`` (commands sent from the console and their answers, never
their arguments).

One :class:`FleetStore` holds the SQL for both databases; a :class:`FleetDb` is the
connection: :class:`SqliteFleetDb` here, :class:`~station.ingest.postgres.PostgresFleetDb` for
PostgreSQL. The store opens its own connection beside ingest's (same file or database, same
migrations), so the tracker and the console never share ingest's batch transaction. Calls are
serialised by a lock: the tracker writes from paho's thread, the console reads from its own.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from provisioning.registry import RegistryEntry
from station import keys
from station.ingest.fleet.model import (
    CommandReply,
    CommandSent,
    FleetEvent,
    Heartbeat,
    StationRow,
    Status,
)
from station.ingest.store import IngestStoreError, migrate_sqlite

EVENTS_KEPT = 200
"""Recent events kept per station (older ones are deleted as new ones come)."""

Statement = tuple[str, Sequence[Any]]


class FleetDb(Protocol):
    """A connection to the backend store; SQL uses ``?`` placeholders."""

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one read (raises IngestStoreError)."""

    def write(self, statements: Sequence[Statement]) -> None:
        """The statements in one transaction (rolled back and IngestStoreError on failure)."""

    def close(self) -> None: ...


class SqliteFleetDb:
    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            keys.private_database(Path(path))
        # A connection of its own beside ingest's: WAL lets the console read while ingest
        # writes; the timeout waits out ingest's batch commit instead of failing.
        self.db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None,
                                  timeout=10.0)
        self.db.execute("PRAGMA journal_mode=WAL")
        # A heartbeat lost to a power cut is replaced by the next one: no fsync per message.
        self.db.execute("PRAGMA synchronous=NORMAL")
        migrate_sqlite(self.db)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self.db.execute(sql, tuple(params)).fetchall()
        except sqlite3.Error as exc:
            raise IngestStoreError(f"fleet read failed: {exc}") from exc

    def write(self, statements: Sequence[Statement]) -> None:
        try:
            self.db.execute("BEGIN IMMEDIATE")
            for sql, params in statements:
                self.db.execute(sql, tuple(params))
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise IngestStoreError(f"fleet write failed: {exc}") from exc

    def close(self) -> None:
        self.db.close()


_STATION_COLUMNS = (
    "station_id, registered, tls_not_after, revoked_at, state, state_at, health_at, uptime_s, "
    "pending, in_flight, delivered, oldest_pending_age_s, expired, last_seq, outbox_full, "
    "acked, refused, alarms, version, interval_s")

_COMMAND_COLUMNS = "command_id, station_id, cmd, sent_by, sent_at, answered_at, ok, message"


def _station_row(r: tuple[Any, ...]) -> StationRow:
    heartbeat = None if r[6] is None else Heartbeat(
        uptime_s=int(r[7] or 0), pending=int(r[8] or 0), in_flight=int(r[9] or 0),
        delivered=int(r[10] or 0), oldest_pending_age_s=None if r[11] is None else float(r[11]),
        expired=int(r[12] or 0), last_seq=int(r[13] or 0), outbox_full=bool(r[14]),
        acked=int(r[15] or 0), refused=int(r[16] or 0), alarms=tuple(json.loads(r[17])),
        version=r[18], interval_s=None if r[19] is None else float(r[19]))
    return StationRow(
        station_id=str(r[0]), registered=bool(r[1]),
        tls_not_after=None if r[2] is None else dt.datetime.fromisoformat(r[2]),
        revoked_at=r[3], state=r[4], state_at=None if r[5] is None else float(r[5]),
        health_at=None if r[6] is None else float(r[6]), heartbeat=heartbeat)


def _command(r: tuple[Any, ...]) -> CommandSent:
    return CommandSent(str(r[0]), str(r[1]), str(r[2]), str(r[3]), float(r[4]),
                       None if r[5] is None else float(r[5]), None if r[6] is None else bool(r[6]),
                       r[7])


class FleetStore:
    def __init__(self, db: FleetDb) -> None:
        self.db = db
        self._lock = threading.Lock()

    # --- what the tracker writes -----------------------------------------------------------

    def _event(self, station_id: str, kind: str, detail: str, at: float) -> list[Statement]:
        return [
            ("INSERT INTO fleet_event (station_id, at, kind, detail) VALUES (?, ?, ?, ?)",
             (station_id, at, kind, detail)),
            ("DELETE FROM fleet_event WHERE station_id = ? AND event_id <= (SELECT event_id "
             "FROM fleet_event WHERE station_id = ? ORDER BY event_id DESC LIMIT 1 OFFSET ?)",
             (station_id, station_id, EVENTS_KEPT)),
        ]

    def record_status(self, station_id: str, status: Status, *, at: float,
                      retained: bool = False) -> bool:
        """A status message; returns whether it changed what the store knew. A retained copy
        of the state already known (the broker's answer to a resubscription) changes nothing:
        ``state_at`` keeps the time the station really said it."""
        with self._lock:
            rows = self.db.query("SELECT state FROM fleet_station WHERE station_id = ?",
                                 (station_id,))
            before = rows[0][0] if rows else None
            if rows and retained and before == status.state:
                return False
            statements: list[Statement] = [(
                "INSERT INTO fleet_station (station_id, state, state_at, station_time) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (station_id) DO UPDATE SET "
                "state = excluded.state, state_at = excluded.state_at, "
                "station_time = excluded.station_time",
                (station_id, status.state, at, status.station_time))]
            if before != status.state:
                statements += self._event(station_id, "status", status.state, at)
            self.db.write(statements)
            return before != status.state

    def record_health(self, station_id: str, hb: Heartbeat, *, at: float) -> None:
        """A heartbeat: kept as the station's latest; alarms raised or cleared and a new
        software version become events."""
        with self._lock:
            rows = self.db.query("SELECT alarms, version, health_at FROM fleet_station "
                                 "WHERE station_id = ?", (station_id,))
            before: tuple[str, ...] = tuple(json.loads(rows[0][0])) if rows else ()
            version = rows[0][1] if rows else None
            statements: list[Statement] = [(
                "INSERT INTO fleet_station (station_id, health_at, uptime_s, pending, in_flight, "
                "delivered, oldest_pending_age_s, expired, last_seq, outbox_full, acked, "
                "refused, alarms, version, interval_s) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (station_id) DO UPDATE SET health_at = excluded.health_at, "
                "uptime_s = excluded.uptime_s, pending = excluded.pending, "
                "in_flight = excluded.in_flight, delivered = excluded.delivered, "
                "oldest_pending_age_s = excluded.oldest_pending_age_s, "
                "expired = excluded.expired, last_seq = excluded.last_seq, "
                "outbox_full = excluded.outbox_full, acked = excluded.acked, "
                "refused = excluded.refused, alarms = excluded.alarms, "
                "version = excluded.version, interval_s = excluded.interval_s",
                (station_id, at, hb.uptime_s, hb.pending, hb.in_flight, hb.delivered,
                 hb.oldest_pending_age_s, hb.expired, hb.last_seq, hb.outbox_full, hb.acked,
                 hb.refused, json.dumps(list(hb.alarms)), hb.version, hb.interval_s))]
            for alarm in hb.alarms:
                if alarm not in before:
                    statements += self._event(station_id, "alarm", alarm, at)
            for alarm in before:
                if alarm not in hb.alarms:
                    statements += self._event(station_id, "alarm-cleared", alarm, at)
            if version is not None and hb.version is not None and version != hb.version:
                statements += self._event(station_id, "version", f"{version} → {hb.version}",
                                          at)
            self.db.write(statements)

    def record_event(self, station_id: str, kind: str, detail: str, *,
                     at: float | None = None) -> None:
        with self._lock:
            self.db.write(self._event(station_id, kind, detail,
                                      time.time() if at is None else at))

    def command_sent(self, sent: CommandSent) -> None:
        with self._lock:
            self.db.write([
                (f"INSERT INTO fleet_command ({_COMMAND_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                 (sent.command_id, sent.station_id, sent.cmd, sent.sent_by, sent.sent_at,
                  None, None, None)),
                *self._event(sent.station_id, "command-sent", f"{sent.cmd} by {sent.sent_by}",
                             sent.sent_at)])

    def record_reply(self, station_id: str, reply: CommandReply, *, at: float) -> bool:
        """A station's answer; True when it answers a command sent from here (matched by id
        *and* station: a station cannot answer for another)."""
        with self._lock:
            rows = self.db.query("SELECT answered_at FROM fleet_command WHERE command_id = ? "
                                 "AND station_id = ?", (reply.command_id, station_id))
            ours = bool(rows) and rows[0][0] is None
            outcome = "ok" if reply.ok else "refused"
            statements = self._event(station_id, "command",
                                     f"{reply.cmd} {outcome}: {reply.message}", at)
            if ours:
                statements.insert(0, (
                    "UPDATE fleet_command SET answered_at = ?, ok = ?, message = ? "
                    "WHERE command_id = ? AND station_id = ?",
                    (at, reply.ok, reply.message, reply.command_id, station_id)))
            self.db.write(statements)
            return ours

    def sync_registry(self, entries: Mapping[str, RegistryEntry], *,
                      at: float | None = None) -> int:
        """Bring the registry's view in (registered, certificate expiry, revocation); a
        revocation or its reversal becomes an event. Returns how many stations changed."""
        now = time.time() if at is None else at
        with self._lock:
            known = {str(r[0]): (bool(r[1]), r[2], r[3]) for r in self.db.query(
                "SELECT station_id, registered, tls_not_after, revoked_at FROM fleet_station")}
            statements: list[Statement] = []
            changed = 0
            for sid, entry in sorted(entries.items()):
                want = (True, entry.tls_not_after or None, entry.revoked_at)
                have = known.get(sid)
                if have == want:
                    continue
                changed += 1
                statements.append((
                    "INSERT INTO fleet_station (station_id, registered, tls_not_after, "
                    "revoked_at) VALUES (?, ?, ?, ?) ON CONFLICT (station_id) DO UPDATE SET "
                    "registered = excluded.registered, tls_not_after = excluded.tls_not_after, "
                    "revoked_at = excluded.revoked_at", (sid, *want)))
                was_revoked = have is not None and have[2] is not None
                if entry.revoked_at and not was_revoked:
                    statements += self._event(sid, "revoked", f"since {entry.revoked_at}", now)
                elif was_revoked and not entry.revoked_at:
                    statements += self._event(sid, "unrevoked", "back on the access list "
                                              "once the broker's list is regenerated", now)
            for sid, (registered, _, _) in known.items():
                if registered and sid not in entries:
                    changed += 1
                    statements.append(("UPDATE fleet_station SET registered = ? "
                                       "WHERE station_id = ?", (False, sid)))
            if statements:
                self.db.write(statements)
            return changed

    # --- what the console reads ------------------------------------------------------------

    def stations(self) -> list[StationRow]:
        with self._lock:
            rows = self.db.query(f"SELECT {_STATION_COLUMNS} FROM fleet_station "
                                 "ORDER BY station_id")
        return [_station_row(r) for r in rows]

    def station(self, station_id: str) -> StationRow | None:
        with self._lock:
            rows = self.db.query(f"SELECT {_STATION_COLUMNS} FROM fleet_station "
                                 "WHERE station_id = ?", (station_id,))
        return _station_row(rows[0]) if rows else None

    def events(self, station_id: str, limit: int = 50) -> list[FleetEvent]:
        """Newest first."""
        with self._lock:
            rows = self.db.query("SELECT event_id, station_id, at, kind, detail FROM fleet_event "
                                 "WHERE station_id = ? ORDER BY event_id DESC LIMIT ?",
                                 (station_id, limit))
        return [FleetEvent(int(r[0]), str(r[1]), float(r[2]), str(r[3]), str(r[4]))
                for r in rows]

    def commands(self, station_id: str, limit: int = 20) -> list[CommandSent]:
        """Newest first."""
        with self._lock:
            rows = self.db.query(f"SELECT {_COMMAND_COLUMNS} FROM fleet_command "
                                 "WHERE station_id = ? ORDER BY sent_at DESC LIMIT ?",
                                 (station_id, limit))
        return [_command(r) for r in rows]

    def command(self, command_id: str) -> CommandSent | None:
        with self._lock:
            rows = self.db.query(f"SELECT {_COMMAND_COLUMNS} FROM fleet_command "
                                 "WHERE command_id = ?", (command_id,))
        return _command(rows[0]) if rows else None

    def close(self) -> None:
        self.db.close()


def open_fleet_store(target: Path | str) -> FleetStore:
    """The same target as ingest's ``--db``: a ``postgresql://`` DSN or a SQLite path."""
    text = str(target)
    if text.startswith(("postgresql://", "postgres://")):
        # Deferred on purpose: psycopg is the ``backend`` extra.
        from station.ingest.postgres import PostgresFleetDb

        return FleetStore(PostgresFleetDb(text))
    return FleetStore(SqliteFleetDb(target))
