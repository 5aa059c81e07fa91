"""`station demo`: the real desk service on software twins, for a newcomer to watch work.

What runs is the product, not a sketch of it: the desk built by
:func:`station.service.desk.build` (the PC/SC card watch and chip reader, the QR watch, the
trust-store verifier, the signed-record store with its MQTT publisher) on

- a private pcscd with the vpcd driver, where virtual CCCD chips (:mod:`station.sim.issuer` +
  :class:`~station.sim.chip.CccdChip`) are put on the reader: PACE with the CAN from the QR,
  Chip and Active Authentication, secure messaging;
- a replay camera (:class:`station.testing.desk.DeskCamera`) holding each synthetic citizen's
  QR code, photographed, in front of the desk before the tap;
- a state directory like a provisioned station's (:func:`station.testing.desk.prepare_state`:
  the Ed25519 signing key, the backend's sealing key, a trust store with the synthetic issuer's
  CSCA and CRL from :mod:`station.sim.pki`), so verification really runs;
- a local Mosquitto (:class:`station.testing.mosquitto.MosquittoBroker`, installed by
  ``scripts/bootstrap``) with the mTLS listener and access list ``python -m provisioning
  mosquitto`` generates for a real broker;
- the reference ingest backend (:mod:`station.ingest`), which verifies each record's signature
  and opens its sealed fields with the backend key;
- the web console (:mod:`station.console`) on ingest's database, on http://localhost: a demo
  clerk bound to the demo desk (name and a fresh password printed) sees the taps on the desk
  view; with ``hold_s`` it stays up that long after the taps.

The last card is a forgery — a clone: every file copied bit for bit (passive authentication
passes) on a chip with other keys (Chip/Active Authentication fail) — so the "not genuine"
path is shown too: the demo desk records refusals (``[profile] record_refusals``: outcome and
checks, no citizen field), so the clerk's desk view shows the clone as not genuine. Each
stage is printed as it happens (the demo observes the service's own
stages through thin wrappers; it never stands in for one), then a summary. Only counts and
record ids are printed, never a citizen's data. Everything the demo started is stopped.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioning.mosquitto import BACKEND_USER
from station import config
from station.ingest import Ingest, Received
from station.pipeline.mqtt import BrokerSettings
from station.pipeline.records import Reading, RecordSigner, SignedRecord
from station.pipeline.store import OutboxStore
from station.service import machine as m
from station.service.desk import build
from station.service.ports import ChipReader, Verifier
from station.service.readings import Checked, ChipReading, DeskKeys, Read, VerifiedReading
from station.sim import issuer
from station.sim.chip import CccdChip, ChipOptions
from station.sim.citizens import generate
from station.sim.qrimage import render
from station.sim.vpcd import VpcdLink
from station.testing.desk import DeskCamera, prepare_state
from station.testing.mosquitto import MosquittoBroker
from station.testing.pcscd import PcscdTestbed
from station.testing.wait import wait_until
from station.trust.verdict import Outcome

Say = Callable[[str], None]
STATION_ID = "demo-desk-01"


@dataclass(frozen=True)
class DemoResult:
    cards: int
    """Cards tapped, the forged one included."""
    forged: int
    stored: int
    published: int
    acknowledged: int
    refused: int
    """Cards the desk refused (the forged one must be; a genuine one must not). The demo desk
    records a refusal (``[profile] record_refusals``): outcome and checks, no citizen data, so
    the clerk's desk view shows it as not genuine."""
    genuine: int = 0
    """Records whose outcome is ``genuine`` (PA + chip/active authentication passed)."""

    @property
    def ok(self) -> bool:
        honest = self.cards - self.forged
        return (self.stored == self.published == self.acknowledged == self.cards
                and self.genuine == honest and self.refused == self.forged)


@contextlib.contextmanager
def _started(say: Say) -> Iterator[tuple[PcscdTestbed, MosquittoBroker]]:
    with contextlib.ExitStack() as stack:
        say("starting pcscd with the vpcd virtual reader driver …")
        testbed = stack.enter_context(PcscdTestbed())
        testbed.activate()
        say(f"  pcscd up, readers: {', '.join(testbed.readers)} (vpcd port {testbed.port}, "
            f"pid {testbed.pid})")
        say("starting Mosquitto on a free loopback port (mTLS, the listener and access "
            "list `python -m provisioning mosquitto` generates) …")
        broker = MosquittoBroker(tls=True)
        broker.client_cert(STATION_ID)  # listed in the access list from the start
        broker.client_cert(BACKEND_USER)
        broker = stack.enter_context(broker)
        say(f"  broker up on 127.0.0.1:{broker.port} (Mosquitto, pid {broker.pid})")
        yield testbed, broker


def _config_text(state: Path, reader: str, port: int, mqtt: BrokerSettings) -> str:
    """The station.toml of the demo desk (what `station provision` would write, pointed at the
    demo's pcscd reader and broker)."""
    tls = (f"tls = true\nca_file = '{mqtt.ca_file}'\ncert_file = '{mqtt.cert_file}'\n"
           f"key_file = '{mqtt.key_file}'\n" if mqtt.tls else "tls = false\n")
    return (f"[station]\nid = '{STATION_ID}'\nprofile = 'reception'\nstate_dir = '{state}'\n"
            f"[reader]\nname = '{reader}'\n"
            "[camera]\nsource = 'none'\n"  # the demo hands the desk its replay camera
            f"[trust]\npath = '{state / 'trust'}'\n"
            f"[mqtt]\nhost = '127.0.0.1'\nport = {port}\n{tls}"
            "[profile]\nrecord_refusals = true\n"  # the desk view shows the clone refused
            "[session]\nresult_hold_s = 0.3\n"
            "[feedback]\nenabled = false\n")


class _Stages:
    """Prints each stage of the card in front of the desk; thread-safe (the service's loop,
    its workers, the publisher and ingest all report)."""

    def __init__(self, say: Say) -> None:
        self._say = say
        self._lock = threading.Lock()
        self.t0 = time.monotonic()
        self.card = ""
        self.by_record: dict[str, str] = {}
        self.stored: set[str] = set()
        self.published: set[str] = set()
        self.acknowledged: set[str] = set()
        self.genuine: set[str] = set()
        self.refused = 0

    def say(self, text: str, card: str | None = None) -> None:
        with self._lock:
            ms = (time.monotonic() - self.t0) * 1000
            self._say(f"[{ms:7.0f} ms] {card or self.card}: {text}")


class _ObservedChip:
    """The desk's chip reader, timed and reported."""

    def __init__(self, inner: ChipReader, stages: _Stages) -> None:
        self.inner, self.stages = inner, stages

    def read(self, slot: str, keys: DeskKeys, progress: Callable[[float], None],
             cancel: threading.Event) -> tuple[ChipReading, str]:
        t = time.monotonic()
        reading, subject = self.inner.read(slot, keys, progress, cancel)
        ms = (time.monotonic() - t) * 1000
        proofs = ", ".join(f"{p.kind} {'ok' if p.ok else 'FAILED'}" for p in
                           (reading.chip_authentication, reading.active_authentication)
                           if p is not None) or "no CA/AA"
        self.stages.say(f"read ({reading.detail}; {len(reading.chip.files)} files, "
                        f"{reading.apdus} APDUs, {ms:.0f} ms; {proofs})")
        return reading, subject


class _ObservedVerifier:
    def __init__(self, inner: Verifier, stages: _Stages) -> None:
        self.inner, self.stages = inner, stages

    def verify(self, reading: Read) -> tuple[Outcome, Checked]:
        outcome, verified = self.inner.verify(reading)
        if not isinstance(verified, VerifiedReading):
            self.stages.say(f"verified: {outcome.value} (the MRZ alone)")
            return outcome, verified
        v = verified.verification
        passed = [c.name for c in v.checks if c.ok]
        why = f" — {v.reason}" if v.reason else ""
        self.stages.say(f"verified: {v.outcome}{why} (passed: {', '.join(passed) or 'none'})")
        return outcome, verified


class _ObservedSigner:
    def __init__(self, inner: RecordSigner, stages: _Stages) -> None:
        self.inner, self.stages = inner, stages
        self.station_id = inner.station_id

    def build(self, reading: Reading, seq: int) -> SignedRecord:
        signed = self.inner.build(reading, seq)
        rid = signed.record.record_id
        self.stages.by_record[rid] = self.stages.card
        self.stages.say(f"signed: record {rid} (seq {seq}, outcome {signed.record.outcome}; "
                        f"JWS Ed25519, {len(reading.citizen)} citizen fields sealed with HPKE "
                        f"to the backend key; {len(signed.token)} B)")
        return signed


class _ObservedStore:
    def __init__(self, inner: OutboxStore, stages: _Stages) -> None:
        self.inner, self.stages = inner, stages

    def store(self, reading: Reading) -> str:
        rid = self.inner.store(reading)
        self.stages.stored.add(rid)
        self.stages.say("stored (SQLite outbox, WAL, synchronous=FULL, committed)")
        return rid

    def has_room(self) -> bool:
        return self.inner.has_room()

    def close(self) -> None:
        self.inner.close()


def run(cards: int = 3, say: Say = print, hold_s: float = 0.0) -> DemoResult:
    """Tap ``cards`` genuine cards and then one forged card at the demo desk; keep the console
    up ``hold_s`` seconds after the taps (Ctrl-C ends that wait)."""
    with tempfile.TemporaryDirectory(prefix="station-demo-") as tmp, \
            _started(say) as (testbed, mqtt):
        result = _run_desk(Path(tmp), testbed, mqtt, cards, say, hold_s)
    say("")
    say(f"summary: {result.cards} card(s) tapped ({result.forged} forged), {result.stored} "
        f"stored, {result.acknowledged} acknowledged by the backend, {result.published} "
        f"released by the station on the backend's receipt, {result.genuine} genuine, "
        f"{result.refused} refused as not genuine — "
        + ("all as expected" if result.ok else "SOMETHING WENT WRONG"))
    say("all processes the demo started are stopped")
    return result


def _run_desk(tmp: Path, testbed: PcscdTestbed, mqtt: MosquittoBroker,
              cards: int, say: Say, hold_s: float = 0.0) -> DemoResult:
    from PIL import Image

    stages = _Stages(say)
    state = tmp / "state"
    signing_pub, backend = prepare_state(state)
    say(f"station state in {state}: Ed25519 signing key, backend sealing key, trust store "
        "(synthetic CSCA + CRL)")
    cfg_path = tmp / "station.toml"
    cfg_path.write_text(_config_text(state, testbed.readers[0], mqtt.port,
                                     mqtt.settings(STATION_ID)))
    cfg = config.load(cfg_path)

    def received(r: Received) -> None:
        if r.duplicate:
            return
        rid = r.record.record_id
        stages.acknowledged.add(rid)
        if r.record.outcome == "genuine":
            stages.genuine.add(rid)
        opened = len(r.citizen) if r.citizen is not None else 0
        stages.say(f"acknowledged by the backend (signature verified, {opened} sealed fields "
                   "opened, stored in ingest's database)", stages.by_record.get(rid))

    ingest = Ingest(tmp / "ingest.sqlite3", mqtt.settings(BACKEND_USER),
                    stations={STATION_ID: signing_pub},  # type: ignore[dict-item]
                    backend_key=backend,  # type: ignore[arg-type]
                    client_id="ingest-demo", on_record=received)
    ingest.start()
    say("reference ingest backend subscribed to $share/ingest/stations/+/records")
    console = _DemoConsole(tmp / "ingest.sqlite3", backend, say)

    camera = DeskCamera()
    desk = build(cfg, camera=camera.open, tick_s=0.05)
    service = desk.service
    outbox_store: Any = desk.store  # the OutboxStore build() made: its signer is wrapped below
    outbox_store.signer = _ObservedSigner(outbox_store.signer, stages)

    def acked(rid: str, ok: bool) -> None:
        if ok:
            stages.published.add(rid)
            # on_ack fires on the backend's receipt (mqtt.release = "receipt"), not the PUBACK.
            stages.say("released by the station (the backend's receipt came; the sealed data "
                       "is deleted from the outbox)", stages.by_record.get(rid))

    outbox_store.publisher.on_ack = acked
    service.chip = _ObservedChip(service.chip, stages)
    service.verifier = _ObservedVerifier(service.verifier, stages)
    service.store = _ObservedStore(outbox_store, stages)

    settled = threading.Event()

    def changed(before: m.Session, after: m.Session) -> None:
        if after.phase is before.phase:
            return
        if after.phase is m.Phase.WAITING and after.source is m.KeySource.QR:
            stages.say("QR seen (CAN and MRZ key derived; waiting for the card)")
        elif after.phase is m.Phase.READING:
            stages.say(f"card seen on {after.slot}")
        elif after.phase is m.Phase.SUCCESS:
            settled.set()
        elif after.phase is m.Phase.FAILED:
            failure = after.failure.value if after.failure else "?"
            if after.failure is m.Failure.NOT_GENUINE:
                stages.refused += 1
            what = ("recorded as refused (outcome and checks only, no citizen data)"
                    if after.failure is m.Failure.NOT_GENUINE else "nothing recorded")
            stages.say(f"REFUSED by the desk: {failure.replace('_', ' ')} — {what}")
            settled.set()

    service.machine.listeners.append(changed)
    runner = threading.Thread(target=service.run, name="station-demo-desk", daemon=True)
    runner.start()
    tapped = forged = 0
    try:
        if not service.ready.wait(15):
            raise RuntimeError("the desk never became ready")
        say(f"desk '{STATION_ID}' ready (profile {desk.profile.name}, requires "
            f"{desk.profile.require.name.lower()})")
        say("")
        options = ChipOptions()
        for n in range(1, cards + 2):
            fake = n == cards + 1
            citizen = generate(1000 + n)
            stages.card = f"card {n}" + (" (forged: a clone)" if fake else "")
            png = tmp / f"qr-{n}.png"
            Image.fromarray(render(citizen.qr_text(), seed=n)).save(png)
            image = issuer.issue(citizen, options)
            if fake:
                image = issuer.clone(image, options)
            settled.clear()
            camera.show(png, frames=10)
            if not wait_until(lambda: service.machine.session.phase is m.Phase.WAITING, 10):
                stages.say("the QR was not seen; skipping this card")
                continue
            link = VpcdLink(CccdChip(image, options), testbed.slot_port(0))
            link.insert()
            tapped += 1
            forged += fake
            try:
                settled.wait(30)
            finally:
                link.remove()
            wait_until(lambda: service.machine.session.phase is m.Phase.IDLE, 10)
        # Every tap is a record (a refusal too), stored, acknowledged and released.
        wait_until(lambda: len(stages.stored) >= tapped
                   and stages.acknowledged >= stages.stored
                   and stages.published >= stages.stored, 15)
        console.hold(hold_s)
    finally:
        service.request_stop()
        runner.join(timeout=20)
        console.close()
        ingest.stop()
    return DemoResult(tapped, forged, len(stages.stored), len(stages.published),
                      len(stages.acknowledged), stages.refused, len(stages.genuine))


class _DemoConsole:
    """The web console on the demo's ingest database, served on http://localhost (browsers
    send its Secure cookies there without TLS), with a demo clerk bound to the demo desk."""

    CLERK = "demo-clerk"

    def __init__(self, db: Path, backend: Any, say: Say) -> None:
        # Deferred: the console extra (FastAPI, uvicorn, argon2) is not on a station.
        import secrets

        from station.console.app import create_app
        from station.console.auth import hash_password
        from station.console.config import ConsoleConfig
        from station.console.store import ConsoleStore
        from station.testing.console import ConsoleServer

        self._say = say
        self.store = ConsoleStore(db)
        self.password = secrets.token_urlsafe(9)
        self.store.add_user(self.CLERK, "clerk", hash_password(self.password))
        self.store.bind(self.CLERK, STATION_ID)
        self.server = ConsoleServer(create_app(
            ConsoleConfig(db, secrets.token_bytes(32), backend, reading_ttl_s=600),
            self.store))
        self.server.start()
        say(f"web console on {self.server.url}/ — desk view of {STATION_ID}: sign in as "
            f"{self.CLERK} / {self.password}")

    def hold(self, seconds: float) -> None:
        if seconds <= 0:
            return
        self._say(f"the web console stays up {seconds:.0f} s ({self.server.url}/desk; Ctrl-C "
                  "to stop now)")
        with contextlib.suppress(KeyboardInterrupt):
            time.sleep(seconds)

    def close(self) -> None:
        self.server.stop()
        self.store.close()
