"""The reference ingest backend: what the demo and the integration tests talk to, and the model
for integrators. Subscribes with a shared subscription, dedupes, stores to its own SQLite."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from station.log import event
from station.pipeline.mqtt import BrokerSettings, make_client
from station.pipeline.records import Record

log = logging.getLogger(__name__)

SHARED_RECORDS = "$share/ingest/stations/+/records"

OnRecord = Callable[[Record, bool], None]
"""on_record(record, duplicate)"""


class Ingest:
    def __init__(
        self,
        db_path: Path | str,
        settings: BrokerSettings,
        *,
        client_id: str = "ingest-1",
        on_record: OnRecord | None = None,
    ) -> None:
        self.db = sqlite3.connect(str(db_path), check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS received (record_id TEXT PRIMARY KEY, station_id TEXT, "
            "seq INTEGER, payload BLOB, received_at REAL)"
        )
        self._lock = threading.Lock()
        self.settings = settings
        self.on_record = on_record
        self.rejected = 0
        self._client = make_client(client_id, settings)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._subscribed = threading.Event()
        self._client.on_subscribe = lambda *a: self._subscribed.set()

    def _on_connect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if not rc.is_failure:
            client.subscribe(SHARED_RECORDS, qos=1)

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        # Stored before this callback returns, so paho's PUBACK follows the commit.
        try:
            record = Record.decode(msg.payload)
        except (ValueError, KeyError, TypeError):
            self.rejected += 1
            event(log, "ingest.rejected", logging.WARNING, topic=msg.topic, reason="malformed")
            return
        if msg.topic != f"stations/{record.station_id}/records":
            self.rejected += 1
            event(log, "ingest.rejected", logging.WARNING, topic=msg.topic, reason="topic")
            return
        with self._lock:
            cur = self.db.execute(
                "INSERT OR IGNORE INTO received VALUES (?, ?, ?, ?, ?)",
                (record.record_id, record.station_id, record.seq, msg.payload, time.time()),
            )
            duplicate = cur.rowcount == 0
        event(log, "ingest.received", station=record.station_id, seq=record.seq,
              duplicate=duplicate)
        if self.on_record is not None:
            self.on_record(record, duplicate)

    def start(self, timeout_s: float = 10.0) -> None:
        self._client.connect(self.settings.host, self.settings.port,
                             keepalive=self.settings.keepalive_s)
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
