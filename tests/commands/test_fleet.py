"""`station fleet list|show|revoke` on a fleet store filled the way the tracker fills it, with a
CA made by `python -m provisioning` (the tracker itself is tested on Mosquitto in
tests/ingest/fleet/test_tracker.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from provisioning import registry
from station.cli import main
from station.ingest.fleet import FleetTracker, open_fleet_store
from station.pipeline.mqtt import BrokerSettings
from tests.provisioning import deployment


def _fill(db: Path, ca_dir: Path) -> None:
    store = open_fleet_store(db)
    tracker = FleetTracker(store, BrokerSettings(), registry_path=ca_dir / "registry.json")
    tracker.sync_registry(force=True)
    now = time.time()
    tracker.handle("stations/desk-01/status",
                   json.dumps({"state": "online", "station": "desk-01", "time": now}).encode(),
                   at=now)
    tracker.handle("stations/desk-01/health", json.dumps({
        "station": "desk-01", "uptime_s": 5, "pending": 250, "in_flight": 0, "delivered": 0,
        "oldest_pending_age_s": 12.0, "expired": 0, "last_seq": 250, "outbox_full": False,
        "acked": 0, "refused": 0, "alarms": ["no receipt from the backend"],
        "version": "0.1.0", "interval_s": 30}).encode(), at=now)
    store.close()


def test_list_show_and_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = deployment.build(tmp_path / "dep", "desk-01", start=False)
    db = tmp_path / "ingest.sqlite3"
    _fill(db, d.ca_dir)
    assert main(["fleet", "--db", str(db), "list", "--filter", "backlogged",
                 "--filter", "alarmed"]) == 0
    out = capsys.readouterr().out
    assert "desk-01" in out and "online" in out and "250" in out
    assert main(["fleet", "--db", str(db), "list", "--filter", "offline"]) == 0
    assert "desk-01" not in capsys.readouterr().out
    assert main(["fleet", "--db", str(db), "show", "desk-01"]) == 0
    out = capsys.readouterr().out
    assert "alarm     no receipt from the backend" in out and "software  0.1.0" in out
    assert main(["fleet", "--db", str(db), "revoke", "desk-01", "--ca-dir", str(d.ca_dir),
                 "--by", "admin-binh"]) == 0
    out = capsys.readouterr().out
    assert "desk-01 revoked" in out and "systemctl restart mosquitto" in out
    assert registry.load(d.ca_dir / "registry.json")["desk-01"].revoked_at
    assert main(["fleet", "--db", str(db), "list", "--filter", "revoked"]) == 0
    assert "desk-01" in capsys.readouterr().out
    assert main(["fleet", "--db", str(db), "show", "desk-01"]) == 0
    assert "revoke-requested by admin-binh" in capsys.readouterr().out


def test_unknown_station_is_an_error_not_a_crash(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "ingest.sqlite3"
    assert main(["fleet", "--db", str(db), "show", "desk-zz"]) == 1
    assert "no station 'desk-zz'" in capsys.readouterr().err
    assert main(["fleet", "--db", str(db), "revoke", "desk-zz", "--ca-dir",
                 str(tmp_path / "no-ca")]) == 1
    assert "CommandRefused" in capsys.readouterr().err
