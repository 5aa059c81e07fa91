"""`station run`: refuses honestly while stages are missing; --feedback-test drives the
configured display (a PNG here)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from station.cli import main


def _config(tmp_path: Path, body: str) -> str:
    p = tmp_path / "station.toml"
    p.write_text(body)
    return str(p)


def test_run_names_the_missing_stages_and_records_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _config(tmp_path, "[station]\nprofile = 'bank'\n")
    assert main(["--config", cfg, "run"]) == 2
    out = capsys.readouterr().out
    assert "'bank'" in out and "requires genuine" in out
    for issue in ("#6", "#7"):
        assert issue in out
    assert "+ PC/SC card watch" in out and "+ chip reader" in out
    assert "Nothing was read or recorded" in out


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
