"""`station run`: refuses honestly while stages are missing; --feedback-test drives the
configured display (a PNG here)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from station.cli import main
from station.testing.desk import prepare_state
from station.testing.mosquitto import MosquittoBroker
from station.testing.pcscd import PcscdTestbed

ROOT = Path(__file__).resolve().parents[2]


def _config(tmp_path: Path, body: str) -> str:
    p = tmp_path / "station.toml"
    p.write_text(body)
    return str(p)


def test_run_without_a_trust_store_fails_before_starting(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _config(tmp_path, f"[station]\nstate_dir = '{tmp_path}'\n[camera]\nsource = 'none'\n"
                            f"[trust]\npath = '{tmp_path / 'absent'}'\n")
    assert main(["--config", cfg, "run"]) == 1
    assert "trust" in capsys.readouterr().err.lower()


def test_run_serves_until_sigterm_with_systemd_notify(
        tmp_path: Path, pcscd: PcscdTestbed, broker: MosquittoBroker) -> None:
    prepare_state(tmp_path / "state")
    cfg = _config(tmp_path, f"[station]\nid = 'run-test'\nstate_dir = '{tmp_path / 'state'}'\n"
                            f"[reader]\nname = '{pcscd.readers[1]}'\n[camera]\nsource = 'none'\n"
                            f"[trust]\npath = '{tmp_path / 'state' / 'trust'}'\n"
                            f"[mqtt]\nhost = '127.0.0.1'\nport = {broker.port}\ntls = false\n"
                            "[feedback]\nenabled = false\n")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(15)
    proc = subprocess.Popen(
        [sys.executable, "-m", "station", "--config", cfg, "run"], cwd=ROOT,
        env={**os.environ, **pcscd.env(), "NOTIFY_SOCKET": str(tmp_path / "notify")},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        messages = []
        while "READY=1" not in messages or not any(
                msg.startswith("STATUS=idle") for msg in messages):
            messages.append(notify.recv(4096).decode())
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        notify.settimeout(1)
        with contextlib.suppress(TimeoutError):
            while True:
                messages.append(notify.recv(4096).decode())
        assert any("STOPPING=1" in msg for msg in messages)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        notify.close()


def test_run_validates_the_profile_first(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _config(tmp_path, "[station]\nprofile = 'lodging'\n")
    assert main(["--config", cfg, "run"]) == 1
    assert "profile.establishment_id" in capsys.readouterr().err


def test_feedback_test_draws_every_state(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "screen.png"
    cfg = _config(tmp_path, f"[feedback]\nenabled = false\n[display]\nkind = 'png'\n"
                            f"device = '{png}'\nwidth = 480\nheight = 320\n")
    assert main(["--config", cfg, "run", "--feedback-test", "--hold", "0"]) == 0
    out = capsys.readouterr().out
    assert "display: png" in out and "failed / not_genuine" in out
    with Image.open(png) as img:  # the last frame: the "one card at a time" notice
        assert img.size == (480, 320)
