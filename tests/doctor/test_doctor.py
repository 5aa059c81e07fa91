"""`station doctor` on a healthy provisioned station (real private pcscd with a virtual card,
real TLS Mosquitto from the generated config) and on broken ones, each check failing for its
reason. The doctor runs as a subprocess, as an operator would run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provisioning.ca import OperatorCa
from station import keys
from station.drivers.reader.pcsc import PcscReader
from station.pipeline.outbox import Outbox
from station.sim.citizens import skeleton_files
from station.sim.filecard import FileCard
from station.sim.vpcd import VpcdLink
from station.testing.mosquitto import mosquitto_binary
from station.testing.pcscd import PcscdTestbed
from station.testing.tls import TestCa
from tests.provisioning import deployment
from tests.provisioning.deployment import Deployment

pytestmark = [pytest.mark.pcsc, pytest.mark.mqtt]
REPO = Path(__file__).resolve().parents[2]


def _config(dep: Deployment, reader: str, **over: str) -> Path:
    values = {"reader": reader, "camera": 'source = "none"', "trust": str(dep.state / "trust")}
    values.update(over)
    path = dep.dir / "doctor.toml"
    path.write_text(f"""\
[station]
id = "{dep.station_id}"
state_dir = "{dep.state}"
[reader]
name = "{values['reader']}"
[camera]
{values['camera']}
[mqtt]
host = "127.0.0.1"
port = {dep.port}
ca_file = "{dep.root}/etc/station/tls/ca.pem"
cert_file = "{dep.state}/keys/client.pem"
key_file = "{dep.state}/keys/client.key"
[trust]
path = "{values['trust']}"
""")
    return path


def _doctor(config: Path, env: dict[str, str]) -> tuple[int, dict[str, dict[str, Any]]]:
    proc = subprocess.run([sys.executable, "-m", "station", "--config", str(config), "doctor",
                           "--json", "--timeout", "3"], capture_output=True, text=True,
                          cwd=REPO, env={**os.environ, **env}, timeout=60)
    assert proc.stdout, proc.stderr
    doc = json.loads(proc.stdout)
    by_name = {c["check"]: c for c in doc["checks"]}
    assert doc["ok"] == (proc.returncode == 0)
    return proc.returncode, by_name


@pytest.fixture()
def dep(tmp_path: Path) -> Iterator[Deployment]:
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed")
    d = deployment.build(tmp_path / "deploy")
    csca = TestCa(tmp_path / "csca", cn="synthetic CSCA")
    assert d.station("install-trust", str(csca.ca_file)) == 0
    box = Outbox(d.state / "outbox.sqlite3")
    box.add("r-1", 1, f"stations/{d.station_id}/records", b"{}")
    box.close()
    yield d
    deployment.cleanup(d)


@pytest.fixture()
def card(pcscd: PcscdTestbed) -> Iterator[VpcdLink]:
    link = VpcdLink(FileCard(skeleton_files(3)), pcscd.slot_port(0))
    link.insert()
    PcscReader(pcscd.readers[0]).wait_for_card(10).close()
    yield link
    link.remove()


def test_healthy_station(dep: Deployment, pcscd: PcscdTestbed, card: VpcdLink) -> None:
    rc, checks = _doctor(_config(dep, pcscd.readers[0]), pcscd.env())
    assert rc == 0, checks
    for name in ("config", "keys", "pcscd", "readers", "card", "certificate", "broker",
                 "trust", "outbox", "disk"):
        assert checks[name]["status"] == "ok", checks[name]
    assert "eMRTD" in checks["card"]["detail"]
    assert pcscd.readers[0] in checks["readers"]["detail"]
    assert "mTLS" in checks["broker"]["detail"]
    assert checks["trust"]["detail"].startswith("1 CSCA")
    assert "1 awaiting the backend's receipt" in checks["outbox"]["detail"]
    assert checks["camera"]["status"] == "skip"
    assert checks["clock"]["status"] in ("ok", "warn")


def test_everything_broken_each_for_its_reason(dep: Deployment, pcscd: PcscdTestbed,
                                              tmp_path: Path) -> None:
    k = keys.KeyPaths.under(dep.state)
    os.chmod(k.signing, 0o644)
    # A certificate for the right key and id that expired two days ago.
    ca = OperatorCa(dep.ca_dir)
    import datetime as dt

    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    old = ca.sign_station(dep.station_id, k.client_csr.read_bytes(),
                          (k.dir / "signing.pub.pem").read_bytes(), days=1, now=past)
    k.client_cert.write_bytes(old.read_bytes())
    empty = tmp_path / "empty-trust"
    empty.mkdir()
    outbox = dep.state / "outbox.sqlite3"
    box = Outbox(outbox)
    box.add_many((f"bulk-{i}", i + 2, "t", b"x" * 2000) for i in range(100))
    box.close()
    with open(outbox, "r+b") as f:  # scribble over a b-tree page
        f.seek(4096 * 3)
        f.write(b"\x55" * 4096)
    config = _config(dep, "No Such Reader", trust=str(empty),
                     camera='source = "v4l2"\npath = "/dev/no-such-video"')
    rc, checks = _doctor(config, pcscd.env())
    assert rc == 1
    expect = {
        "keys": "mode 0644", "readers": "no reader matching 'No Such Reader'",
        "camera": "/dev/no-such-video does not exist", "certificate": "expired",
        "broker": "127.0.0.1", "trust": "no CSCA certificate", "outbox": "corrupt",
    }
    for name, reason in expect.items():
        assert checks[name]["status"] == "fail", checks[name]
        assert reason in checks[name]["detail"], checks[name]
        assert checks[name]["fix"], name
    assert checks["card"]["status"] == "skip"
    assert "BEGIN" not in json.dumps(checks)  # never key material


def test_pcscd_down_and_broker_down(dep: Deployment, pcscd: PcscdTestbed) -> None:
    dep.stop_broker()
    rc, checks = _doctor(_config(dep, pcscd.readers[0]),
                         {"PCSCLITE_CSOCK_NAME": str(dep.dir / "no-pcscd.comm")})
    assert rc == 1
    assert checks["pcscd"]["status"] == "fail" and "not reachable" in checks["pcscd"]["detail"]
    assert checks["readers"]["status"] == checks["card"]["status"] == "skip"
    assert checks["broker"]["status"] == "fail"
    assert "cannot connect" in checks["broker"]["detail"]
    assert checks["keys"]["status"] == "ok"


def test_card_that_stops_answering(dep: Deployment, pcscd: PcscdTestbed) -> None:
    link = VpcdLink(FileCard(skeleton_files(4)), pcscd.slot_port(0))
    link.drop_after = 0
    link.insert()
    try:
        PcscReader(pcscd.readers[0]).wait_for_card(10).close()
        rc, checks = _doctor(_config(dep, pcscd.readers[0]), pcscd.env())
    finally:
        link.remove()
    assert checks["card"]["status"] == "fail", checks["card"]
    assert "does not answer" in checks["card"]["detail"]
    assert rc == 1


def test_invalid_configuration(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[mqtt]\nport = 70000\n')
    rc, checks = _doctor(bad, {})
    assert rc == 1
    assert checks["config"]["status"] == "fail"
    assert "mqtt.port" in checks["config"]["detail"]


def test_table_output_names_the_fix(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[station]\nid = "a b"\n')
    proc = subprocess.run([sys.executable, "-m", "station", "--config", str(bad), "doctor"],
                          capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 1
    assert "FAIL" in proc.stdout and "fix:" in proc.stdout and "NOT healthy" in proc.stdout
