"""The desk test bed shared by the desk tests (tests/service/test_desk.py, test_lodging.py,
test_mrz_fallback.py): the service built by ``station.service.desk`` on a real pcscd + vpcd,
Mosquitto and the reference ingest, a backend on the commands topic, and a tap."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from station import config
from station.ingest import Ingest, Received
from station.service import machine as m
from station.service.desk import build
from station.service.profiles import Booking
from station.sim import issuer
from station.sim.chip import CccdChip, ChipOptions
from station.sim.vpcd import VpcdLink
from station.testing.desk import DeskCamera, prepare_state
from station.testing.mosquitto import MosquittoBroker
from station.testing.pcscd import PcscdTestbed
from station.testing.wait import wait_until

BOOKING = Booking("BK-1", "203", *(__import__("datetime").date(2030, 1, d) for d in (2, 4)))


def wait(cond: Callable[[], bool], timeout: float = 15.0) -> bool:
    return wait_until(cond, timeout)


class Bed:
    def __init__(self, tmp: Path, pcscd: PcscdTestbed, broker: MosquittoBroker,
                 profile: str, *, booking_from_commands: bool = False, display: str = "",
                 session: str = "", profile_options: str = "") -> None:
        self.tmp, self.pcscd = tmp, pcscd
        self.station = f"desk-{profile}"
        signing_pub, backend = prepare_state(tmp / "state")
        extra = "establishment_id = 'LT-0001'\n" if profile == "lodging" else ""
        (tmp / "station.toml").write_text(
            f"[station]\nid = '{self.station}'\nprofile = '{profile}'\n"
            f"state_dir = '{tmp / 'state'}'\n"
            f"[reader]\nname = '{pcscd.readers[0]}'\n"
            f"[camera]\nsource = 'none'\n"
            f"[trust]\npath = '{tmp / 'state' / 'trust'}'\n"
            f"[mqtt]\nhost = '127.0.0.1'\nport = {broker.port}\ntls = false\n"
            f"[session]\nresult_hold_s = 0.5\n{session}"
            f"[feedback]\nenabled = false\n{display}"
            f"[profile]\n{extra}{profile_options}")
        self.cfg = config.load(tmp / "station.toml")
        self.received: list[Received] = []
        self.ingest = Ingest(tmp / "ingest.sqlite3", broker.settings(),
                             stations={self.station: signing_pub},  # type: ignore[dict-item]
                             backend_key=backend,  # type: ignore[arg-type]
                             client_id="ingest-desk", on_record=self.received.append)
        self.camera = DeskCamera()
        self.desk = build(self.cfg, camera=self.camera.open,
                          booking=None if booking_from_commands else (lambda: BOOKING),
                          tick_s=0.05)
        self.phases: list[m.Session] = []
        self.desk.service.machine.listeners.append(lambda a, b: self.phases.append(b))

    @property
    def session(self) -> m.Session:
        return self.desk.service.machine.session


@contextlib.contextmanager
def running(b: Bed) -> Iterator[Bed]:
    b.ingest.start()
    runner = threading.Thread(target=b.desk.service.run, daemon=True)
    runner.start()
    assert b.desk.service.ready.wait(10), "the desk never became ready"
    try:
        yield b
    finally:
        b.desk.service.request_stop()
        runner.join(timeout=15)
        b.ingest.stop()
    assert not runner.is_alive()


class Backend:
    """The backend's side of the commands topic: send a command, wait for its reply."""

    def __init__(self, broker: MosquittoBroker, station: str) -> None:
        from station.pipeline.mqtt import make_client

        self.station = station
        self.replies: dict[str, dict[str, Any]] = {}
        self.client = make_client(f"backend-{station}", broker.settings())
        subscribed = threading.Event()
        self.client.on_message = lambda c, u, msg: self._reply(json.loads(msg.payload))
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.connect(broker.settings().host, broker.port)
        self.client.loop_start()
        self.client.subscribe(f"stations/{station}/events/command", qos=1)
        assert subscribed.wait(5)

    def _reply(self, r: dict[str, Any]) -> None:
        self.replies[r["id"]] = r

    def command(self, cid: str, name: str, **args: Any) -> dict[str, Any]:
        topic = f"stations/{self.station}/commands"
        body = json.dumps({"cmd": name, "id": cid, "args": args}).encode()
        # The desk's publisher subscribes once connected: repeat until it answers.
        for _ in range(50):
            self.client.publish(topic, body, qos=1)
            if wait(lambda: cid in self.replies, 0.2):
                return self.replies[cid]
        raise AssertionError(f"no reply to {name}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def settled(bed: Bed, timeout: float = 20) -> m.Session:
    """The first session that ended (SUCCESS or FAILED), once one has."""
    assert wait(lambda: any(s.phase in (m.Phase.SUCCESS, m.Phase.FAILED) for s in bed.phases),
                timeout), bed.session
    return next(s for s in bed.phases if s.phase in (m.Phase.SUCCESS, m.Phase.FAILED))


def outbox_files(b: Bed) -> list[bytes]:
    return [p.read_bytes() for p in (b.tmp / "state").glob("outbox.sqlite3*")]


def ingest_token(b: Bed, got: Received) -> bytes:
    import sqlite3

    with sqlite3.connect(b.tmp / "ingest.sqlite3") as db:
        row = db.execute("SELECT token FROM received WHERE record_id=?",
                         (got.record.record_id,)).fetchone()
    assert row is not None
    return bytes(row[0])


def tap(b: Bed, citizen: Any) -> None:
    options = ChipOptions()
    link = VpcdLink(CccdChip(issuer.issue(citizen, options), options), b.pcscd.slot_port(0))
    link.insert()
    try:
        assert wait(lambda: any(s.phase in (m.Phase.SUCCESS, m.Phase.FAILED)
                                 for s in b.phases), 20), b.session
    finally:
        link.remove()
