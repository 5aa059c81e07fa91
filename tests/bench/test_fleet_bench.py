"""`station bench fleet` end to end on a small fleet: real provisioning (CA, certificates,
broker configuration), real Mosquitto, real `station ingest` workers (one killed with SIGKILL
in the second run), real PostgreSQL. Counts are asserted, not timings."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from station.testing.mosquitto import mosquitto_binary
from station.testing.postgres import postgres_bindir

pytestmark = [pytest.mark.mqtt, pytest.mark.slow]

DESKS = 24


def test_fleet_bench_small_loses_nothing_with_a_worker_killed(tmp_path: Path) -> None:
    if mosquitto_binary() is None or postgres_bindir() is None:
        if os.environ.get("CI", "").lower() == "true":  # .ci/run installs both
            pytest.fail("CI must provide mosquitto and PostgreSQL")
        pytest.skip("the fleet bench needs mosquitto and PostgreSQL")
    path = tmp_path / "b.json"
    proc = subprocess.run(
        [sys.executable, "-m", "station", "bench", "fleet", "--stations", str(DESKS),
         "--station-procs", "2", "--tap-interval", "0.5", "--steady", "2", "--outage", "2",
         "--after", "4", "--backend-outage", "2", "--drains", "2", "--tail", "2",
         "--receipt-timeout", "3", "--ceiling-records", "200",
         "--json", str(path)], capture_output=True, text=True, timeout=400, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (result,) = json.loads(path.read_text())["results"]
    f = result["figures"]
    assert f["connected"] == DESKS
    assert f["lost"] == 0 and f["unreceipted"] == 0
    for run in ("w1", "w2"):
        tapped, stored = f[f"{run}_tapped"], f[f"{run}_stored"]
        assert tapped > DESKS  # every desk tapped a few times in 12 s at 2 taps/s
        assert stored == tapped  # every record once: no loss, no double row
        assert f[f"{run}_duplicates"] >= 0 and f[f"{run}_resent"] >= 0
        assert f[f"{run}_cpu_ms_per_record[broker]"] > 0
        assert f[f"{run}_cpu_ms_per_record[desks]"] > 0
        if f"{run}_drain_cores_busy" in f:  # a drain of a few records may give no window
            assert 0 < f[f"{run}_drain_cores_busy"] <= 1
    # Every worker restarts after each of the two workers' outages; the killed one once more.
    assert "w1_cpu_ms_per_record[worker ingest (3 starts)]" in f
    assert "w2_cpu_ms_per_record[worker ingest (4 starts)]" in f
    assert "w2_cpu_ms_per_record[worker ingest-2 (3 starts)]" in f
    # The 1-worker run kills nobody: its after-phase records are receipted as they come, none
    # of them waiting out a workers' outage (each 2 s, plus a worker's start-up of about 1 s).
    assert f["w1_after_p99_ms"] < 2000
    for run in ("w1", "w2"):  # the reported drain is the lower of the two (median of 2)
        drains = [f[f"{run}_drain1_rps"], f[f"{run}_drain2_rps"]]
        assert f"{run}_drain3_rps" not in f
        assert f[f"{run}_rps"] == min(drains)
    assert f["ceiling_rps"] > 0
    # A backlog of a few seconds at this size may commit in one batch: no drain window, so no
    # rate and no ratio. When both runs had a window, the ratio is reported.
    if f["w1_rps"] > 0 and f["w2_rps"] > 0:
        assert f["workers_ratio"] == pytest.approx(f["w2_rps"] / f["w1_rps"])
    else:
        assert "workers_ratio" not in f
    assert any("SIGKILL" in n for n in result["notes"])
    assert f["foreign_rows"] == 0
    assert "lost (receipted, no row)" in proc.stdout


def test_machine_cpu_sees_a_busy_core() -> None:
    """The sampler behind "cores busy during the drain": one thread spinning for 0.5 s shows as
    at least its own share of the machine's cores (the machine may be busier, never idler) and,
    as this process's cores, as what the kernel says the process used meanwhile — not "one
    core", which a loaded machine does not give it."""
    import time

    from station.bench.fleet import MachineCpu

    with MachineCpu(lambda: {"this test": os.getpid()}) as machine:
        time.sleep(0.2)
        t0, c0 = time.time(), time.process_time()
        while time.time() - t0 < 0.5:
            pass
        t1, c1 = time.time(), time.process_time()
        time.sleep(0.1)
    own = (c1 - c0) / (t1 - t0)
    assert own > 0.1  # the spin ran
    busy = machine.busy(t0, t1)
    assert busy is not None
    assert 0.8 * own / (os.cpu_count() or 1) <= busy <= 1.0
    assert machine.busy(t1 + 10, t1 + 20) is None  # no samples there
    assert abs(machine.role_cores(t0, t1)["this test"] - own) <= 0.25


def test_drain_window_counts_only_its_own_outage() -> None:
    from station.bench.fleet import _drain_window, _rate

    # Outage 1 queued 4 records (tapped before 10), drained 10.1-10.4; outage 2 queued 3
    # (tapped 15-19), drained 20.1-20.3; one steady record in between (tapped and committed
    # at 12) belongs to neither backlog but is a row of the first window's time.
    commits = [(9.0 + i / 10, 10.1 + i / 10) for i in range(4)]
    commits += [(12.0, 12.0)]
    commits += [(15.0 + i, 20.1 + i / 10) for i in range(3)]
    first = _drain_window(commits, 10.0, 20.0)
    second = _drain_window(commits, 20.0)
    # Each window ends at its own backlog's 99th percentile (the 3rd of 4, the 2nd of 3) and
    # counts every row committed in it.
    assert first is not None and second is not None
    assert first[:2] == pytest.approx((10.1, 10.3)) and first[2] == 3
    assert second[:2] == pytest.approx((20.1, 20.2)) and second[2] == 2
    # The second outage's records are no part of the first window, bounded or not: they
    # were tapped after its restart.
    assert _drain_window(commits, 10.0) == first
    rate, seconds = _rate(first)
    assert rate == pytest.approx(3 / 0.2) and seconds == pytest.approx(0.2)


def test_cpu_quota_holds_a_process_and_its_children_to_its_cores() -> None:
    from station.bench.fleet import CpuQuota, CpuQuotaUnavailable, cpu_s

    try:
        quota = CpuQuota(f"station-test-{os.getpid()}", 0.3)
    except CpuQuotaUnavailable as exc:
        pytest.skip(f"no writable cgroup CPU controller here: {exc}")
    # A parent that starts a spinning child after it has joined: both are in the cgroup,
    # so the two spinning together get 0.3 of a core between them, not 2.
    spin = ("import subprocess, sys, time; "
            "c = subprocess.Popen([sys.executable, '-c', 'while True: pass']); "
            "t = time.monotonic()\nwhile time.monotonic() - t < 60: pass")
    proc = subprocess.Popen(quota.command([sys.executable, "-c", spin]))
    try:
        time.sleep(1.0)  # both started
        kids = [int(p) for p in (quota.path / "cgroup.procs").read_text().split()]
        assert proc.pid in kids and len(kids) == 2
        t0, c0 = time.monotonic(), sum(cpu_s(p) for p in kids)
        time.sleep(2.0)
        cores = (sum(cpu_s(p) for p in kids) - c0) / (time.monotonic() - t0)
    finally:
        for pid in [int(p) for p in (quota.path / "cgroup.procs").read_text().split()]:
            os.kill(pid, signal.SIGKILL)
        proc.wait()
        quota.close()
    assert cores < 0.45  # 0.3 granted; without the quota two spinners take ~2
    assert not quota.path.exists()
