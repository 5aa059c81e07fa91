"""systemd/: the service unit passes `systemd-analyze verify` (and its hardening is measured with
`systemd-analyze security`); the polkit, udev and modprobe files say what they must."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[2] / "systemd"
SERVICE = UNITS / "station.service"
EXEC = "/opt/station/venv/bin/station"

needs_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                   reason="systemd-analyze is not installed")


def _unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Parse a unit file keeping repeated keys (DeviceAllow=, SystemCallFilter=)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key, []).append(value)
    return sections


def _verifiable_copy(tmp_path: Path, text: str) -> Path:
    # verify insists that ExecStart's binary exists: point it at a stand-in in the temp dir.
    fake = tmp_path / "bin" / "station"
    fake.parent.mkdir(exist_ok=True)
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    unit = tmp_path / "station.service"
    unit.write_text(text.replace(EXEC, str(fake)))
    return unit


def _verify(unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                          capture_output=True, text=True, timeout=60)


@needs_analyze
def test_service_unit_verifies_clean(tmp_path: Path) -> None:
    text = SERVICE.read_text()
    assert EXEC in text
    result = _verify(_verifiable_copy(tmp_path, text))
    # verify exits 0 even on "ignoring" parse warnings: any output is a failure.
    assert result.returncode == 0 and not result.stdout and not result.stderr, result.stderr


@needs_analyze
def test_verify_would_catch_a_broken_unit(tmp_path: Path) -> None:
    broken = SERVICE.read_text().replace("Type=notify", "Type=notifyy")
    result = _verify(_verifiable_copy(tmp_path, broken))
    assert "Failed to parse service type" in result.stderr


@needs_analyze
def test_hardening_exposure_is_low(tmp_path: Path) -> None:
    unit = _verifiable_copy(tmp_path, SERVICE.read_text())
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--threshold=20", str(unit)],
        capture_output=True, text=True, timeout=60)
    if "--offline" in result.stderr and "unrecognized" in result.stderr:
        pytest.skip("systemd-analyze too old for --offline")
    # Exposure ≤ 2.0 of 10 ("OK"); the unit measured 1.7 on systemd 252.
    assert result.returncode == 0, result.stdout[-400:]


def test_service_contract() -> None:
    u = _unit(SERVICE.read_text())
    unit, service = u["Unit"], u["Service"]
    assert service["Type"] == ["notify"]
    assert service["WatchdogSec"] and service["Restart"] == ["on-failure"]
    assert int(unit["StartLimitBurst"][0]) >= 1 and unit["StartLimitIntervalSec"]
    assert "pcscd.socket" in unit["Wants"][0] and "pcscd.socket" in unit["After"][0]
    assert service["User"] == ["station"]
    assert set(service["SupplementaryGroups"][0].split()) == {"gpio", "video", "i2c", "spi"}
    assert service["StateDirectory"] and service["ConfigurationDirectory"] == ["station"]
    for key, value in {"ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
                       "NoNewPrivileges": "yes", "DevicePolicy": "closed"}.items():
        assert service[key] == [value], key
    families = service["RestrictAddressFamilies"][0].split()
    assert {"AF_UNIX", "AF_INET", "AF_INET6"} <= set(families)
    allowed = " ".join(service["DeviceAllow"])
    for device in ("video4linux", "gpiochip", "dma_heap", "i2c", "spidev"):
        assert device in allowed, device
    assert service["StandardOutput"] == ["journal"]
    # PrivateDevices would hide the camera and GPIO; MemoryDenyWriteExecute breaks libffi.
    assert "PrivateDevices" not in service and "MemoryDenyWriteExecute" not in service


def test_polkit_rule_allows_only_the_service_user_pcscd_actions() -> None:
    rule = (UNITS / "60-station-pcscd.rules").read_text()
    assert "org.debian.pcsc-lite.access_pcsc" in rule
    assert "org.debian.pcsc-lite.access_card" in rule
    assert 'subject.user === "station"' in rule
    assert rule.count("polkit.Result.YES") == 1
    assert rule.count("{") == rule.count("}") and rule.count("(") == rule.count(")")


def test_udev_and_modprobe_files() -> None:
    for line in (UNITS / "60-station.rules").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            pairs = [p.strip() for p in line.split(",")]
            assert all("==" in p or "=" in p for p in pairs), line
            assert any(p.startswith("GROUP=") for p in pairs), line
    blacklist = (UNITS / "station-nfc-blacklist.conf").read_text()
    assert "blacklist pn533_usb" in blacklist


def test_unit_parses_as_ini() -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(SERVICE.read_text())
    assert parser.sections() == ["Unit", "Service", "Install"]
