"""The operator pages and the operators' API on a real database (SQLite and PostgreSQL), with
the fleet's tables filled the way the tracker fills them (FleetTracker.handle, the registry of
a CA made by `python -m provisioning`): the list and its filters, a station's page with its
events, the revoke form (CSRF, confirmation, provisioning's CRL and registry), roles on every
route, a broker that is away. The tracker on a real Mosquitto, commands that make the round
trip and the browser are in test_operator_browser.py."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from provisioning import registry
from station.console.app import create_app
from station.console.auth import new_secret
from station.console.config import FleetConfig
from station.ingest.fleet import FleetStore, FleetTracker, open_fleet_store
from station.pipeline.mqtt import BrokerSettings
from station.testing.ports import free_port
from tests.console.conftest import Site, config, csrf_of, sign_in
from tests.provisioning import deployment
from tests.provisioning.deployment import Deployment


@pytest.fixture(params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Both backend stores (conftest's target is SQLite only)."""
    if request.param == "sqlite":
        return str(tmp_path / "ingest.sqlite3")
    return str(request.getfixturevalue("pg_dsn"))


@dataclass
class Rig:
    site: Site
    ca: Deployment
    fleet: FleetStore

    def token(self, name: str) -> dict[str, str]:
        secret = new_secret()
        self.site.store.add_token(secret, name, "test")
        return {"Authorization": f"Bearer {secret}"}


@pytest.fixture()
def rig(site: Site, tmp_path: Path) -> Iterator[Rig]:
    d = deployment.build(tmp_path / "dep", "desk-a", start=False)
    deployment.add_station(d, "desk-b")
    fleet = open_fleet_store(site.target)
    tracker = FleetTracker(fleet, BrokerSettings(), registry_path=d.ca_dir / "registry.json")
    tracker.sync_registry(force=True)
    now = time.time()
    for sid, state in (("desk-a", "online"), ("desk-b", "offline")):
        tracker.handle(f"stations/{sid}/status", json.dumps(
            {"state": state, "station": sid, "time": now}).encode(), at=now)
    tracker.handle("stations/desk-a/health", json.dumps({
        "station": "desk-a", "uptime_s": 9, "pending": 0, "in_flight": 0, "delivered": 0,
        "oldest_pending_age_s": None, "expired": 0, "last_seq": 4, "outbox_full": False,
        "acked": 4, "refused": 1, "alarms": ["broker refused a record (reason 0x87)"],
        "version": "0.1.0", "interval_s": 30}).encode(), at=now)
    for name, role in (("lan", "clerk"), ("minh", "operator"), ("an", "admin")):
        site.user(name, role, "desk-a")  # type: ignore[arg-type]
    yield Rig(site, d, fleet)
    fleet.close()


@pytest.fixture()
def console(rig: Rig) -> Iterator[TestClient]:
    app = create_app(config(rig.site, fleet=FleetConfig(ca_dir=rig.ca.ca_dir)), rig.site.store)
    with TestClient(app, base_url="https://testserver") as c:
        yield c


def _verdicts(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-station="([^"]+)" data-verdict="([^"]+)"', html))


def test_operator_sees_every_station_and_filters(console: TestClient) -> None:
    r = sign_in(console, "minh")
    assert r.status_code == 303 and r.headers["location"] == "/stations"
    page = console.get("/stations")
    assert page.status_code == 200
    assert _verdicts(page.text) == {"desk-a": "online", "desk-b": "offline"}
    assert "broker refused a record" in page.text and "0.1.0" in page.text
    assert _verdicts(console.get("/stations?filter=offline").text) == {"desk-b": "offline"}
    assert _verdicts(console.get("/stations?filter=alarmed").text) == {"desk-a": "online"}
    assert _verdicts(console.get("/stations?filter=revoked").text) == {}
    live = console.get("/stations.json", params={"filter": "alarmed"}).json()
    assert [s["station_id"] for s in live["stations"]] == ["desk-a"]
    assert live["stations"][0]["flags"] == ["alarmed"]
    assert console.get("/stations?filter=nonsense").status_code == 422


def test_a_clerk_is_refused_the_operator_pages_and_api(console: TestClient, rig: Rig) -> None:
    assert sign_in(console, "lan").status_code == 303
    csrf = csrf_of(console.get("/desk").text)
    for path in ("/stations", "/stations.json", "/stations/desk-a"):
        assert console.get(path).status_code == 403, path
    for path in ("/stations/desk-a/commands", "/stations/desk-a/revocation"):
        r = console.post(path, data={"csrf": csrf, "cmd": "ping", "confirm": "desk-a"})
        assert r.status_code == 403, path
    assert registry.load(rig.ca.ca_dir / "registry.json")["desk-a"].revoked_at is None
    api = TestClient(console.app, base_url="https://testserver")
    assert api.get("/api/v1/fleet/stations").status_code == 401
    assert api.get("/api/v1/fleet/stations", headers=rig.token("lan")).status_code == 403
    r = api.post("/api/v1/fleet/stations/desk-a/revocation", json={"revoked": True},
                 headers=rig.token("lan"))
    assert r.status_code == 403
    ok = api.get("/api/v1/fleet/stations", headers=rig.token("minh"))
    assert ok.status_code == 200 and len(ok.json()["stations"]) == 2
    one = api.get("/api/v1/fleet/stations/desk-a", headers=rig.token("an")).json()
    assert one["heartbeat"]["refused"] == 1
    assert [e["kind"] for e in one["events"]][:2] == ["alarm", "status"]
    assert api.get("/api/v1/fleet/stations/desk-zz",
                   headers=rig.token("minh")).status_code == 404


def test_revoke_from_the_station_page(console: TestClient, rig: Rig) -> None:
    sign_in(console, "minh")
    page = console.get("/stations/desk-a")
    assert page.status_code == 200 and 'id="revocation"' in page.text
    assert "broker refused a record" in page.text  # the event list
    csrf = csrf_of(page.text)
    forged = console.post("/stations/desk-a/revocation",
                          data={"csrf": "0" * 64, "confirm": "desk-a"}, follow_redirects=False)
    assert forged.status_code == 403
    unconfirmed = console.post("/stations/desk-a/revocation",
                               data={"csrf": csrf, "confirm": "desk-b"}, follow_redirects=False)
    assert unconfirmed.status_code == 303 and "error=" in unconfirmed.headers["location"]
    assert registry.load(rig.ca.ca_dir / "registry.json")["desk-a"].revoked_at is None
    done = console.post("/stations/desk-a/revocation",
                        data={"csrf": csrf, "action": "revoke", "confirm": "desk-a"})
    assert done.status_code == 200
    entry = registry.load(rig.ca.ca_dir / "registry.json")["desk-a"]
    assert entry.revoked_at
    assert 'id="manual"' in done.text and "systemctl restart mosquitto" in done.text
    assert _verdicts(console.get("/stations?filter=revoked").text) == {"desk-a": "online"}
    assert any(a.action == "revoke" and a.detail == "desk-a" and a.user_name == "minh"
               for a in rig.site.store.audit_log())
    # And back through the API, with an operator's token.
    api = TestClient(console.app, base_url="https://testserver")
    r = api.post("/api/v1/fleet/stations/desk-a/revocation", json={"revoked": False},
                 headers=rig.token("minh"))
    assert r.status_code == 200 and r.json()["revoked"] is False
    assert registry.load(rig.ca.ca_dir / "registry.json")["desk-a"].revoked_at is None


def test_commands_are_refused_without_a_broker_connection(console: TestClient,
                                                          rig: Rig) -> None:
    sign_in(console, "minh")
    csrf = csrf_of(console.get("/stations/desk-a").text)
    r = console.post("/stations/desk-a/commands", data={"csrf": csrf, "cmd": "ping"},
                     follow_redirects=False)
    assert r.status_code == 303 and "no+broker+connection" in r.headers["location"]
    assert console.post("/stations/desk-a/commands", data={"cmd": "ping"}).status_code == 403
    api = TestClient(console.app, base_url="https://testserver")
    r = api.post("/api/v1/fleet/stations/desk-a/commands", json={"cmd": "ping"},
                 headers=rig.token("minh"))
    assert r.status_code == 409
    r = api.post("/api/v1/fleet/stations/desk-a/commands", json={"cmd": "format_disk"},
                 headers=rig.token("minh"))
    assert r.status_code == 422
    assert rig.fleet.commands("desk-a") == []


def test_a_console_without_the_ca_cannot_revoke(rig: Rig) -> None:
    app = create_app(config(rig.site), rig.site.store)
    with TestClient(app, base_url="https://testserver") as c:
        sign_in(c, "an")
        assert 'id="revocation"' not in c.get("/stations/desk-a").text
        r = c.post("/api/v1/fleet/stations/desk-a/revocation", json={"revoked": True},
                   headers=rig.token("an"))
        assert r.status_code == 409
    assert registry.load(rig.ca.ca_dir / "registry.json")["desk-a"].revoked_at is None


def test_the_pages_serve_while_the_broker_is_away(rig: Rig) -> None:
    away = BrokerSettings("127.0.0.1", free_port())  # nothing listens there
    app = create_app(config(rig.site, fleet=FleetConfig(broker=away)), rig.site.store)
    with TestClient(app, base_url="https://testserver") as c:
        sign_in(c, "minh")
        page = c.get("/stations")
        assert page.status_code == 200 and 'id="tracker-down"' in page.text
        assert _verdicts(page.text) == {"desk-a": "online", "desk-b": "offline"}
        r = c.post("/api/v1/fleet/stations/desk-a/commands", json={"cmd": "ping"},
                   headers=rig.token("minh"))
        assert r.status_code == 409 and "not connected" in r.json()["detail"]
