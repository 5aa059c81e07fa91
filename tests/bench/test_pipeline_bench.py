"""`station bench pipeline` runs end to end at tiny sizes and writes its JSON (a smoke test:
the speed goals are judged from the full-size run, never here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from station.bench.pipeline import _peak_rss_mb


def test_bench_pipeline_tiny_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "station", "bench", "pipeline", "--backlog", "150", "--live",
         "150", "--raw", "150", "--tap-rate", "500", "--json", str(out)],
        capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "raw paho QoS 1 (reference)" in proc.stdout
    data = json.loads(out.read_text())
    (result,) = data["results"]
    figures = result["figures"]
    assert result["name"] == "pipeline"
    for key in ("raw_paho_qos1_per_s", "live_per_s", "drain_per_s", "build_alone_per_s"):
        assert figures[key] > 0
    assert figures["drain_vs_raw"] == figures["drain_per_s"] / figures["raw_paho_qos1_per_s"]
    assert 0 < figures["tap_to_durable_p50_ms"] <= figures["tap_to_durable_p99_ms"]
    assert 5 < figures["drain_peak_rss_mb"] < 500
    assert figures["token_bytes"] > 500  # a real signed, sealed record
    assert {g["metric"] for g in result["goals"]} >= {"live_per_s", "drain_vs_raw"}


def test_peak_rss_is_this_process() -> None:
    assert 5 < _peak_rss_mb() < 2000
