"""Startup: ``station run`` cold start to READY=1, idle RSS, and the CLI's import cost.

``station run`` is started as systemd would (``NOTIFY_SOCKET`` pointing at a datagram socket
this benchmark binds); the time to ``READY=1`` and the process's RSS once idle are the figures
(goals: ≤ 1.5 s and ≤ 60 MB on x86). If the service exits before READY (a build whose stages
are not all wired exits 2), the time to that exit and its peak RSS are reported instead, and the
READY goals stay unmet. Import costs are measured in fresh interpreters against a bare
``python -c pass`` in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from station.bench import BenchResult, Goal, Progress

DESCRIPTION = "station run cold start to READY=1 and idle RSS; import cost of the CLI"

HEAVY = ("numpy", "PIL", "cryptography", "paho", "smartcard", "zxingcpp",
         "pyzbar", "asn1crypto", "segno", "gpiozero", "luma")
# What a running service needs (the run path), for the idle-RSS floor.
RUN_PATH = ("station.config", "station.service.runtime", "station.service.machine",
            "station.nfc.session", "station.pipeline.store", "station.pipeline.publisher")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeat", type=int, default=5, help="cold starts to take (default 5)")
    parser.add_argument("--idle", type=float, default=2.0,
                        help="seconds after READY before the idle RSS is read (default 2)")


def _wall(code: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _probe(code: str) -> dict[str, str]:
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


_PROBE = """
import sys, time
t = time.perf_counter()
{imports}
dt = time.perf_counter() - t
rss = [l for l in open('/proc/self/status') if l.startswith('VmRSS')][0].split()[1]
heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r}))
print(f"seconds={{dt}}"); print(f"modules={{len(sys.modules)}}"); print(f"rss_kib={{rss}}")
print("heavy=" + ",".join(heavy))
"""


def _rss_kib(pid: int, field: str = "VmRSS") -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cold_start(config: Path, idle_s: float, timeout_s: float = 30.0,
               extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    """One ``station run``: seconds to READY=1 (or to its exit), RSS idle (or peak)."""
    with tempfile.TemporaryDirectory(prefix="station-notify-") as tmp:
        addr = os.path.join(tmp, "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(addr)
        sock.settimeout(0.02)
        env = dict(os.environ, NOTIFY_SOCKET=addr, **(extra_env or {}))
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "station", "--config", str(config), "run"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ready: float | None = None
        ended: tuple[int, int, float] | None = None  # status, peak RSS KiB, seconds
        # Peak RSS from VmHWM samples: a forked child's ru_maxrss starts from the parent's peak.
        hwm = 0
        try:
            while time.perf_counter() - t0 < timeout_s and ready is None:
                try:
                    msg = sock.recv(4096).decode(errors="replace")
                    if "READY=1" in msg.split("\n"):
                        ready = time.perf_counter() - t0
                except TimeoutError:
                    hwm = max(hwm, _rss_kib(proc.pid, "VmHWM"))
                    # wait4 rather than poll(): it also gives the exited child's peak RSS.
                    pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
                    if pid:
                        ended = (status, hwm, time.perf_counter() - t0)
                        proc.returncode = os.waitstatus_to_exitcode(status)
                        break
            if ready is not None:
                time.sleep(idle_s)
                rss = _rss_kib(proc.pid)
                proc.terminate()
                proc.wait(timeout=10)
                return {"ready_s": ready, "idle_rss_mb": rss / 1024}
            if ended is None:
                raise TimeoutError(f"station run neither got READY nor exited in {timeout_s} s")
            status, maxrss, exited = ended
            assert proc.stderr is not None
            lines = proc.stderr.read().decode(errors="replace").strip().splitlines()
            reason = lines[-1][:160] if lines else ""
            return {"reason": reason,
                    "exit_s": exited, "exit_code": float(os.waitstatus_to_exitcode(status)),
                    "peak_rss_mb": maxrss / 1024}
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            sock.close()


def _provision(tmp: Path, stack: contextlib.ExitStack, notes: list[str]
               ) -> tuple[Path, dict[str, str]]:
    """A provisioned station: signing and seal keys and a trust store (the synthetic issuer's
    CSCA and CRL) in its state directory, a local Mosquitto and a private pcscd with the vpcd
    reader (no camera: ``source = 'none'``). Without Mosquitto or pcscd (not root) the run
    goes on without them and a note says so."""
    from station.testing.desk import prepare_state
    from station.testing.mosquitto import BrokerUnavailable, MosquittoBroker
    from station.testing.pcscd import PcscdTestbed, TestbedUnavailable

    prepare_state(tmp / "state")
    text = f"[station]\nstate_dir = '{tmp / 'state'}'\n[camera]\nsource = 'none'\n" \
           "[feedback]\nenabled = false\n"
    env: dict[str, str] = {}
    try:
        broker = MosquittoBroker().start()
        stack.callback(broker.close)
        text += f"[mqtt]\nhost = '127.0.0.1'\nport = {broker.port}\ntls = false\n"
    except BrokerUnavailable as exc:
        notes.append(f"no local Mosquitto ({exc}): the publisher retries in the background")
    try:
        pcscd = PcscdTestbed().start()
        stack.callback(pcscd.stop)
        text += f"[reader]\nname = '{pcscd.readers[0]}'\n"
        env = pcscd.env()
    except TestbedUnavailable as exc:
        notes.append(f"no private pcscd ({exc}): the card watch reports the reader missing")
    config = tmp / "station.toml"
    config.write_text(text)
    return config, env


def run(args: argparse.Namespace, progress: Progress) -> BenchResult:
    repeat = max(1, getattr(args, "repeat", 5))
    idle = getattr(args, "idle", 2.0)
    rows: list[list[object]] = []
    figures: dict[str, float] = {}
    notes: list[str] = []

    progress("bare interpreter and CLI import")
    bare = _wall("pass", repeat)
    cli = _wall("import station.cli", repeat)
    parser = _wall("import station.cli; station.cli.build_parser()", repeat)
    rows += [["python -c pass (baseline)", round(bare * 1000, 1), "", ""],
             ["import station.cli", round(cli * 1000, 1), f"{cli / bare:.2f}x", ""],
             ["station.cli + build_parser (every subcommand)", round(parser * 1000, 1),
              f"{parser / bare:.2f}x", ""]]
    figures["cli_import_ms"] = (cli - bare) * 1000
    figures["cli_parser_ms"] = (parser - bare) * 1000
    p = _probe(_PROBE.format(imports="import station.cli; station.cli.build_parser()",
                             heavy=HEAVY))
    rows[-1][3] = f"{p['modules']} modules; heavy: {p['heavy'] or 'none'}"
    run_path = _probe(_PROBE.format(imports="\n".join(f"import {m}" for m in RUN_PATH),
                                    heavy=HEAVY))
    rows.append(["import the run-path modules (RUN_PATH)",
                 round(float(run_path["seconds"]) * 1000, 1), "",
                 f"RSS {int(run_path['rss_kib']) / 1024:.1f} MB; heavy: {run_path['heavy']}"])
    figures["run_path_rss_mb"] = int(run_path["rss_kib"]) / 1024

    with tempfile.TemporaryDirectory(prefix="station-bench-startup-") as tmp, \
            contextlib.ExitStack() as stack:
        progress("provisioning a state directory, Mosquitto and a private pcscd")
        config, env = _provision(Path(tmp), stack, notes)
        results = []
        for i in range(repeat):
            progress(f"station run cold start {i + 1}/{repeat}")
            results.append(cold_start(config, idle, extra_env=env))
    if all("ready_s" in r for r in results):
        ready = statistics.median(r["ready_s"] for r in results)
        rss = statistics.median(r["idle_rss_mb"] for r in results)
        figures.update(ready_s=ready, idle_rss_mb=rss)
        rows.append(["station run → READY=1 (median)", round(ready * 1000, 1),
                     f"{ready / bare:.1f}x", f"idle RSS {rss:.1f} MB"])
    else:
        exited = [r for r in results if "exit_s" in r]
        t = statistics.median(r["exit_s"] for r in exited)
        peak = max(r["peak_rss_mb"] for r in exited)
        codes = sorted({int(r["exit_code"]) for r in exited})
        figures.update(run_exit_s=t, run_peak_rss_mb=peak)
        rows.append(["station run → exit before READY (median)", round(t * 1000, 1),
                     f"{t / bare:.1f}x", f"exit {codes}; peak RSS ≥ {peak:.1f} MB (sampled)"])
        notes.append("station run exited before READY=1 with an unprovisioned state directory "
                     f"(last words: {exited[0].get('reason') or 'none'!r}): cold start to READY "
                     "and idle RSS need a provisioned station (keys, trust store, broker) and "
                     "are not measured here; the exit time and peak RSS cover the start-up "
                     "path up to that refusal only")
    return BenchResult(
        "startup", ("what", "ms", "vs bare python", "detail"), rows, figures,
        goals=(Goal("ready_s", 1.5), Goal("idle_rss_mb", 60.0)), notes=notes)
