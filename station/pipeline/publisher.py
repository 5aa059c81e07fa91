"""Publishes the outbox over MQTT 5.

Topics (``{id}`` = the station id = its certificate CN = its MQTT username):

- ``stations/{id}/records`` — the signed records, QoS 1, in sequence order;
- ``stations/{id}/status`` — retained ``{"state": "online"|"offline"}``; ``offline`` is the Last
  Will, so the backend learns of a dead station from the broker;
- ``stations/{id}/health`` — a heartbeat every ``health_interval_s``: uptime, queue depth, oldest
  pending age, last read, errors, alarms, software version and the interval itself (no
  citizen data);
- ``stations/{id}/receipts`` — subscribed in receipt mode (only the backend may write there):
  ``{"ids": [record ids]}``, sent by the backend once it has *stored* those records;
- ``stations/{id}/commands`` — subscribed (only the backend may write there): ``ping``,
  ``purge_acked`` (handled here), ``reload``, ``profile``, ``can`` and ``booking`` (handed to
  the service's callback, :mod:`station.service.commands`);
  each command is answered on ``stations/{id}/events/command``.

Delivery: up to ``window`` records in flight, capped by the broker's ReceiveMaximum (Mosquitto
announces 20 and paho does not enforce it), refilled after every batch of PUBACKs (waiting for
half the window to drain stalls on Mosquitto's Nagle). A PUBACK whose reason code is a success
marks the record *delivered* (batched commits) and frees its window slot; a failure reason (e.g.
0x87 Not authorized) leaves it pending, raises an alarm and holds publishing back with a growing
pause rather than spinning.

Release (``release``): a PUBACK only means the broker *queued* the record — Mosquitto answers
0x00 and then silently drops messages beyond ``max_queued_messages`` for the backend's session
(offline, or online but slower than the stations). So by default (``"receipt"``) the citizen data
is deleted only when the backend's receipt names the record (:meth:`Outbox.mark_received`), and
``on_ack(id, True)`` fires then. Delivered records without a receipt after
``receipt_timeout_s`` go back to pending and are re-sent in sequence order (checked about once a
second; a log event each time, an alarm when it keeps happening without any receipt). At most
``max_unreceipted`` records are sent but not receipted at once, so one station cannot push the
backend's queue at the broker past its cap. ``"puback"`` releases on the PUBACK (a backend that
sends no receipts: the broker's queue is then trusted).

0x10 No matching subscribers counts as not delivered (unless ``require_subscriber`` is off): the
backend keeps a persistent session, so it only happens when nobody at all would get the record. In
flight is this thread's memory only (the outbox marks nothing until the PUBACK): a disconnect
forgets what was in flight and reads again from the oldest pending record; paho's in-memory queue
is never relied upon. Reconnects use exponential backoff with full jitter so a fleet does not
reconnect in lockstep; the session persists (clean_start false + session expiry) so commands and
receipts sent while the station was away are delivered.

One thread does everything: it drives paho's network loop itself (``select`` on the broker's
socket and a wake-up socket, then ``loop_read``/``loop_write``/``loop_misc``), so paho's
callbacks run on it, PUBACKs are taken without a hand-over between threads, and no second
thread competes for the GIL (with paho's own network thread the same drain needed markedly more
CPU per record: README's benchmark section). It also connects and reconnects, with the backoff
above. Records arrive already signed and sealed: this thread never does crypto.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import queue
import random
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from station import __version__, topics
from station.errors import StoreError
from station.log import event
from station.pipeline.mqtt import BrokerSettings, make_client
from station.pipeline.outbox import Outbox, Pending

log = logging.getLogger(__name__)

AckCallback = Callable[[str, bool], None]
"""on_ack(record_id, ok)"""

SESSION_EXPIRY_S = 7 * 24 * 3600
_NO_MATCHING_SUBSCRIBERS = 0x10  # MQTT 5 §3.4.2.1: a success code, but nobody received it
_NO_RECEIPT = "no receipt from the backend"
COMMANDS = ("ping", "purge_acked", "reload", "profile", "can", "booking", "entry")


@dataclass(frozen=True)
class Command:
    """A command from the backend (``{"cmd": ..., "id": ..., "args": {...}}``)."""

    name: str
    id: str
    args: dict[str, Any] = field(default_factory=dict)


CommandHandler = Callable[[Command], tuple[bool, str]]
"""Handles ``reload``/``profile``; returns (ok, short non-citizen message)."""


@dataclass(frozen=True)
class PublisherStats:
    connected: bool
    in_flight: int
    window: int
    delivered: int
    """PUBACK successes recorded in the outbox (the broker has them)."""
    acked: int
    """Records released for good: backend receipts (receipt mode) or PUBACKs (puback mode)."""
    refused: int
    connects: int


class Publisher:
    def __init__(
        self,
        outbox: Outbox,
        station_id: str,
        settings: BrokerSettings,
        *,
        window: int = 100,
        prefetch: int = 500,
        on_ack: AckCallback | None = None,
        on_command: CommandHandler | None = None,
        health_interval_s: float = 30.0,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 60.0,
        require_subscriber: bool = True,
        release: str = "receipt",
        receipt_timeout_s: float = 60.0,
        max_unreceipted: int = 500,
    ) -> None:
        if release not in ("receipt", "puback"):
            raise ValueError(f"release must be 'receipt' or 'puback', not {release!r}")
        self.outbox = outbox
        self.station_id = station_id
        self.settings = settings
        self.window = window
        self.prefetch = prefetch
        self.on_ack = on_ack
        self.on_command = on_command
        self.health_interval_s = health_interval_s
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.require_subscriber = require_subscriber
        self.release = release
        self.receipt_timeout_s = receipt_timeout_s
        self.max_unreceipted = max_unreceipted
        self._client = make_client(station_id, settings)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_connect_fail = self._on_connect_fail
        self._client.on_publish = self._on_publish
        self._client.on_message = self._on_message
        self._client.will_set(topics.STATUS.of(self.station_id), self._status_payload("offline"),
                              qos=1, retain=True)
        self._events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._delivered_now: list[Pending] = []
        """Successful PUBACKs taken by the callback (same thread), recorded in one batch."""
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._ever_connected = False
        self._next_attempt = 0.0
        self._delay = 0.0
        self._inflight: dict[int, Pending] = {}
        """mid → record published, PUBACK awaited (in flight lives here only, never in SQLite)."""
        self._ready: collections.deque[Pending] = collections.deque()
        """Read ahead of the window, not yet published: one outbox query per ``prefetch``
        records instead of one per refill."""
        self._cursor = 0
        """The highest sequence number read from the outbox since the last rewind."""
        self._connected = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._receive_max = window
        self._attempt = 0
        self._hold_until = 0.0
        self._refuse_pause = 0.0
        self._started = time.monotonic()
        self._acked_total = 0
        self._delivered_total = 0
        self._unreceipted = outbox.delivered_count()
        """Sent records the broker took that no receipt has named yet (bounded by
        ``max_unreceipted``); recounted from the outbox after receipts and re-queues."""
        self._next_requeue = 0.0
        self._timeouts_in_a_row = 0
        self._refused_total = 0
        self._connects = 0
        self._next_health = 0.0
        self._jitter()

    def _status_payload(self, state: str) -> bytes:
        return json.dumps({"state": state, "station": self.station_id,
                           "time": round(time.time(), 3)}).encode()

    def _jitter(self) -> None:
        # Full jitter (uniform in [0, min(cap, base·2^n)]): stations that lost the same broker
        # spread their reconnects instead of arriving together.
        cap = min(self.backoff_max_s, self.backoff_base_s * 2 ** min(self._attempt, 16))
        self._delay = max(0.05, random.uniform(0, cap))
        self._attempt += 1

    # --- paho callbacks (run on the publisher's thread, inside loop_read) -----------------

    def _on_connect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if rc.is_failure:
            event(log, "mqtt.connect_refused", logging.WARNING, reason=str(rc))
            self._jitter()
            return
        self._attempt = 0
        receive_max = getattr(props, "ReceiveMaximum", None) if props is not None else None
        client.subscribe(topics.COMMANDS.of(self.station_id), qos=1)
        if self.release == "receipt":
            # Subscribed before any record is published on this connection, so the first
            # receipt has somewhere to go; the persistent session keeps receipts sent while the
            # station is away.
            client.subscribe(topics.RECEIPTS.of(self.station_id), qos=1)
        client.publish(topics.STATUS.of(self.station_id), self._status_payload("online"), qos=1,
                       retain=True)
        self._events.put(("connected", receive_max))

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        self._jitter()
        self._next_attempt = time.monotonic() + self._delay
        self._events.put(("disconnected", str(rc)))

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        self._jitter()

    def _on_publish(self, client: Any, userdata: Any, mid: int, rc: Any, props: Any) -> None:
        if rc.value == 0:  # the common case, taken here: no queue, no ReasonCode formatting
            item = self._inflight.pop(mid, None)
            if item is not None:
                self._delivered(item)
            return
        self._events.put(("puback", (mid, not rc.is_failure, str(rc), int(rc.value))))

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        kind = "receipt" if msg.topic == topics.RECEIPTS.of(self.station_id) else "command"
        self._events.put((kind, bytes(msg.payload)))

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="publisher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Say ``offline`` (a clean disconnect does not fire the Will), then disconnect."""
        self._stop.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._connected.is_set() and self._client.socket() is not None:
            info = self._client.publish(topics.STATUS.of(self.station_id),
                                        self._status_payload("offline"),
                                        qos=1, retain=True)
            deadline = time.monotonic() + 2
            while not info.is_published() and time.monotonic() < deadline:
                if not self._pump(0.02):
                    break
        if self._client.socket() is not None:
            self._client.disconnect()
        self._connected.clear()
        for s in (self._wake_r, self._wake_w):
            s.close()
        if self._delivered_now:  # PUBACKs taken while saying offline: record them too
            with contextlib.suppress(StoreError):
                self._record_delivered(self._delivered_now)
            self._delivered_now.clear()
        self._inflight.clear()
        self._rewind()

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def notify(self) -> None:
        """A record was stored: publish it now rather than at the next poll."""
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # already woken (buffer full), or stopped
            self._wake_w.send(b"\0")

    def stats(self) -> PublisherStats:
        return PublisherStats(self._connected.is_set(), len(self._inflight), self._receive_max,
                              self._delivered_total, self._acked_total, self._refused_total,
                              self._connects)

    # --- the publisher's thread ------------------------------------------------------------

    def _connect(self) -> None:
        """Open the connection (CONNECT sent; the CONNACK arrives through the loop), or schedule
        the next attempt."""
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        if time.monotonic() < self._next_attempt:
            return
        try:
            if self._ever_connected:
                self._client.reconnect()
            else:
                props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
                props.SessionExpiryInterval = SESSION_EXPIRY_S
                self._client.connect(self.settings.host, self.settings.port,
                                     keepalive=self.settings.keepalive_s, clean_start=False,
                                     properties=props)
                self._ever_connected = True
        except (OSError, ssl.SSLError, ValueError) as exc:
            self._jitter()
            self._next_attempt = time.monotonic() + self._delay
            event(log, "mqtt.connect_failed", logging.WARNING, reason=type(exc).__name__,
                  retry_s=round(self._delay, 2))

    def _pump(self, timeout_s: float) -> bool:
        """One turn of paho's network loop on this thread: wait for the socket (or a wake-up),
        read, write, keep alive. False when there is no connection (any more)."""
        sock = self._client.socket()
        if sock is None:
            return False
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            timeout_s = 0.0  # TLS has decrypted bytes buffered: select would not see them
        wlist = [sock] if self._client.want_write() else []
        try:
            readable, writable, _ = select.select([sock, self._wake_r], wlist, [], timeout_s)
        except (OSError, ValueError):
            readable, writable = [sock], []  # closed under us: let paho notice and report it
        if self._wake_r in readable:
            with contextlib.suppress(BlockingIOError):
                self._wake_r.recv(4096)
        rc = 0
        if sock in readable or (isinstance(sock, ssl.SSLSocket) and sock.pending()):
            rc = self._client.loop_read()
        if not rc and sock in writable and self._client.socket() is not None:
            rc = self._client.loop_write()
        if not rc and self._client.socket() is not None:
            rc = self._client.loop_misc()
        return not rc and self._client.socket() is not None

    def _run(self) -> None:
        delivered = self._delivered_now
        receipts: list[str] = []
        while not self._stop.is_set():
            try:
                if self._client.socket() is None:
                    self._connect()
                    if self._client.socket() is None:
                        self._stop.wait(min(0.05, max(0.0, self._next_attempt - time.monotonic())))
                else:
                    self._pump(0.05)
            except Exception as exc:  # a surprise from paho or a socket must not end publishing
                # (the records wait in SQLite; a dead thread would hold them until a restart)
                event(log, "mqtt.loop_error", logging.ERROR, reason=type(exc).__name__)
                self._stop.wait(0.5)
            try:
                while True:  # everything that arrived meanwhile: one commit for all its acks
                    kind, value = self._events.get_nowait()
                    self._handle(kind, value, receipts)
            except queue.Empty:
                pass
            try:
                if self._connected.is_set():
                    # Refill before the commits' fsync, so the broker is busy meanwhile; the
                    # window is freed as soon as the PUBACK arrived (recorded below).
                    self._refill()
                if delivered:
                    self._record_delivered(delivered)
                    delivered.clear()
                if receipts:
                    self._record_receipts(receipts)
                    receipts = []
                if self.release == "receipt" and time.monotonic() >= self._next_requeue:
                    self._next_requeue = time.monotonic() + 1.0
                    self._requeue_unreceipted()
            except StoreError as exc:
                # A full disk (or a busy database) must not kill the publisher: keep what is
                # not yet recorded for the next round (a crash meanwhile only re-sends records
                # ingest dedupes) and retry when space may be back.
                event(log, "outbox.write_failed", logging.ERROR, reason=str(exc))
                self._stop.wait(0.5)
            if self._connected.is_set():
                now = time.monotonic()
                if now >= self._next_health:
                    self._next_health = now + self.health_interval_s
                    self._publish_health()

    def _delivered(self, item: Pending) -> None:
        """A successful PUBACK: recorded with the others of this round."""
        self._delivered_now.append(item)
        if self.release == "receipt":
            self._unreceipted += 1
        self._refuse_pause = 0.0

    def _record_delivered(self, items: list[Pending]) -> None:
        if self.release == "puback":
            self.outbox.mark_acked(p.seq for p in items)
            self._delivered_total += len(items)
            self._acked_total += len(items)
            self._fire_acks([p.id for p in items])
        else:
            self.outbox.mark_delivered(p.seq for p in items)
            self._delivered_total += len(items)

    def _record_receipts(self, ids: list[str]) -> None:
        fresh = self.outbox.mark_received(ids)
        self._unreceipted = self.outbox.delivered_count()
        self._acked_total += len(fresh)
        self._timeouts_in_a_row = 0
        self.outbox.set_alarm(_NO_RECEIPT, None)
        self._fire_acks(fresh)

    def _fire_acks(self, ids: list[str]) -> None:
        if self.on_ack is not None:
            for rid in ids:
                self.on_ack(rid, True)

    def _requeue_unreceipted(self) -> None:
        n = self.outbox.requeue_unreceipted(self.receipt_timeout_s)
        self._unreceipted = self.outbox.delivered_count()
        if not n:
            return
        # The re-queued records come before the ones read ahead: read again from the start,
        # so the re-send keeps sequence order.
        self._rewind()
        self._timeouts_in_a_row += 1
        level = logging.WARNING
        if self._timeouts_in_a_row >= 3:
            # Once is a broker that dropped part of a backlog; again and again with no receipt
            # at all in between is a backend that does not answer (or sends no receipts).
            level = logging.ERROR
            self.outbox.set_alarm(_NO_RECEIPT, (
                f"{_NO_RECEIPT} for {self.receipt_timeout_s:g} s ({self._timeouts_in_a_row} "
                "times in a row); records kept and re-sent"))
        event(log, "outbox.receipt_timeout", level, requeued=n,
              timeout_s=self.receipt_timeout_s, in_a_row=self._timeouts_in_a_row)

    def _handle(self, kind: str, value: Any, receipts: list[str]) -> None:
        if kind == "connected":
            if value:
                self._receive_max = max(1, min(self.window, int(value)))
            self._connects += 1
            self._connected.set()
            self._next_health = 0.0
            event(log, "mqtt.connected", window=self._receive_max)
        elif kind == "disconnected":
            self._connected.clear()
            released = len(self._inflight)
            self._inflight.clear()  # not delivered: sent again after the reconnect
            self._rewind()
            event(log, "mqtt.disconnected", logging.WARNING, reason=value, released=released)
        elif kind == "puback":
            mid, ok, reason, code = value
            item = self._inflight.pop(mid, None)
            if item is None:
                return  # a retransmission from before a reconnect: its record was re-sent
            if ok and code == _NO_MATCHING_SUBSCRIBERS and self.require_subscriber:
                # The broker took it but nobody will get it (e.g. a broker restarted without
                # persistence before the backend re-subscribed): not delivered, try again.
                self._refused(item.id, reason, code, alarm=False)
            elif ok:
                self._delivered(item)
            else:
                self._refused(item.id, reason, code)
        elif kind == "receipt":
            ids = _receipt_ids(value)
            if ids is None:
                event(log, "receipt.malformed", logging.WARNING, size=len(value))
            else:
                receipts.extend(ids)
        elif kind == "command":
            self._command(value)

    def _refused(self, rid: str, reason: str, code: int, *, alarm: bool = True) -> None:
        # Read again from the oldest pending one, so the retry keeps sequence order.
        self._rewind()
        self._refused_total += 1
        # Whatever refused this one (ACL, quota, no subscriber) will refuse the next: pause,
        # growing, instead of spinning on it.
        first = 1.0 if alarm else 0.2
        self._refuse_pause = min(300.0 if alarm else 10.0, max(first, self._refuse_pause * 2))
        self._hold_until = time.monotonic() + self._refuse_pause
        if alarm:
            self.outbox.set_alarm("broker refused", f"broker refused a record (reason "
                                  f"0x{code:02X} {reason}); kept, retrying")
        event(log, "mqtt.publish_refused", logging.ERROR if alarm else logging.WARNING,
              record=rid, reason=reason, code=f"0x{code:02X}", pause_s=self._refuse_pause)
        if self.on_ack is not None:
            self.on_ack(rid, False)

    def _refill(self) -> None:
        if time.monotonic() < self._hold_until:
            return
        room = self._receive_max - len(self._inflight)
        if self.release == "receipt" and self.max_unreceipted:
            room = min(room, self.max_unreceipted - self._unreceipted - len(self._inflight))
        if room <= 0:
            return
        if len(self._ready) < room:
            rows = self.outbox.claim(max(room, self.prefetch) - len(self._ready), self._cursor)
            if rows:
                self._cursor = rows[-1].seq
                # After a rewind the oldest pending ones may still be in flight: not twice.
                flying = {p.seq for p in self._inflight.values()}
                self._ready.extend(p for p in rows if p.seq not in flying)
        while room > 0 and self._ready:
            item = self._ready.popleft()
            info = self._client.publish(item.topic, item.payload, qos=1)
            if info.rc != 0:  # not connected: paho would queue it in RAM; SQLite keeps it
                self._rewind()
                return
            self._inflight[info.mid] = item
            room -= 1

    def _rewind(self) -> None:
        """Forget what was read ahead; the next refill reads from the oldest pending record."""
        self._ready.clear()
        self._cursor = 0

    def _publish_health(self) -> None:
        self.outbox.check_ttl()
        st = self.outbox.status()
        payload = {
            "station": self.station_id, "uptime_s": round(time.monotonic() - self._started),
            "pending": st.pending, "in_flight": len(self._inflight),
            "delivered": st.delivered,
            "oldest_pending_age_s": st.oldest_pending_age_s, "expired": st.expired,
            "last_seq": st.last_seq, "outbox_full": st.full,
            "acked": self._acked_total, "refused": self._refused_total,
            "alarms": list(self.outbox.alarms),
            # For the operator console: which release runs where, and how soon a missing
            # heartbeat means the station is gone (even when the broker sent no Last Will).
            "version": __version__, "interval_s": self.health_interval_s,
        }
        self._client.publish(topics.HEALTH.of(self.station_id), json.dumps(payload).encode(),
                             qos=0)

    def _command(self, raw: bytes) -> None:
        try:
            data = json.loads(raw)
            cmd = Command(str(data["cmd"]), str(data.get("id", "")), dict(data.get("args", {})))
        except (ValueError, KeyError, TypeError, AttributeError):
            event(log, "command.malformed", logging.WARNING)
            return
        if cmd.name == "ping":
            ok, text = True, "pong"
        elif cmd.name == "purge_acked":
            ok, text = True, f"purged {self.outbox.purge_acked()}"
        elif cmd.name in COMMANDS and self.on_command is not None:
            try:
                ok, text = self.on_command(cmd)
            except Exception as exc:  # a handler bug must not stop publishing
                ok, text = False, type(exc).__name__
        else:
            ok, text = False, "unsupported"
        event(log, "command.done", command=cmd.name, ok=ok)
        reply = {"id": cmd.id, "cmd": cmd.name, "ok": ok, "message": text}
        self._client.publish(topics.EVENTS.of(self.station_id, "command"),
                             json.dumps(reply).encode(), qos=1)


MAX_RECEIPT_IDS = 10_000


def _receipt_ids(raw: bytes) -> list[str] | None:
    """The record ids of a receipt ``{"ids": [...]}``; None when it is not one."""
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    ids = data.get("ids") if isinstance(data, dict) else None
    if (not isinstance(ids, list) or len(ids) > MAX_RECEIPT_IDS
            or not all(isinstance(i, str) and 0 < len(i) <= 100 for i in ids)):
        return None
    return ids
