"""The fleet test bed shared by the fleet tests (tests/ingest/fleet/test_tracker.py,
tests/console/test_operator_browser.py): a deployment made with the real provisioning tools and
Mosquitto started from its generated configuration, with the console's backend identity
(``operator``, fleet role) and spare stations, and a provisioned station running as a process
of its own (station_process.py)."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from provisioning.__main__ import main as operator
from station.pipeline.mqtt import BrokerSettings
from tests.provisioning import deployment
from tests.provisioning.deployment import Deployment

ROOT = Path(__file__).resolve().parents[3]
STATION = "desk-fleet-1"
"""The provisioned station whose process runs (its state directory is the deployment's)."""
NOSY = "desk-nosy"
SPARE = "desk-spare"
"""Signed stations without a process (certificate and key in ``d.extra``)."""
INTERVAL_S = 0.3
"""The station process's heartbeat interval."""


def build(tmp: Path) -> Deployment:
    d = deployment.build(tmp, STATION, start=False)
    assert operator(["--dir", str(d.ca_dir), "backend", "operator"]) == 0
    for sid in (NOSY, SPARE):
        d.extra[sid] = deployment.add_station(d, sid)
    deployment.regenerate(d)
    return d


def settings(d: Deployment, cn: str) -> BrokerSettings:
    """A backend identity's connection settings (``ingest``, ``operator``)."""
    return BrokerSettings("127.0.0.1", d.port, True, str(d.ca_dir / "ca.pem"),
                          str(d.ca_dir / f"{cn}.pem"), str(d.ca_dir / f"{cn}.key"))


class StationProcess:
    def __init__(self, d: Deployment, outbox: Path, *, record: bool = False) -> None:
        self.log = outbox.with_suffix(".log")
        with open(self.log, "wb") as err:  # the child keeps its copy
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.ingest.fleet.station_process", "--state",
                 str(d.state), "--outbox", str(outbox), "--id", d.station_id, "--port",
                 str(d.port), "--ca", str(d.ca_dir / "ca.pem"), "--interval", str(INTERVAL_S),
                 *(["--record"] if record else [])],
                cwd=ROOT, stdout=subprocess.PIPE, stderr=err)
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 20)
        line = self.proc.stdout.readline().strip() if ready else b""
        if line != b"ready":
            self.close()
            pytest.fail(f"station process not ready: {line!r} {self.log.read_text()[-500:]}")

    def signal(self, sig: int) -> None:
        os.kill(self.proc.pid, sig)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
        self.proc.wait(timeout=10)
