import subprocess
import sys

import pytest

from station.cli import COMMANDS, main


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


def test_usage_error_exits_2() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage:" in capsys.readouterr().out


def test_station_error_exits_1(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[station]\nid = 'x'\nnonsense = 1\n")
    assert main(["--config", str(bad), "outbox", "status", "--path", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "station.nonsense: unknown key" in err


def test_module_entry_point_runs() -> None:
    proc = subprocess.run([sys.executable, "-m", "station", "--version"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0
    assert proc.stdout.startswith("station ")


def test_config_log_level_applies_unless_overridden(tmp_path) -> None:
    import argparse
    import logging

    from station.commands import load_config

    cfg = tmp_path / "c.toml"
    cfg.write_text("[station]\nlog_level = 'debug'\n")
    load_config(argparse.Namespace(config=str(cfg), log_level=None, log_json=False))
    assert logging.getLogger().level == logging.DEBUG
    logging.getLogger().setLevel(logging.WARNING)
    load_config(argparse.Namespace(config=str(cfg), log_level="error", log_json=False))
    assert logging.getLogger().level == logging.WARNING  # --log-level wins: untouched here
