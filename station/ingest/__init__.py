"""The reference ingest backend: what the demo and the integration tests talk to, and the model
for integrators.

It subscribes with a shared subscription (``$share/ingest/stations/+/records``) so several
instances split the load, and for every message:

1. takes the station id from the *topic* (the broker's ACL guarantees who may publish there)
   and looks its Ed25519 key up in the registry — unknown station → rejected;
2. verifies the JWS signature with that key — forged or altered → rejected;
3. checks that the signed payload names the same station — a record re-published under
   another station's topic → rejected;
4. dedupes: the same record id with the same bytes is a QoS 1 duplicate (counted, not stored
   again); the same id or the same sequence number with *different* bytes is a replay or a
   forgery by a leaked key → rejected;
5. opens the sealed citizen fields with the backend's X25519 key (when it has it) and stores
   everything in its own SQLite file, committed before the callback returns — paho sends the
   PUBACK only after that, so an acknowledged record is stored.

Rejections are stored too (topic, reason, time; never the payload) for the operator.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

from station.log import event
from station.pipeline.mqtt import BrokerSettings, make_client
from station.pipeline.records import (
    BadSignature,
    Record,
    RecordError,
    b64url,
    open_sealed,
    verify,
)

log = logging.getLogger(__name__)

SHARED_RECORDS = "$share/ingest/stations/+/records"
SESSION_EXPIRY_S = 24 * 3600

_SCHEMA = """
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


@dataclass(frozen=True)
class Received:
    record: Record
    duplicate: bool
    citizen: Mapping[str, Any] | None
    """The opened citizen fields; None when this instance has no backend key."""


OnRecord = Callable[[Received], None]


class Ingest:
    def __init__(
        self,
        db_path: Path | str,
        settings: BrokerSettings,
        *,
        stations: Mapping[str, ed25519.Ed25519PublicKey],
        backend_key: x25519.X25519PrivateKey | None = None,
        client_id: str = "ingest-1",
        on_record: OnRecord | None = None,
    ) -> None:
        self.db = sqlite3.connect(str(db_path), check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self.settings = settings
        self.stations = dict(stations)
        self.backend_key = backend_key
        self.on_record = on_record
        self.duplicates = 0
        self.rejections: dict[str, int] = {}
        self._client = make_client(client_id, settings)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._subscribed = threading.Event()
        self._client.on_subscribe = lambda *a: self._subscribed.set()

    @property
    def rejected(self) -> int:
        return sum(self.rejections.values())

    def _on_connect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if not rc.is_failure:
            client.subscribe(SHARED_RECORDS, qos=1)

    def _reject(self, topic: str, reason: str) -> None:
        self.rejections[reason] = self.rejections.get(reason, 0) + 1
        with self._lock:
            self.db.execute("INSERT INTO rejected VALUES (?, ?, ?)", (topic, reason, time.time()))
        event(log, "ingest.rejected", logging.WARNING, topic=topic, reason=reason)

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        # Runs on paho's network thread; for QoS 1 paho sends the PUBACK after it returns.
        try:
            self.accept(msg.topic, bytes(msg.payload))
        except Exception as exc:  # never let one bad message stop the backend
            self._reject(msg.topic, f"internal:{type(exc).__name__}")

    def accept(self, topic: str, token: bytes) -> Received | None:
        """Check and store one message; returns what was accepted, None when rejected."""
        parts = topic.split("/")
        if len(parts) != 3 or parts[0] != "stations" or parts[2] != "records":
            self._reject(topic, "topic")
            return None
        station_id = parts[1]
        key = self.stations.get(station_id)
        if key is None:
            self._reject(topic, "unknown_station")
            return None
        try:
            record = verify(token, key)
        except BadSignature:
            self._reject(topic, "bad_signature")
            return None
        except RecordError:
            self._reject(topic, "malformed")
            return None
        if record.station_id != station_id:
            self._reject(topic, "station_mismatch")
            return None
        citizen: dict[str, Any] | None = None
        if self.backend_key is not None:
            try:
                citizen = open_sealed(record, self.backend_key)
            except RecordError:
                self._reject(topic, "unsealable")
                return None
        with self._lock:
            row = self.db.execute(
                "SELECT record_id, token FROM received WHERE record_id=? OR "
                "(station_id=? AND seq=?)", (record.record_id, station_id, record.seq)).fetchone()
            if row is None:
                self.db.execute(
                    "INSERT INTO received VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (record.record_id, station_id, record.seq, record.wall, record.profile,
                     record.outcome, token, None if citizen is None else json.dumps(
                         _jsonable(citizen), ensure_ascii=False), time.time()))
        if row is not None:
            if row[0] == record.record_id and bytes(row[1]) == token:
                self.duplicates += 1
                event(log, "ingest.duplicate", station=station_id, seq=record.seq)
                received = Received(record, True, citizen)
                if self.on_record is not None:
                    self.on_record(received)
                return received
            self._reject(topic, "replay")
            return None
        event(log, "ingest.received", station=station_id, seq=record.seq,
              outcome=record.outcome)
        received = Received(record, False, citizen)
        if self.on_record is not None:
            self.on_record(received)
        return received

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
        self._client.loop_start()
        if not self._subscribed.wait(timeout_s):
            raise TimeoutError("ingest did not subscribe in time")

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def count(self) -> int:
        with self._lock:
            return int(self.db.execute("SELECT COUNT(*) FROM received").fetchone()[0])

    def record_ids(self) -> list[str]:
        with self._lock:
            rows = self.db.execute("SELECT record_id FROM received ORDER BY station_id, seq")
            return [r[0] for r in rows]

    def sequences(self, station_id: str) -> list[int]:
        """Sequence numbers received from one station, in arrival order."""
        with self._lock:
            rows = self.db.execute("SELECT seq FROM received WHERE station_id=? ORDER BY rowid",
                                   (station_id,))
            return [int(r[0]) for r in rows]


def _jsonable(citizen: Mapping[str, Any]) -> dict[str, Any]:
    return {k: {"b64": b64url(v)} if isinstance(v, bytes) else v for k, v in citizen.items()}
