"""Publishes the outbox over MQTT 5 with a window of records in flight.

A record is marked acked only on a PUBACK whose reason code is a success; a failure reason
(e.g. 0x87 Not authorized) or a disconnect leaves it pending. paho's in-memory queue is never
relied upon for durability: what is not acked stays in SQLite.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from station.log import event
from station.pipeline.mqtt import BrokerSettings, make_client
from station.pipeline.outbox import Outbox

log = logging.getLogger(__name__)

AckCallback = Callable[[str, bool], None]
"""on_ack(record_id, ok)"""


class Publisher:
    def __init__(
        self,
        outbox: Outbox,
        station_id: str,
        settings: BrokerSettings,
        *,
        window: int = 100,
        on_ack: AckCallback | None = None,
    ) -> None:
        self.outbox = outbox
        self.station_id = station_id
        self.settings = settings
        self.window = window
        self.on_ack = on_ack
        self._client = make_client(f"station-{station_id}", settings)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish
        self._events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._inflight: dict[int, str] = {}
        self._connected = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._receive_max = window

    # paho callbacks run on paho's network thread: they only enqueue.
    def _on_connect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if rc.is_failure:
            event(log, "mqtt.connect_refused", logging.WARNING, reason=str(rc))
            return
        receive_max = getattr(props, "ReceiveMaximum", None) if props is not None else None
        self._events.put(("connected", receive_max))

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        self._events.put(("disconnected", str(rc)))

    def _on_publish(self, client: Any, userdata: Any, mid: int, rc: Any, props: Any) -> None:
        self._events.put(("puback", (mid, not rc.is_failure, str(rc))))

    def start(self) -> None:
        self._client.connect_async(
            self.settings.host, self.settings.port, keepalive=self.settings.keepalive_s
        )
        self._client.loop_start()
        self._thread = threading.Thread(target=self._run, name="publisher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._client.disconnect()
        self._client.loop_stop()

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            acked: list[str] = []
            try:
                kind, value = self._events.get(timeout=0.02)
                self._handle(kind, value, acked)
                while True:  # drain what else arrived, to commit acks in one batch
                    kind, value = self._events.get_nowait()
                    self._handle(kind, value, acked)
            except queue.Empty:
                pass
            if acked:
                self.outbox.mark_acked(acked)
                if self.on_ack is not None:
                    for rid in acked:
                        self.on_ack(rid, True)
            if self._connected.is_set():
                self._refill()

    def _handle(self, kind: str, value: Any, acked: list[str]) -> None:
        if kind == "connected":
            if value:
                self._receive_max = min(self.window, int(value))
            self._connected.set()
            event(log, "mqtt.connected", receive_max=self._receive_max)
        elif kind == "disconnected":
            self._connected.clear()
            released = list(self._inflight.values())
            self._inflight.clear()
            self.outbox.release(released)
            event(log, "mqtt.disconnected", logging.WARNING, released=len(released))
        elif kind == "puback":
            mid, ok, reason = value
            rid = self._inflight.pop(mid, None)
            if rid is None:
                return
            if ok:
                acked.append(rid)
            else:
                self.outbox.release([rid])
                event(log, "mqtt.publish_refused", logging.ERROR, record=rid, reason=reason)
                if self.on_ack is not None:
                    self.on_ack(rid, False)

    def _refill(self) -> None:
        room = self._receive_max - len(self._inflight)
        if room <= 0:
            return
        for item in self.outbox.claim(room):
            info = self._client.publish(item.topic, item.payload, qos=1)
            if info.rc != 0:  # not connected: paho would queue it in RAM; we keep it in SQLite
                self.outbox.release([item.id])
                continue
            self._inflight[info.mid] = item.id

    def records_topic(self) -> str:
        return records_topic(self.station_id)


def records_topic(station_id: str) -> str:
    return f"stations/{station_id}/records"


def wait_until(predicate: Callable[[], bool], timeout_s: float, step_s: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step_s)
    return predicate()
