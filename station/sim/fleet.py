"""Many simulated desks in one process, for the fleet benchmark (``station bench fleet``).

Each desk is what a station is to the backend: its own Ed25519 signing key and mTLS
certificate (its own MQTT connection, client id = certificate CN), records built by the real
:class:`~station.pipeline.records.RecordSigner` (sealed to the backend key, signed) at its tap
time, published QoS 1 on ``stations/<id>/records`` with at most :data:`WINDOW` in flight
(Mosquitto's ReceiveMaximum), kept until the backend's receipt names them and re-sent when no
receipt came within the receipt timeout — the station's delivery contract
(:mod:`station.pipeline.publisher`) without its SQLite outbox, which is the station's cost, not
the backend's. The session persists (clean start off, session expiry), so receipts sent while a
desk was away reach it when it is back.

One thread drives every desk's paho client from one ``epoll`` loop (``loop_read`` /
``loop_write`` / ``loop_misc``), as the publisher drives its one client: a few such processes
carry hundreds of connections where hundreds of paho network threads in one interpreter would
fight over the GIL.

Taps arrive as a Poisson process per desk (``tap_interval_s`` mean). Between ``outage_at`` and
``back_at`` every desk is disconnected (a site's network gone): taps go on and queue, and on
reconnection each desk sends its backlog — the burst after an outage.

Driven by :func:`main` as a child process: it reads a :class:`FleetSpec` (JSON file), connects
every desk, prints ``ready``, waits for ``go <t0>`` on stdin (``t0`` on the shared
``CLOCK_MONOTONIC``), runs the schedule, and writes a :class:`FleetOutcome` JSON file. The
readings are synthetic (no real person).
"""

from __future__ import annotations

import collections
import contextlib
import heapq
import json
import random
import selectors
import ssl
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from station import keys, topics
from station.pipeline.mqtt import BrokerSettings, make_client
from station.pipeline.publisher import SESSION_EXPIRY_S
from station.pipeline.records import Check, Reading, RecordSigner

WINDOW = 20
"""Records in flight per desk (Mosquitto announces ReceiveMaximum 20)."""


@dataclass(frozen=True)
class DeskSpec:
    station_id: str
    signing_key: str
    """Path of the desk's Ed25519 signing key (PKCS#8 PEM)."""
    cert_file: str
    key_file: str


@dataclass(frozen=True)
class FleetSpec:
    host: str
    port: int
    ca_file: str
    seal_public: str
    """Path of the backend's X25519 sealing public key (PEM)."""
    desks: tuple[DeskSpec, ...]
    tap_interval_s: float
    steady_s: float
    """From t0 to the outage."""
    outage_s: float
    after_s: float
    """Tapping after the desks are back; then only waiting for receipts."""
    receipt_timeout_s: float
    drain_timeout_s: float
    """After the last tap, give up waiting for receipts after this long (they count as lost)."""
    out: str
    seed: int = 0

    @staticmethod
    def load(path: Path) -> FleetSpec:
        doc = json.loads(path.read_text())
        doc["desks"] = tuple(DeskSpec(**d) for d in doc["desks"])
        return FleetSpec(**doc)

    def dump(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))


@dataclass
class FleetOutcome:
    """What one process of desks saw; times on CLOCK_MONOTONIC (seconds)."""

    tapped: int = 0
    published: int = 0
    resent: int = 0
    """Publishes of a record after its first (receipt timeout, or in flight at a disconnect)."""
    puback_failures: int = 0
    connects: int = 0
    connect_failures: int = 0
    records: list[tuple[str, float, float | None]] = field(default_factory=list)
    """(record id, tap time, receipt time or None) of every record tapped."""


def reading(n: int) -> Reading:
    """A hospital check-in of a synthetic citizen (~1.2 KB record, like a CCCD read)."""
    return Reading("hospital", "PACE", "genuine", (Check("passive_authentication", True),),
                   {"id_number": f"0010990{n % 100000:05d}", "full_name": "Nguyễn Văn An",
                    "date_of_birth": "01/02/1990", "sex": "Nam"},
                   {"DG1": n.to_bytes(8, "big"), "DG13": b"x" * 400})


class Desk:
    def __init__(self, spec: DeskSpec, fleet: FleetSpec, seal: Any, out: FleetOutcome) -> None:
        self.id = spec.station_id
        self.settings = BrokerSettings(fleet.host, fleet.port, True, fleet.ca_file,
                                       spec.cert_file, spec.key_file)
        self.signer = RecordSigner(self.id, keys.load_signing_key(Path(spec.signing_key)), seal)
        self.topic = topics.RECORDS.of(self.id)
        self.out = out
        self.timeout_s = fleet.receipt_timeout_s
        self.seq = 0
        self.tokens: dict[str, bytes] = {}
        """Not yet receipted (sent or not)."""
        self.tap_at: dict[str, float] = {}
        self.receipt_at: dict[str, float] = {}
        self.unsent: collections.deque[str] = collections.deque()
        self.delivered_at: dict[str, float] = {}
        """PUBACKed, waiting for the receipt."""
        self.in_flight: dict[int, str] = {}
        self.sent_once: set[str] = set()
        self.connected = False
        self.fd = -1
        self.client = make_client(self.id, self.settings)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message

    # paho callbacks (on the loop's thread)
    def _on_connect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if rc.is_failure:
            self.out.connect_failures += 1
            return
        self.connected = True
        self.out.connects += 1
        client.subscribe(topics.RECEIPTS.of(self.id), qos=1)

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, rc: Any,
                       props: Any) -> None:
        self.connected = False
        # In flight is forgotten (as the publisher does): read again from the oldest unsent.
        lost = [rid for rid in self.in_flight.values() if rid in self.tokens]
        self.in_flight.clear()
        self.unsent.extendleft(reversed(lost))

    def _on_publish(self, client: Any, userdata: Any, mid: int, rc: Any, props: Any) -> None:
        rid = self.in_flight.pop(mid, None)
        if rid is None or rid not in self.tokens:
            return
        if rc.is_failure:
            self.out.puback_failures += 1
            self.unsent.appendleft(rid)
        else:
            self.delivered_at[rid] = time.monotonic()

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        now = time.monotonic()
        try:
            ids = json.loads(msg.payload)["ids"]
        except (ValueError, KeyError, TypeError):
            return
        for rid in ids:
            if self.tokens.pop(rid, None) is not None:
                self.receipt_at[rid] = now
                self.delivered_at.pop(rid, None)

    # driven by the loop
    def tap(self, n: int) -> None:
        self.seq += 1
        signed = self.signer.build(reading(n), self.seq)
        rid = signed.record.record_id
        self.tokens[rid] = signed.token
        self.tap_at[rid] = time.monotonic()
        self.unsent.append(rid)
        self.out.tapped += 1

    def pump(self) -> None:
        """Fill the window from the unsent records, oldest first."""
        while self.connected and self.unsent and len(self.in_flight) < WINDOW:
            rid = self.unsent.popleft()
            token = self.tokens.get(rid)
            if token is None:  # receipted meanwhile (a receipt of an earlier send)
                continue
            info = self.client.publish(self.topic, token, qos=1)
            if info.rc != 0:
                self.unsent.appendleft(rid)
                return
            self.in_flight[info.mid] = rid
            self.out.published += 1
            if rid in self.sent_once:
                self.out.resent += 1
            self.sent_once.add(rid)

    def requeue_unreceipted(self, now: float) -> bool:
        """Delivered records without a receipt after the timeout go back to the front."""
        late = [rid for rid, t in self.delivered_at.items() if now - t >= self.timeout_s]
        for rid in late:
            del self.delivered_at[rid]
        self.unsent.extendleft(reversed(late))
        return bool(late)

    def pending(self) -> int:
        return len(self.tokens)


class Fleet:
    def __init__(self, spec: FleetSpec) -> None:
        self.spec = spec
        self.out = FleetOutcome()
        seal = keys.load_backend_seal_key(Path(spec.seal_public))
        self.desks = [Desk(d, spec, seal, self.out) for d in spec.desks]
        self.sel = selectors.DefaultSelector()
        self.by_fd: dict[int, Desk] = {}
        self.rng = random.Random(spec.seed)
        self.taps = 0
        self.active: set[Desk] = set()
        """Desks that may have something to send or write."""

    def _watch(self, desk: Desk) -> None:
        self._unwatch(desk)
        sock = desk.client.socket()
        if sock is None:
            return
        desk.fd = sock.fileno()
        self.sel.register(desk.fd, selectors.EVENT_READ, desk)
        self.by_fd[desk.fd] = desk

    def _unwatch(self, desk: Desk) -> None:
        if desk.fd >= 0:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self.sel.unregister(desk.fd)
            self.by_fd.pop(desk.fd, None)
            desk.fd = -1

    def connect(self, desk: Desk, first: bool) -> None:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        try:
            if first:
                props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
                props.SessionExpiryInterval = SESSION_EXPIRY_S
                desk.client.connect(self.spec.host, self.spec.port, keepalive=60,
                                    clean_start=False, properties=props)
            else:
                desk.client.reconnect()
        except (OSError, ssl.SSLError, ValueError):
            self.out.connect_failures += 1
            return
        self._watch(desk)
        self.active.add(desk)

    def disconnect_all(self) -> None:
        for desk in self.desks:
            with contextlib.suppress(Exception):
                desk.client.disconnect()
                desk.client.loop_write()
            self._unwatch(desk)
            if desk.connected:  # paho may not have called back yet: the link is gone anyway
                desk._on_disconnect(desk.client, None, None, None, None)

    def turn(self, timeout_s: float) -> None:
        """One round of the network loop: read what arrived, then fill the windows of the
        desks that have something to send (only those: hundreds of idle desks cost nothing)."""
        for key, _ in self.sel.select(timeout_s):
            desk: Desk = key.data
            self._read(desk)
            self.active.add(desk)  # a PUBACK may have freed its window
        busy: set[Desk] = set()
        for desk in self.active:
            if desk.client.socket() is None:
                if desk.fd >= 0:
                    self._unwatch(desk)
                continue
            desk.pump()
            if desk.client.want_write():
                desk.client.loop_write()
            if desk.client.want_write() or (desk.unsent and len(desk.in_flight) < WINDOW):
                busy.add(desk)
        self.active = busy

    def _read(self, desk: Desk) -> None:
        client = desk.client
        for _ in range(64):  # TLS may hold decrypted records select cannot see
            if client.loop_read() != 0 or client.socket() is None:
                return
            sock = client.socket()
            if not (isinstance(sock, ssl.SSLSocket) and sock.pending()):
                return

    def run(self, t0: float) -> None:
        s = self.spec
        outage_at, back_at = t0 + s.steady_s, t0 + s.steady_s + s.outage_s
        end_at = back_at + s.after_s
        give_up = end_at + s.drain_timeout_s
        heap = [(t0 + self.rng.expovariate(1 / s.tap_interval_s), i)
                for i in range(len(self.desks))]
        heapq.heapify(heap)
        away = False
        next_misc = t0 + 1.0
        while True:
            now = time.monotonic()
            if not away and outage_at <= now < back_at:
                away = True
                self.disconnect_all()
            if away and now >= back_at:
                away = False
                for desk in self.desks:
                    self.connect(desk, first=False)
            while heap and heap[0][0] <= now and now < end_at:
                _, i = heapq.heappop(heap)
                self.desks[i].tap(self.taps)
                self.active.add(self.desks[i])
                self.taps += 1
                heapq.heappush(heap, (now + self.rng.expovariate(1 / s.tap_interval_s), i))
            if now >= next_misc:
                next_misc = now + 1.0
                for desk in self.desks:
                    if desk.requeue_unreceipted(now):
                        self.active.add(desk)
                    if desk.client.socket() is not None:
                        desk.client.loop_misc()
                    elif not away:
                        self.connect(desk, first=False)  # dropped by the broker: back
            if now >= end_at and (all(d.pending() == 0 for d in self.desks) or now >= give_up):
                break
            # Past the last tap the heap still holds due times nobody taps at any more: waiting
            # for them would be select(0) in a loop, a desk process spinning a core while it
            # only waits for receipts.
            wait = 0.01 if not heap or now >= end_at else max(0.0, min(0.01, heap[0][0] - now))
            self.turn(wait)
        for desk in self.desks:
            for rid, tap in desk.tap_at.items():
                self.out.records.append((rid, tap, desk.receipt_at.get(rid)))


def main(argv: list[str] | None = None) -> int:
    """``python -m station.sim.fleet SPEC.json``: see the module's docstring."""
    args = sys.argv[1:] if argv is None else argv
    spec = FleetSpec.load(Path(args[0]))
    fleet = Fleet(spec)
    for desk in fleet.desks:
        fleet.connect(desk, first=True)
    deadline = time.monotonic() + 60
    while not all(d.connected for d in fleet.desks) and time.monotonic() < deadline:
        fleet.turn(0.01)
    print(f"ready {sum(d.connected for d in fleet.desks)}", flush=True)
    line = sys.stdin.readline().split()
    if len(line) != 2 or line[0] != "go":
        return 2
    fleet.run(float(line[1]))
    fleet.disconnect_all()
    Path(spec.out).write_text(json.dumps(asdict(fleet.out)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
