"""The operator pages in a real headless Chromium (tests/console/browser.py), on a real fleet:
Mosquitto started from the configuration `python -m provisioning mosquitto` generates, a
provisioned station running as a process of its own (tests/ingest/fleet/fleet_bed.py), and the
console serving on http://localhost with its own fleet tracker (the ``operator`` identity) and
the operator CA.

The operator sees the station online; a ping sent from the station page comes back answered;
when the station's process stops (SIGKILL: the broker's Last Will) the list page shows it
offline without a reload; a clerk is refused the operator pages. Screenshots go to the test's
directory (and, with STATION_UPDATE_REFERENCE=1, to tests/console/reference/ for README)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from station.console.app import create_app
from station.console.auth import hash_password, new_secret
from station.console.config import ConsoleConfig, FleetConfig
from station.console.store import ConsoleStore
from station.ingest.fleet import FleetPolicy
from station.testing.console import ConsoleServer
from station.testing.ports import free_port
from station.testing.wait import wait_until
from tests.console.browser import (
    PASSWORD,
    By,
    WebDriver,
    WebDriverWait,
    chromium,
    screenshot,
    sign_in,
)
from tests.ingest.fleet import fleet_bed
from tests.ingest.fleet.fleet_bed import STATION, StationProcess, settings
from tests.provisioning import deployment
from tests.provisioning.deployment import Deployment

pytestmark = [pytest.mark.mqtt, pytest.mark.slow]

OFFLINE_BUDGET_S = 5.0
"""From the station process's death to "offline" on the operator's screen: the broker's Will
(at once for a dead TCP connection), the tracker's store write, the page's next poll (1 s)."""


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    d = fleet_bed.build(tmp_path_factory.mktemp("fleet-browser"))
    yield d
    deployment.cleanup(d)


def _config(db: Path, d: Deployment) -> ConsoleConfig:
    return ConsoleConfig(db, os.urandom(32), poll_interval_s=0.1, language="vi",
                         fleet=FleetConfig(broker=settings(d, "operator"), client_id="operator",
                                           ca_dir=d.ca_dir,
                                           policy=FleetPolicy(stale_after_intervals=4)))


def _row(driver: WebDriver, station: str) -> tuple[str, str] | None:
    """(verdict, text) of a station's row, read in one go: the page's script redraws the
    table every second, so an element found a moment ago may be gone."""
    got = driver.execute_script(
        "const r = document.querySelector('#stations tr[data-station=\"' + arguments[0] +"
        " '\"]'); return r ? [r.dataset.verdict, r.innerText] : null;", station)
    return None if got is None else (str(got[0]), str(got[1]))


def _verdict(driver: WebDriver, station: str) -> str | None:
    row = _row(driver, station)
    return None if row is None else row[0]


def test_operator_sees_a_station_go_offline_and_a_clerk_is_refused(
        fleet: Deployment, tmp_path: Path) -> None:
    db = tmp_path / "backend.sqlite3"
    store = ConsoleStore(db)
    store.add_user("minh", "operator", hash_password(PASSWORD))
    store.add_user("lan", "clerk", hash_password(PASSWORD))
    store.bind("lan", STATION)
    server = ConsoleServer(create_app(_config(db, fleet), store))
    server.start()
    station = StationProcess(fleet, tmp_path / "outbox.sqlite3")
    operator = clerk = None
    try:
        operator = chromium()
        sign_in(operator, server.url, "minh", "/stations")
        WebDriverWait(operator, 15, poll_frequency=0.1).until(
            lambda d: _verdict(d, STATION) == "online")
        row = _row(operator, STATION)
        assert row is not None and "trực tuyến" in row[1] and "0.1.0" in row[1]
        assert _verdict(operator, fleet_bed.SPARE) == "unknown"  # registered, never heard of
        screenshot(operator, tmp_path, "console-stations")

        # The station's page: a ping through the form comes back answered.
        operator.find_element(By.LINK_TEXT, STATION).click()
        WebDriverWait(operator, 10).until(lambda d: d.find_elements(By.ID, "cmd-ping"))
        operator.find_element(By.CSS_SELECTOR, "#cmd-ping button").click()
        sent = WebDriverWait(operator, 10).until(lambda d: d.find_element(By.ID, "sent")).text

        def answered(d: WebDriver) -> bool:
            d.refresh()
            got = d.execute_script(
                "const r = document.querySelector('tr[data-command=\"' + arguments[0] +"
                " '\"]'); return r ? r.lastElementChild.innerText : null;", sent)
            return bool(got == "ok: pong")

        WebDriverWait(operator, 10, poll_frequency=0.3).until(answered)
        assert "command-sent" in operator.find_element(By.ID, "events").text
        operator.set_window_size(1100, 1700)
        screenshot(operator, tmp_path, "console-station")
        operator.set_window_size(1100, 900)

        # Stop the station's process: the list page says offline by itself (no reload).
        operator.get(f"{server.url}/stations")
        WebDriverWait(operator, 10).until(lambda d: _verdict(d, STATION) == "online")
        station.signal(signal.SIGKILL)
        killed = time.monotonic()
        WebDriverWait(operator, OFFLINE_BUDGET_S + 5, poll_frequency=0.05).until(
            lambda d: _verdict(d, STATION) == "offline")
        took = time.monotonic() - killed
        assert took < OFFLINE_BUDGET_S, took
        assert operator.execute_script("return performance.getEntriesByType('navigation')"
                                       ".length") == 1  # the same page, redrawn by its script
        row = _row(operator, STATION)
        assert row is not None and "ngoại tuyến" in row[1]
        operator.get(f"{server.url}/stations?filter=offline")
        WebDriverWait(operator, 5).until(lambda d: _verdict(d, STATION) == "offline")
        screenshot(operator, tmp_path, "console-offline")

        # A clerk signs in to the desk view and is refused the operator pages.
        clerk = chromium()
        sign_in(clerk, server.url, "lan", "/desk")
        for path in ("/stations", f"/stations/{STATION}", "/stations.json"):
            clerk.get(f"{server.url}{path}")
            body = clerk.find_element(By.TAG_NAME, "body").text
            assert "not allowed for this role" in body and STATION not in body, path
        assert clerk.find_elements(By.ID, "nav-stations") == []
    finally:
        for d in (operator, clerk):
            if d is not None:
                d.quit()
        station.close()
        server.stop()
        store.close()


def test_api_command_round_trip_through_the_consoles_tracker(
        fleet: Deployment, tmp_path: Path) -> None:
    """The operators' API with a token: a command to a live station, its answer polled."""
    db = tmp_path / "backend.sqlite3"
    store = ConsoleStore(db)
    store.add_user("minh", "operator", hash_password(PASSWORD))
    token = new_secret()
    store.add_token(token, "minh", "fleet tool")
    auth = {"Authorization": f"Bearer {token}"}
    station = StationProcess(fleet, tmp_path / "outbox.sqlite3")
    try:
        with TestClient(create_app(_config(db, fleet), store),
                        base_url="https://testserver") as api:
            assert wait_until(lambda: api.get(f"/api/v1/fleet/stations/{STATION}",
                                              headers=auth).json().get("state") == "online",
                              10)
            r = api.post(f"/api/v1/fleet/stations/{STATION}/commands", headers=auth,
                         json={"cmd": "booking", "args": {
                             "booking_id": "BK-9", "room": "101", "arrival": "2030-03-01",
                             "departure": "2030-03-02"}})
            assert r.status_code == 202
            cid = r.json()["command_id"]

            def answer() -> dict[str, object]:
                got: dict[str, object] = api.get(f"/api/v1/fleet/commands/{cid}",
                                                 headers=auth).json()
                return got

            assert wait_until(lambda: answer()["ok"] is not None, 10)
            assert answer()["ok"] is True and "room 101" in str(answer()["message"])
            assert any(a.action == "command" and a.detail == f"{STATION} booking"
                       for a in store.audit_log())
    finally:
        station.close()
        store.close()


def test_station_console_serve_track_runs_the_tracker(fleet: Deployment, tmp_path: Path) -> None:
    """`station console serve --track --ca-dir`: the console process follows the fleet with
    the [mqtt] identity of its configuration; its operators' API shows it."""
    cfg = tmp_path / "backend.toml"
    cfg.write_text(f"[mqtt]\nhost = '127.0.0.1'\nport = {fleet.port}\ntls = true\n"
                   f"ca_file = '{fleet.ca_dir / 'ca.pem'}'\n"
                   f"cert_file = '{fleet.ca_dir / 'operator.pem'}'\n"
                   f"key_file = '{fleet.ca_dir / 'operator.key'}'\n")
    db = tmp_path / "backend.sqlite3"
    store = ConsoleStore(db)
    store.add_user("minh", "operator", hash_password(PASSWORD))
    token = new_secret()
    store.add_token(token, "minh", "fleet tool")
    store.close()
    port = free_port()
    station = StationProcess(fleet, tmp_path / "outbox.sqlite3")
    proc = subprocess.Popen(
        [sys.executable, "-m", "station", "--config", str(cfg), "console", "--db", str(db),
         "serve", "--port", str(port), "--secret-file", str(tmp_path / "secret"), "--track",
         "--ca-dir", str(fleet.ca_dir)],
        cwd=fleet_bed.ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def state() -> object:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/fleet/stations/{STATION}",
            headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(request, timeout=2) as r:
                return json.loads(r.read()).get("state")
        except OSError:
            return None

    try:
        if not wait_until(lambda: state() == "online", 20):
            proc.kill()
            raise AssertionError(proc.communicate()[0].decode()[-2000:])
        proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully (the lifespan stops the tracker), then re-raises the
        # signal it caught: the process ends by SIGTERM.
        assert proc.wait(timeout=15) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        station.close()
