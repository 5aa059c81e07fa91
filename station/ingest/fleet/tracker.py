"""The fleet tracker: an MQTT client of the backend that follows what every station says about
itself and keeps it in the fleet store, and the console's way to send a station a command.

It connects as a backend identity of the ``fleet`` role (``python -m provisioning backend
operator``; :data:`provisioning.mosquitto.FLEET_ACLS`): it may subscribe to
``stations/+/{status,health,events/#}`` (:data:`station.topics.FLEET_READS`) and publish
``stations/+/commands``, nothing else — no records, no receipts. A persistent session
(QoS 1, ``clean_start`` false) keeps command answers sent while the tracker restarts; the
retained status of every station arrives on each (re)subscription.

A sweep every :attr:`sweep_s` seconds re-reads the registry when its file changed (certificate
expiry, revocation) and notes, once, each station that went silent: status still ``online``
but no heartbeat for :attr:`FleetPolicy.stale_after_intervals` of its intervals — the case the
broker's Last Will does not cover (a cut network until the broker's keep-alive expires, a hung
process, a Will lost with a broker's restart).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from provisioning import registry
from station import topics
from station.errors import CommandRefused, FleetMessageError, StationError
from station.ingest.fleet.model import (
    STATION_ID,
    CommandSent,
    FleetPolicy,
    Verdict,
    parse_health,
    parse_reply,
    parse_status,
    parse_topic,
)
from station.ingest.fleet.store import FleetStore
from station.ingest.store import IngestStoreError
from station.log import event
from station.pipeline.mqtt import BrokerSettings, make_client
from station.pipeline.publisher import COMMANDS

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 24 * 3600
MAX_ARGS = 8
MAX_ARG_CHARS = 100

ArgValue = str | int | bool


def fleet_topics() -> list[str]:
    """The tracker's subscriptions: exactly what its broker role grants."""
    return [t.filter() for t in topics.FLEET_READS]


def check_args(name: str, args: Mapping[str, Any]) -> dict[str, ArgValue]:
    """A command's arguments as the station's handlers take them (flat, short scalars);
    CommandRefused names the problem, never a value."""
    if len(args) > MAX_ARGS:
        raise CommandRefused(f"{name}: more than {MAX_ARGS} arguments")
    out: dict[str, ArgValue] = {}
    for key, value in args.items():
        if not isinstance(key, str) or not key.isidentifier() or len(key) > 32:
            raise CommandRefused(f"{name}: an argument name is not a short identifier")
        if not isinstance(value, (str, int, bool)) or (isinstance(value, str)
                                                       and len(value) > MAX_ARG_CHARS):
            raise CommandRefused(f"{name}: argument {key} is not a short text, number or flag")
        out[key] = value
    return out


class FleetTracker:
    def __init__(self, store: FleetStore, settings: BrokerSettings, *,
                 client_id: str = "operator", registry_path: Path | None = None,
                 policy: FleetPolicy | None = None, sweep_s: float = 1.0,
                 session_expiry_s: int = SESSION_EXPIRY_S) -> None:
        """``client_id``: the certificate's CN (the broker enforces it). ``registry_path``:
        provisioning's ``registry.json`` (certificate expiry and revocation); without it the
        store keeps what it was last told and no station can be sent a command.
        ``session_expiry_s``: how long the broker keeps answers for a tracker that is away."""
        self.store = store
        self.settings = settings
        self.client_id = client_id
        self.registry_path = registry_path
        self.policy = policy or FleetPolicy()
        self.sweep_s = sweep_s
        self.session_expiry_s = session_expiry_s
        self.messages = 0
        self.malformed = 0
        self._registry_mtime: float | None = None
        self._silent: set[str] = set()
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None
        self._subscribed = threading.Event()
        self._client = make_client(client_id, settings)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self._client.on_disconnect = self._on_disconnect
        self._client.reconnect_delay_set(0.2, 5)

    # --- paho callbacks (paho's network thread) --------------------------------------------

    def _on_connect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if rc.is_failure:
            event(log, "fleet.connect_refused", logging.WARNING, reason=str(rc))
            return
        client.subscribe([(t, 1) for t in fleet_topics()])

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, rcs: Any, props: Any) -> None:
        refused = [str(r) for r in rcs if r.is_failure]
        if refused:
            # The broker's role does not grant what the tracker reads: a configuration error
            # the operator must see, not a silent empty console.
            event(log, "fleet.subscribe_refused", logging.ERROR, reasons=",".join(refused))
            return
        self._subscribed.set()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, rc: Any,
                       props: Any) -> None:
        self._subscribed.clear()
        if rc.is_failure:
            event(log, "fleet.disconnected", logging.WARNING, reason=str(rc))

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        try:
            self.handle(msg.topic, bytes(msg.payload), retained=bool(msg.retain))
        except Exception as exc:  # one bad message (or a store hiccup) must not stop the feed
            event(log, "fleet.message_failed", logging.ERROR, reason=type(exc).__name__)

    # --- what a message means ---------------------------------------------------------------

    def handle(self, topic: str, payload: bytes, *, retained: bool = False,
               at: float | None = None) -> bool:
        """Take one message; False when it was dropped (malformed: logged and counted, never
        its payload)."""
        now = time.time() if at is None else at
        self.messages += 1
        try:
            where = parse_topic(topic)
            sid = where.station_id
            events = f"{topics.EVENTS.leaf}/"
            if where.leaf == topics.STATUS.leaf:
                if not payload:  # a retained status cleared by an operator
                    return False
                self.store.record_status(sid, parse_status(sid, payload), at=now,
                                         retained=retained)
            elif where.leaf == topics.HEALTH.leaf:
                self.store.record_health(sid, parse_health(sid, payload), at=now)
                self._silent.discard(sid)
            elif where.leaf == f"{events}command":
                self.store.record_reply(sid, parse_reply(sid, payload), at=now)
            elif where.leaf.startswith(events):
                # An event this release does not know: that it happened, not what it said.
                self.store.record_event(sid, "event", where.leaf[len(events):][:40], at=now)
            else:
                raise FleetMessageError(topic[:80], "not a topic the tracker follows")
        except FleetMessageError as exc:
            self.malformed += 1
            event(log, "fleet.malformed", logging.WARNING, where=exc.where, problem=exc.problem)
            return False
        return True

    # --- operator actions -------------------------------------------------------------------

    def send_command(self, station_id: str, name: str, args: Mapping[str, Any] | None = None,
                     *, by: str) -> CommandSent:
        """Publish a command (QoS 1) on ``stations/<id>/commands``; the station's answer on
        ``events/command`` completes the returned record in the store (:meth:`FleetStore.command`).
        Its arguments go to the station only: neither stored nor logged (a CAN, a guest's visa
        number)."""
        if name not in COMMANDS:
            raise CommandRefused(f"unknown command {name[:32]!r}")
        if not STATION_ID.match(station_id):
            raise CommandRefused("not a station id")
        row = self.store.station(station_id)
        if row is None or not row.registered:
            raise CommandRefused(f"{station_id} is not a registered station")
        if row.revoked:
            raise CommandRefused(f"{station_id} is revoked")
        clean = check_args(name, args or {})
        if not self._client.is_connected():
            raise CommandRefused("the console is not connected to the broker")
        sent = CommandSent(uuid.uuid4().hex, station_id, name, by[:64], time.time())
        # Recorded before it leaves, so an answer arriving at once finds it.
        self.store.command_sent(sent)
        info = self._client.publish(
            topics.COMMANDS.of(station_id),
            json.dumps({"cmd": name, "id": sent.command_id, "args": clean}).encode(), qos=1)
        if info.rc != 0:
            self.store.record_event(station_id, "command", f"{name} not sent: broker refused")
            raise CommandRefused("the broker did not take the command")
        event(log, "fleet.command_sent", station=station_id, command=name, by=sent.sent_by,
              id=sent.command_id)
        return sent

    # --- registry and silence ---------------------------------------------------------------

    def sync_registry(self, *, force: bool = False) -> bool:
        """Re-read the registry if its file changed (or ``force``); True when it was read."""
        if self.registry_path is None:
            return False
        try:
            mtime = self.registry_path.stat().st_mtime
        except OSError:
            return False
        if not force and mtime == self._registry_mtime:
            return False
        try:
            entries = registry.load(self.registry_path)
        except StationError as exc:
            event(log, "fleet.registry_unreadable", logging.ERROR, reason=str(exc))
            return False
        self.store.sync_registry(entries)
        self._registry_mtime = mtime
        return True

    def sweep(self, now: float | None = None) -> list[str]:
        """One round: the registry if it changed, then a ``silent`` event for each station
        that just went silent; returns those stations."""
        now = time.time() if now is None else now
        self.sync_registry()
        gone: list[str] = []
        for row in self.store.stations():
            if row.verdict(now, self.policy) is Verdict.SILENT:
                if row.station_id not in self._silent:
                    self._silent.add(row.station_id)
                    last = row.last_seen
                    quiet = "" if last is None else f" for {now - last:.0f} s"
                    self.store.record_event(row.station_id, "silent",
                                            f"no heartbeat{quiet}", at=now)
                    gone.append(row.station_id)
            else:
                self._silent.discard(row.station_id)
        return gone

    def _sweep_loop(self) -> None:
        while not self._stop.wait(self.sweep_s):
            try:
                self.sweep()
            except (IngestStoreError, OSError) as exc:
                event(log, "fleet.sweep_failed", logging.ERROR, reason=str(exc))

    # --- lifecycle --------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return bool(self._client.is_connected()) and self._subscribed.is_set()

    def start(self, timeout_s: float = 10.0, *, wait: bool = True) -> None:
        """Connect (paho's thread keeps reconnecting with backoff) and start the sweep.
        ``wait``: block until the broker granted the subscriptions, else TimeoutError; without
        it, return at once (the console serves its pages, from the store, while the broker is
        away; :attr:`connected` says whether the view is live)."""
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        self.sync_registry(force=True)
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.session_expiry_s
        self._client.connect_async(self.settings.host, self.settings.port,
                                   keepalive=self.settings.keepalive_s, clean_start=False,
                                   properties=props)
        self._client.loop_start()
        self._stop.clear()
        self._sweeper = threading.Thread(target=self._sweep_loop, name="fleet-sweep",
                                         daemon=True)
        self._sweeper.start()
        if wait and not self._subscribed.wait(timeout_s):
            self.stop()
            raise TimeoutError("the fleet tracker was not granted its subscriptions in time")

    def stop(self) -> None:
        self._stop.set()
        if self._sweeper is not None:
            self._sweeper.join(timeout=5)
            self._sweeper = None
        self._client.disconnect()
        self._client.loop_stop()
