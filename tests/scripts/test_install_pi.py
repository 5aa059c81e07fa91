"""scripts/install-pi.sh: syntax, shellcheck, and what its dry run says it would do."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "install-pi.sh"


def _dry(tmp_path: Path, *args: str, conf: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
           "STATION_CONF_DIR": str(conf or tmp_path / "etc-station")}
    return subprocess.run(["bash", str(SCRIPT), "--dry-run", "--prefix", str(tmp_path / "opt"),
                           *args], capture_output=True, text=True, env=env, timeout=60)


def test_bash_syntax() -> None:
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_shellcheck_clean() -> None:
    result = subprocess.run(["shellcheck", "--severity=style", str(SCRIPT)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_dry_run_prints_every_step_in_order_and_changes_nothing(tmp_path: Path) -> None:
    result = _dry(tmp_path, "--no-apt", "--id", "desk-07")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    steps = [line for line in out.splitlines() if line.startswith("==> ")]
    order = ["station installer", "system packages", "service user", "code in",
             "configuration", "systemd unit", "service", "done"]
    assert len(steps) == len(order)
    for line, name in zip(steps, order, strict=True):
        assert line[4:].startswith(name), (line, name)
    opt = tmp_path / "opt"
    for expected in (f"python3 -m venv --system-site-packages {opt}/venv",
                     f"pip install -q --upgrade {opt}/src\\[pi\\,qr\\,mrz\\]",
                     "install -m 0644 ", "station.service /etc/systemd/system/station.service",
                     "60-station-pcscd.rules /etc/polkit-1/rules.d/",
                     "systemctl enable station.service",
                     "provision --user station --id desk-07 init"):
        assert expected in out, expected
    assert not opt.exists() and not (tmp_path / "etc-station").exists()


def test_rerun_keeps_an_existing_configuration(tmp_path: Path) -> None:
    conf = tmp_path / "etc-station"
    conf.mkdir()
    (conf / "station.toml").write_text('[station]\nid = "desk-09"\n')
    out = _dry(tmp_path, "--no-apt", conf=conf).stdout
    assert f"{conf}/station.toml.dist" in out
    assert f"examples/station.toml {conf}/station.toml\n" not in out
    # Its own id is there, so the identity step runs (and keeps existing keys itself).
    assert "provision --user station init" in out
    assert (conf / "station.toml").read_text() == '[station]\nid = "desk-09"\n'


def test_template_id_is_not_turned_into_an_identity(tmp_path: Path) -> None:
    out = _dry(tmp_path, "--no-apt").stdout
    assert "bin/station --config" not in out
    assert "no station id yet" in out


def test_bad_station_id_and_unknown_option_are_refused(tmp_path: Path) -> None:
    bad = _dry(tmp_path, "--id", "desk/#")
    assert bad.returncode == 2 and "letters, digits" in bad.stderr
    assert _dry(tmp_path, "--frobnicate").returncode == 2


def test_apt_step_lists_the_packages_the_station_needs(tmp_path: Path) -> None:
    text = SCRIPT.read_text()
    for pkg in ("pcscd", "libccid", "libzbar0", "python3-picamera2", "python3-lgpio",
                "fonts-dejavu-core", "libpcsclite-dev", "swig",
                # MRZ: the eng model for the Tesseract baseline/tie-break (tesserocr's wheel,
                # aarch64 too, bundles libtesseract) and the OCR-B font the templates come from.
                "tesseract-ocr", "fonts-ocr-b"):
        assert pkg in text, pkg
