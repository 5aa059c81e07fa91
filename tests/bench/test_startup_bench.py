"""`station bench startup` runs end to end; the CLI does not import benchmark modules (numpy,
the virtual chip, …) unless a benchmark is chosen."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_cli_parser_imports_no_benchmark_module() -> None:
    code = ("import sys, station.cli; station.cli.build_parser(); "
            "print(sorted(m for m in sys.modules if m.startswith('station.bench.') "
            "or m.split('.')[0] == 'numpy'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_bench_help_still_lists_descriptions_and_options() -> None:
    out = subprocess.run([sys.executable, "-m", "station", "bench", "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert "cold start to READY=1" in out
    out = subprocess.run([sys.executable, "-m", "station", "bench", "startup", "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert "--repeat" in out


def test_startup_bench_reports_ready_or_the_exit(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    proc = subprocess.run([sys.executable, "-m", "station", "bench", "startup", "--repeat", "1",
                           "--idle", "0", "--json", str(path)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (result,) = json.loads(path.read_text())["results"]
    figures = result["figures"]
    assert figures["cli_parser_ms"] > 0 and figures["run_path_rss_mb"] > 5
    # Either the service reached READY=1 (then idle RSS is known) or it exited first and the
    # note says so: never a READY figure invented for a service that did not start.
    if "ready_s" in figures:
        assert figures["idle_rss_mb"] > 5
    else:
        assert figures["run_exit_s"] > 0 and "READY" in result["notes"][0]
        assert not any(g["met"] for g in result["goals"])
