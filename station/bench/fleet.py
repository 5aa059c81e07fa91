"""`station bench fleet`: K desks → Mosquitto → N ingest workers → PostgreSQL, all real.

Set-up (not timed): the operator CA of ``provisioning`` (``init``, one backend identity per
worker, the sealing key), K desks each with its own Ed25519 signing key and its own mTLS
certificate signed from a CSR (``sign_station``: registry included), and the broker
configuration ``python -m provisioning mosquitto`` writes (listener, dynamic-security roles,
CRL) run unchanged by :class:`~station.testing.mosquitto.ProvisionedBroker`. A private
PostgreSQL server (fsync on). Then:

1. **ceiling**: verify + unseal alone in one process (:func:`station.bench.ingest.ceiling`),
   before anything else runs;
2. **1 worker**, then **N workers** (real ``station ingest`` processes, each its own backend
   identity on the shared subscription, a fresh database each, each with its share of the
   cores as verify processes, ``--verify-processes``, their CPU counted with the worker's):
   the desks
   (:mod:`station.sim.fleet`, a few processes with many paho clients each) tap at
   ``--tap-interval`` (Poisson, per desk) for ``--steady`` s, lose the network for
   ``--outage`` s (taps go on and queue), come back and send the backlog while tapping for
   ``--after`` s — in the N-worker run one worker is killed with SIGKILL halfway through
   it, while it holds an open batch (its uncommitted records lost, nothing receipted from
   them), and restarted a second later as systemd would — then every worker is stopped for
   ``--backend-outage`` s (a deploy: the broker queues for their persistent sessions, the desks
   keep tapping) and started again, ``--drains`` times in a row (each outage after the drain
   before it), and the desks tap ``--tail`` s more and wait for their receipts.

Reported per run: **records/s stored** = the median of the drains after the workers' outages
(each: rows committed from the first commit after the restart until 99 % of what was queued
is in, from the rows' ``received_at``; every drain's rate is shown): the workers saturated
while the desks only tap, so the rate is the workers' (and the broker's) — one drain of a few
seconds swings with whatever else the machine does, hence several. The burst after the
desks' outage is shown too, but then 500 desks
reconnecting (TLS handshakes) and publishing their backlogs share the cores with the workers;
tap → receipt p50/p99 (the receipt leaves after the commit, so this bounds tap → committed row
from above) and tap → row (the record's wall time to the worker's insert, whose batch commits
right after) in the steady phase, return → receipt for each backlog, and the after-phase (with
the kill); records tapped / stored / lost (receipted, so deleted at the desk, yet no row: must
be 0) / late (no receipt by the end: the desk still holds it) / rows no desk tapped /
duplicates suppressed (workers' ``(duplicate)`` lines) / re-sent by the desks; CPU ms per
stored record per role from ``/proc`` (desks, broker, each worker over all its starts, the
PostgreSQL server with all its backends, this driver). Ratios: the 1-worker rate against the
ceiling (goal ≥ 0.6), N workers against 1 (goal ≥ 1.6 where the cores allow: every role shares
this machine's cores, and the CPU split says where they went; ``--worker-cpu`` gives each worker
a fixed CPU budget, :class:`CpuQuota`, so that N workers have N times one's cores), and one
worker's CPU per record in the drain against the ceiling's (what a worker with a core of its own
would reach).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from station.bench import BenchResult, Goal, Progress, self_cpu_s

DESCRIPTION = ("fleet: K desks (own keys, mTLS) → Mosquitto → N ingest workers → PostgreSQL, "
               "a worker killed mid-run")

WORKER_NAMES = ("ingest", "ingest-2", "ingest-3", "ingest-4", "ingest-5", "ingest-6")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stations", type=int, default=500,
                        help="desks, each its own key, certificate and connection (default 500)")
    parser.add_argument("--workers", type=int, default=2,
                        help="ingest workers of the second run (the first has 1; default 2)")
    parser.add_argument("--tap-interval", type=float, default=2.0,
                        help="mean seconds between taps at one desk (default 2: 250 taps/s "
                             "from 500 desks)")
    parser.add_argument("--steady", type=float, default=6.0,
                        help="seconds of tapping before the desks' outage (default 6)")
    parser.add_argument("--outage", type=float, default=8.0,
                        help="seconds every desk is offline, still tapping (default 8)")
    parser.add_argument("--after", type=float, default=8.0,
                        help="seconds of tapping after the desks are back; a worker is killed "
                             "halfway through (default 8)")
    parser.add_argument("--backend-outage", type=float, default=20.0,
                        help="then every worker is stopped this long (a deploy) while the "
                             "desks tap and the broker queues for the workers' sessions; the "
                             "drain after it is the workers' rate (default 20: ~5 000 "
                             "queued, so the drain lasts seconds, not one)")
    parser.add_argument("--drains", type=int, default=3,
                        help="workers' outages in a row, each followed by its drain; the "
                             "rate reported is their median (default 3: one drain of a few "
                             "seconds swings with whatever else the machine does)")
    parser.add_argument("--tail", type=float, default=5.0,
                        help="seconds of tapping after the workers are back (default 5)")
    parser.add_argument("--station-procs", type=int, default=4,
                        help="processes the desks are spread over (default 4)")
    parser.add_argument("--receipt-timeout", type=float, default=30.0,
                        help="a desk re-sends a record not receipted this long after its "
                             "PUBACK (default 30: longer than the workers' outage, so what "
                             "the broker queued is not re-sent meanwhile; a real station "
                             "waits 60)")
    parser.add_argument("--ceiling-records", type=int, default=3000,
                        help="records of the verify + unseal ceiling (default 3000)")
    parser.add_argument("--worker-cpu", type=float, default=None, metavar="CORES",
                        help="hold each worker (its verify processes with it) to this many "
                             "cores by a CFS quota in a cgroup of its own (v1 or v2, needs "
                             "write access), as a container's CPU limit does: then N workers "
                             "have N times one's cores while the other roles keep the rest, "
                             "so the N/1 ratio can be measured on a small machine (default: "
                             "no limit)")
    parser.add_argument("--no-kill", action="store_true",
                        help="do not kill a worker in the N-worker run")


# --- CPU from /proc --------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # after "pid (comm) ": field 3 is index 0


def cpu_s(pid: int) -> float:
    """User + system seconds of one live process."""
    f = _stat(pid)
    return 0.0 if f is None else (int(f[11]) + int(f[12])) / _TICK


def _processes() -> dict[int, list[str]]:
    """Every live process's stat fields, by pid, from one scan of /proc."""
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            f = _stat(int(entry))
            if f is not None:
                stats[int(entry)] = f
    return stats


def tree_cpu_s(root: int) -> float:
    """User + system seconds of ``root`` and every live descendant, plus the children each of
    them has reaped (PostgreSQL backends that ended)."""
    stats = _processes()
    parent = {pid: int(f[1]) for pid, f in stats.items()}
    members, frontier = {root}, [root]
    while frontier:
        p = frontier.pop()
        for child, ppid in parent.items():
            if ppid == p and child not in members:
                members.add(child)
                frontier.append(child)
    return sum(sum(int(stats[p][i]) for i in (11, 12, 13, 14)) for p in members
               if p in stats) / _TICK


def children_of(pid: int) -> list[int]:
    """The live children of ``pid`` (a worker's verify processes)."""
    return [child for child, f in _processes().items() if int(f[1]) == pid]


def wait_cpu_s(proc: subprocess.Popen[Any], timeout_s: float) -> float:
    """Wait for a child (killed after ``timeout_s``) and return its whole CPU time (wait4's
    rusage: exact for a child that has just exited)."""
    deadline = time.monotonic() + timeout_s
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return usage.ru_utime + usage.ru_stime
        if time.monotonic() > deadline:
            proc.kill()
            deadline = time.monotonic() + 10
        time.sleep(0.05)


def _loadavg() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


# --- provisioning ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Deployment:
    """What provisioning made: the CA directory, the desks and the broker's configuration."""

    ca_dir: Path
    provisioned: Path
    port: int
    desks: tuple[Any, ...]
    """station.sim.fleet.DeskSpec of each desk."""
    workers: tuple[str, ...]


def provision(work: Path, stations: int, workers: int) -> Deployment:
    from cryptography.hazmat.primitives import serialization

    from provisioning.__main__ import main as provisioning
    from provisioning.ca import OperatorCa
    from station import keys
    from station.sim.fleet import DeskSpec
    from station.testing.ports import free_port

    ca_dir, out, desk_dir = work / "ca", work / "broker", work / "desks"
    quiet = open(os.devnull, "w")  # noqa: SIM115 - provisioning's own progress lines
    old, sys.stdout = sys.stdout, quiet
    try:
        provisioning(["--dir", str(ca_dir), "init", "--broker", "127.0.0.1",
                      "--broker", "localhost"])
        names = WORKER_NAMES[:max(1, workers)]
        for name in names[1:]:
            provisioning(["--dir", str(ca_dir), "backend", name])
        ca = OperatorCa(ca_dir)
        desk_dir.mkdir()
        desks = []
        for n in range(stations):
            sid = f"desk-{n:04d}"
            tls, signing = keys.generate_tls_key(), keys.generate_signing_key()
            csr = keys.build_csr(tls, sid).public_bytes(serialization.Encoding.PEM)
            cert = ca.sign_station(sid, csr, keys.public_pem(signing.public_key()))
            # The desks' own keys (on a real desk, its keys/ directory): 0600, no fsync — bench
            # material; the CA's certificates and registry above go through provisioning.
            for key, name in ((tls, f"{sid}.key"), (signing, f"{sid}.signing.pem")):
                fd = os.open(desk_dir / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(keys.private_pem(key))
            desks.append(DeskSpec(sid, str(desk_dir / f"{sid}.signing.pem"), str(cert),
                                  str(desk_dir / f"{sid}.key")))
        port = free_port()
        provisioning(["--dir", str(ca_dir), "mosquitto", "--out", str(out), "--port",
                      str(port), "--bind", "127.0.0.1"])
    finally:
        sys.stdout = old
        quiet.close()
    return Deployment(ca_dir, out, port, tuple(desks), names)


# --- the moving parts ------------------------------------------------------------------------

class CpuQuotaUnavailable(RuntimeError):
    """No cgroup CPU controller this process may write to."""


class CpuQuota:
    """A cgroup of its own with a CFS quota of ``cores``: a process started through
    :meth:`command` joins it before it runs, so its children (verify processes) are in it too.
    cgroup v1's ``cpu`` hierarchy or v2's unified one, whichever has the controller."""

    PERIOD_US = 100_000

    def __init__(self, name: str, cores: float) -> None:
        if cores <= 0:
            raise ValueError("a CPU quota needs more than 0 cores")
        quota = max(1000, round(cores * self.PERIOD_US))
        v1 = Path("/sys/fs/cgroup/cpu")
        v2 = Path("/sys/fs/cgroup")
        try:
            if (v1 / "cpu.cfs_quota_us").exists():
                self.path = v1 / name
                self.path.mkdir(exist_ok=True)
                (self.path / "cpu.cfs_period_us").write_text(str(self.PERIOD_US))
                (self.path / "cpu.cfs_quota_us").write_text(str(quota))
            elif "cpu" in (v2 / "cgroup.controllers").read_text().split():
                if "cpu" not in (v2 / "cgroup.subtree_control").read_text().split():
                    (v2 / "cgroup.subtree_control").write_text("+cpu")
                self.path = v2 / name
                self.path.mkdir(exist_ok=True)
                (self.path / "cpu.max").write_text(f"{quota} {self.PERIOD_US}")
            else:
                raise CpuQuotaUnavailable("no cgroup with the cpu controller")
        except OSError as exc:
            raise CpuQuotaUnavailable(f"cannot set a CPU quota: {exc.strerror}") from exc

    def command(self, args: list[str]) -> list[str]:
        """``args`` run inside the cgroup (the shell joins it, then becomes the command)."""
        return ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"',
                str(self.path / "cgroup.procs"), *args]

    def close(self, timeout_s: float = 5.0) -> None:
        """Remove the cgroup once its last process (a verify process ending after its
        worker) is gone; left behind, empty, if that takes longer than ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:  # EBUSY: a process is still in it
                if time.monotonic() > deadline:
                    return
                time.sleep(0.05)


class WorkerProc:
    """One ``station ingest`` process; stdout (one line per committed record) to a file."""

    def __init__(self, work: Path, dep: Deployment, name: str, dsn: str,
                 verify_processes: int, quota: CpuQuota | None = None) -> None:
        from provisioning.ca import CaPaths

        paths = CaPaths(dep.ca_dir)
        cert, key = paths.client(name)
        self.name = name
        self.config = work / f"{name}.toml"
        self.config.write_text(
            f"[mqtt]\nhost = '127.0.0.1'\nport = {dep.port}\ntls = true\n"
            f"ca_file = '{paths.ca_cert}'\ncert_file = '{cert}'\nkey_file = '{key}'\n")
        # warning: at fleet rates an info line per record to the journal costs the worker
        # more than its database does.
        self.args = [sys.executable, "-m", "station", "--config", str(self.config),
                     "--log-level", "warning", "ingest",
                     "--db", dsn, "--registry", str(paths.registry), "--backend-key",
                     str(paths.seal_key), "--client-id", name, "--health-port", "0",
                     "--verify-processes", str(verify_processes)]
        if quota is not None:
            self.args = quota.command(self.args)
        self.work = work
        self.runs = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.logs: list[Path] = []
        self.cpu: list[float] = []
        """CPU seconds of each instance that ended."""
        self.cpu_at_t0 = 0.0

    def start(self) -> None:
        self.runs += 1
        log = self.work / f"{self.name}.{self.runs}.out"
        self.logs.append(log)
        with open(log, "wb") as out, open(log.with_suffix(".err"), "wb") as err:
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=err,
                                         stdin=subprocess.DEVNULL)

    def wait_listening(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while "ingest: listening" not in self._text():
            if self.proc is None or self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start: "
                                   + self.logs[-1].with_suffix(".err").read_text()[-800:])
            time.sleep(0.05)

    def _text(self) -> str:
        return self.logs[-1].read_text(errors="replace") if self.logs else ""

    def health(self) -> dict[str, Any] | None:
        for line in self._text().splitlines():
            if line.startswith("ingest: health on"):
                try:
                    with urllib.request.urlopen(line.split()[-1], timeout=2) as r:
                        doc: dict[str, Any] = json.loads(r.read())
                        return doc
                except OSError:
                    return None
        return None

    def family_cpu_s(self) -> float:
        """CPU seconds of this instance and its verify processes (live, or reaped by it)."""
        assert self.proc is not None
        return tree_cpu_s(self.proc.pid)

    def _children_cpu_s(self) -> float:
        # wait4's figure is the worker's own: its verify processes' CPU, read just before the
        # signal (what they spend on the last batch after it is not counted).
        assert self.proc is not None
        return tree_cpu_s(self.proc.pid) - cpu_s(self.proc.pid)

    def kill(self) -> None:
        assert self.proc is not None
        kids = self._children_cpu_s()
        self.proc.send_signal(signal.SIGKILL)
        self.cpu.append(wait_cpu_s(self.proc, 10) + kids)

    def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            kids = self._children_cpu_s()
            self.proc.send_signal(signal.SIGTERM)
            self.cpu.append(wait_cpu_s(self.proc, 20) + kids)

    def lines(self) -> tuple[int, int]:
        """(new, duplicate) records this worker's instances reported committed."""
        new = dup = 0
        for log in self.logs:
            for line in log.read_text(errors="replace").splitlines():
                if line.startswith("received "):
                    if line.endswith("(duplicate)"):
                        dup += 1
                    else:
                        new += 1
        return new, dup


@dataclass
class RunFigures:
    workers: int
    tapped: int = 0
    stored: int = 0
    lost: int = 0
    unreceipted: int = 0
    foreign: int = 0
    """Rows no desk of this run tapped (must be 0)."""
    duplicates: int = 0
    new_lines: int = 0
    resent: int = 0
    desk_drain: tuple[float, float] = (0.0, 0.0)
    """(records/s, seconds) of the backlog after the desks' outage."""
    backend_drain: tuple[float, float] = (0.0, 0.0)
    """(records/s, seconds) of what the broker queued while every worker was stopped: the
    median drain of :attr:`backend_drains`."""
    backend_drains: list[tuple[float, float]] = field(default_factory=list)
    """Each workers' outage's drain, in order."""
    drain_busy: float | None = None
    """Fraction of the machine's cores busy (every process) during the median drain."""
    drain_role_cores: dict[str, float] = field(default_factory=dict)
    """Cores the broker and each worker used during the median drain."""
    overall_rps: float = 0.0
    latency_ms: dict[str, tuple[float, float]] = field(default_factory=dict)
    cpu_s: dict[str, float] = field(default_factory=dict)
    killed: str | None = None
    open_batch_at_kill: int | None = None
    connected: int = 0
    load: str = ""


def _percentiles(values: list[float]) -> tuple[float, float]:
    if not values:
        return (float("nan"), float("nan"))
    if len(values) == 1:
        return (values[0] * 1000, values[0] * 1000)
    q = statistics.quantiles(values, n=100, method="inclusive")
    return (statistics.median(values) * 1000, q[98] * 1000)


def _wall(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


def _read_line(stream: IO[str], timeout_s: float, what: str) -> str:
    import select

    r, _, _ = select.select([stream], [], [], timeout_s)
    if not r:
        raise RuntimeError(f"{what}: no answer in {timeout_s:g} s")
    return stream.readline()


def fleet_run(work: Path, dep: Deployment, dsn: str, workers: int, args: argparse.Namespace,
              broker_pid: int, postgres_pid: int, progress: Progress, kill: bool) -> RunFigures:
    import psycopg

    from station.ingest.checking import default_verify_threads
    from station.sim.fleet import FleetSpec

    run_dir = work / f"run-{workers}"
    run_dir.mkdir()
    figs = RunFigures(workers)
    # The workers share this machine's cores: each gets its share of verify processes.
    share = max(1, default_verify_threads() // workers)
    quotas = [] if args.worker_cpu is None else [
        CpuQuota(f"station-bench-{os.getpid()}-{name}", args.worker_cpu)
        for name in dep.workers[:workers]]
    procs = [WorkerProc(run_dir, dep, name, dsn, share, quotas[i] if quotas else None)
             for i, name in enumerate(dep.workers[:workers])]

    def roles() -> dict[str, int]:
        return {"broker": broker_pid, **{w.name: w.proc.pid for w in procs
                                         if w.proc is not None and w.proc.returncode is None}}

    machine = MachineCpu(roles).__enter__()
    for w in procs:
        w.start()
    for w in procs:
        w.wait_listening()
    parts = max(1, min(args.station_procs, len(dep.desks)))
    sims: list[subprocess.Popen[str]] = []
    outs: list[Path] = []
    drain_timeout = max(30.0, 3 * args.receipt_timeout)
    drains = max(1, args.drains)
    settle = drain_settle_s(args.backend_outage)
    tapping_after = args.after + drains * (args.backend_outage + settle) + args.tail
    for p in range(parts):
        out = run_dir / f"desks-{p}.json"
        spec = FleetSpec("127.0.0.1", dep.port, str(dep.ca_dir / "ca.pem"),
                         str(dep.ca_dir / "backend-seal.pub.pem"), dep.desks[p::parts],
                         args.tap_interval, args.steady, args.outage, tapping_after,
                         args.receipt_timeout, drain_timeout, str(out), seed=p + 1)
        spec.dump(run_dir / f"desks-{p}.spec.json")
        outs.append(out)
        sims.append(subprocess.Popen(
            [sys.executable, "-m", "station.sim.fleet", str(run_dir / f"desks-{p}.spec.json")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
    try:
        for sim in sims:
            assert sim.stdout is not None
            line = _read_line(sim.stdout, 120, "desks").split()
            if not line or line[0] != "ready":
                raise RuntimeError("a desk process did not get ready")
            figs.connected += int(line[1])
        progress(f"{workers} worker(s): {figs.connected} desks connected; running "
                 f"{args.steady + args.outage + tapping_after:g} s of taps")
        t0 = time.monotonic() + 0.2
        wall_offset = time.time() - time.monotonic()
        cpu0 = {"desks": sum(cpu_s(s.pid) for s in sims), "broker": cpu_s(broker_pid),
                "postgres": tree_cpu_s(postgres_pid), "driver": self_cpu_s()}
        for w in procs:
            assert w.proc is not None
            w.cpu_at_t0 = w.family_cpu_s()
        for sim in sims:
            assert sim.stdin is not None
            sim.stdin.write(f"go {t0!r}\n")
            sim.stdin.flush()
        back_at = t0 + args.steady + args.outage
        if kill and procs:
            victim = procs[0]
            _sleep_until(back_at + args.after / 2)
            until = time.monotonic() + 2.0
            while True:  # mid-batch: kill while the worker holds uncommitted records
                doc = victim.health()
                figs.open_batch_at_kill = None if doc is None else int(doc["open_batch"])
                if figs.open_batch_at_kill or time.monotonic() > until:
                    break
                time.sleep(0.005)
            victim.kill()
            figs.killed = victim.name
            progress(f"SIGKILL {victim.name} (open batch {figs.open_batch_at_kill}); "
                     "restarting in 1 s")
            time.sleep(1.0)
            victim.start()
            victim.wait_listening()
        _sleep_until(back_at + args.after)
        downs: list[float] = []
        stops: list[float] = []
        restarts: list[float] = []
        for cycle in range(drains):
            if cycle:
                _sleep_until(restarts[-1] + settle)  # the drain before is done by now
            progress(f"stopping every worker for {args.backend_outage:g} s "
                     f"({cycle + 1} of {drains})")
            down_at = time.monotonic()  # later than planned if the killed one was slow back
            downs.append(down_at)
            for w in procs:
                w.stop()
            stops.append(time.monotonic())
            _sleep_until(down_at + args.backend_outage)
            restarts.append(time.monotonic())
            for w in procs:
                w.start()
            for w in procs:
                w.wait_listening()
        stopped_at, restart_at = stops[0], restarts[0]
        desk_cpu = 0.0
        for sim in sims:
            desk_cpu += wait_cpu_s(sim, args.steady + args.outage + tapping_after
                                   + drain_timeout + 60)
        figs.cpu_s["desks"] = desk_cpu - cpu0["desks"]
        figs.cpu_s["broker"] = cpu_s(broker_pid) - cpu0["broker"]
        figs.cpu_s["postgres"] = tree_cpu_s(postgres_pid) - cpu0["postgres"]
    finally:
        machine.__exit__()
        for sim in sims:
            if sim.returncode is None:
                sim.kill()
                sim.wait()
        for w in procs:
            w.stop()
        for q in quotas:
            q.close()
    figs.cpu_s["driver"] = self_cpu_s() - cpu0["driver"]
    for w in procs:
        figs.cpu_s[f"worker {w.name} ({w.runs} starts)"] = sum(w.cpu) - w.cpu_at_t0
        new, dup = w.lines()
        figs.new_lines += new
        figs.duplicates += dup
    figs.load = _loadavg()

    records: list[tuple[str, float, float | None]] = []
    for out in outs:
        doc = json.loads(out.read_text())
        records += [(r[0], r[1], r[2]) for r in doc["records"]]
        figs.resent += int(doc["resent"])
    figs.tapped = len(records)
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT record_id, wall, received_at FROM received").fetchall()
    stored_ids = {str(r[0]) for r in rows}
    figs.stored = len(rows)
    # Lost: the desk got a receipt (and so deleted its copy) yet no row holds the record.
    # A record without a receipt at the end is not lost — its desk still holds it — but late.
    figs.lost = sum(1 for rid, _, got in records if got is not None and rid not in stored_ids)
    figs.unreceipted = sum(1 for _, _, got in records if got is None)
    figs.foreign = len(stored_ids - {rid for rid, _, _ in records})

    outage_at = t0 + args.steady
    # Steady: from 2 s in to 1 s before the outage (a record tapped just before the outage
    # waits for the desks' return: that is the backlog's figure).
    lead = min(2.0, args.steady / 4)
    phases = {
        "steady": [got - tap for _, tap, got in records if got is not None
                   and t0 + lead <= tap < outage_at - min(1.0, args.steady / 4)],
        "desk_backlog": [got - back_at for _, tap, got in records if got is not None
                         and outage_at <= tap < back_at],
        "after": [got - tap for _, tap, got in records if got is not None
                  and back_at <= tap < downs[0]],
        "backend_backlog": [got - restart_at for _, tap, got in records if got is not None
                            and stopped_at <= tap < restart_at],
    }
    commits = [(_wall(str(r[1])), float(r[2])) for r in rows]
    # The row's own clock: the record's wall time (ms) to the worker's insert into the batch
    # that then commits — tap → row, without the receipt's way back.
    steady_wall = (t0 + lead + wall_offset, outage_at - min(1.0, args.steady / 4) + wall_offset)
    phases["steady_row"] = [c - tap for tap, c in commits
                            if steady_wall[0] <= tap < steady_wall[1]]
    figs.latency_ms = {k: _percentiles(v) for k, v in phases.items()}
    figs.desk_drain = _rate(_drain_window(commits, back_at + wall_offset))
    windows = [_drain_window(commits, at + wall_offset, until + wall_offset)
               for at, until in zip(restarts, [*restarts[1:], float("inf")], strict=True)]
    figs.backend_drains = [_rate(w) for w in windows]
    middle = sorted(range(len(windows)), key=lambda i: figs.backend_drains[i][0])[
        (len(windows) - 1) // 2]
    figs.backend_drain = figs.backend_drains[middle]
    window = windows[middle]
    if window is not None:
        figs.drain_busy = machine.busy(window[0], window[1])
        figs.drain_role_cores = machine.role_cores(window[0], window[1])
    ordered = sorted(c for _, c in commits)
    if len(ordered) > 1:
        figs.overall_rps = len(ordered) / (ordered[-1] - ordered[0])
    return figs


def _sleep_until(t: float) -> None:
    time.sleep(max(0.0, t - time.monotonic()))


def drain_settle_s(backend_outage_s: float) -> float:
    """Seconds from one drain's restart to the next workers' outage: what the broker queued in
    ``backend_outage_s`` at the offered load is in by then at any rate above twice it."""
    return max(3.0, backend_outage_s / 2)


def _drain_window(commits: list[tuple[float, float]], since: float,
                  until: float = float("inf")) -> tuple[float, float, int] | None:
    """(first, last wall time, rows) of the drain: from the first commit after ``since`` until
    99 % of the backlog — records tapped before ``since`` and committed after it (and before
    ``until``, the next outage) — was in (the last few may wait for a re-send). ``commits``:
    (tapped, committed) wall times of every row."""
    backlog = sorted(c for tap, c in commits if tap < since - 0.002 and since <= c < until)
    after = sorted(c for _, c in commits if since <= c < until)
    if len(backlog) < 2:
        return None
    w0, w1 = after[0], backlog[int(0.99 * (len(backlog) - 1))]
    if w1 <= w0:
        return None
    return (w0, w1, sum(1 for c in after if c <= w1))


def _rate(window: tuple[float, float, int] | None) -> tuple[float, float]:
    """(records/s, seconds) of a :func:`_drain_window`; (0, 0) when there was none."""
    if window is None:
        return (0.0, 0.0)
    w0, w1, rows = window
    return (rows / (w1 - w0), w1 - w0)


class MachineCpu:
    """Samples ``/proc/stat`` every 50 ms on a thread: how busy the machine's cores were over a
    window of wall time (every process, not only this bench's), and how many cores each named
    process used (``roles()`` gives role → pid at each sample: workers restart)."""

    def __init__(self, roles: Callable[[], dict[str, int]] = dict) -> None:
        self.samples: list[tuple[float, int, int]] = []
        """(wall time, busy jiffies, all jiffies)."""
        self._roles = roles
        self._kids: dict[int, list[int]] = {}
        """Each role's child processes (a worker's verify processes), counted with it."""
        self.role_samples: list[tuple[float, dict[str, tuple[int, float]]]] = []
        """(wall time, (pid, CPU seconds) of each role's process then)."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-cpu", daemon=True)

    @staticmethod
    def _read() -> tuple[int, int] | None:
        try:
            with open("/proc/stat") as f:
                fields = [int(x) for x in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        total = sum(fields[:8])  # guest time is already in user
        return total - idle, total

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            got = self._read()
            now = time.time()
            if got is not None:
                self.samples.append((now, *got))
            if len(self.role_samples) % 20 == 0:  # once a second: a /proc scan is not free
                self._kids = {pid: children_of(pid) for pid in self._roles().values()}
            self.role_samples.append((now, {
                role: (pid, cpu_s(pid) + sum(cpu_s(k) for k in self._kids.get(pid, ())))
                for role, pid in self._roles().items()}))

    def __enter__(self) -> MachineCpu:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def busy(self, t0: float, t1: float) -> float | None:
        """Fraction of all cores busy between the samples nearest ``t0`` and ``t1``."""
        inside = [s for s in self.samples if t0 - 0.05 <= s[0] <= t1 + 0.05]
        if len(inside) < 2 or inside[-1][2] == inside[0][2]:
            return None
        return (inside[-1][1] - inside[0][1]) / (inside[-1][2] - inside[0][2])

    def role_cores(self, t0: float, t1: float) -> dict[str, float]:
        """Cores each role used between ``t0`` and ``t1`` (1.0: one core all the time); a role
        whose process changed in between (a restart) is left out."""
        inside = [s for s in self.role_samples if t0 - 0.05 <= s[0] <= t1 + 0.05]
        if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
            return {}
        (a, first), (b, last) = inside[0], inside[-1]
        return {role: (last[role][1] - first[role][1]) / (b - a) for role in first
                if role in last and last[role][0] == first[role][0]}


def run(args: argparse.Namespace, progress: Progress) -> BenchResult:
    from station.bench.ingest import ceiling as measure_ceiling
    from station.testing.mosquitto import ProvisionedBroker, nofile_limit
    from station.testing.postgres import PostgresServer

    if args.stations + 2 * args.workers + 16 > nofile_limit():
        raise RuntimeError(f"{args.stations} desks need more file descriptors than the "
                           f"broker may open here ({nofile_limit()}): raise ulimit -Hn")
    if args.worker_cpu is not None:  # fail now, not after minutes of set-up
        CpuQuota(f"station-bench-{os.getpid()}-probe", args.worker_cpu).close()
    load_before = _loadavg()
    with tempfile.TemporaryDirectory(prefix="station-bench-fleet-") as tmp:
        work = Path(tmp)
        progress(f"provisioning {args.stations} desks (keys, CSRs, certificates, registry) "
                 f"and {args.workers} backend identities")
        t = time.monotonic()
        dep = provision(work, args.stations, args.workers)
        provision_s = time.monotonic() - t
        progress("verify + unseal ceiling, alone")
        ceiling = measure_ceiling(args.ceiling_records, 20)
        server = PostgresServer()
        runs: list[RunFigures] = []
        try:
            server.start()
            assert server.proc is not None
            for n in sorted({1, args.workers}):
                kill = n == max(1, args.workers) and not args.no_kill
                dsn = server.create_database(f"fleet_{n}")
                # A broker of its own per run: nothing one run left queued reaches the next.
                broker = ProvisionedBroker(dep.provisioned, dep.port)
                try:
                    broker.start()
                    assert broker.pid is not None
                    runs.append(fleet_run(work, dep, dsn, n, args, broker.pid,
                                          server.proc.pid, progress, kill))
                finally:
                    broker.close()
        finally:
            server.close()
    return _result(args, ceiling, runs, provision_s, load_before)


def _result(args: argparse.Namespace, ceiling: dict[str, float], runs: list[RunFigures],
            provision_s: float, load_before: str) -> BenchResult:
    one, last = runs[0], runs[-1]
    figures: dict[str, float] = {
        "stations": float(args.stations), "connected": float(min(r.connected for r in runs)),
        "ceiling_rps": ceiling["rps"], "ceiling_cpu_us": ceiling["cpu_us"],
        "lost": float(sum(r.lost for r in runs)),
        "unreceipted": float(sum(r.unreceipted for r in runs)),
        "foreign_rows": float(sum(r.foreign for r in runs)),
        "provision_s": provision_s,
    }
    if args.worker_cpu is not None:
        figures["worker_cpu_quota"] = args.worker_cpu
    for r in runs:
        k = f"w{r.workers}"
        figures[f"{k}_rps"] = r.backend_drain[0]
        figures[f"{k}_drain_s"] = r.backend_drain[1]
        for i, (rps, sec) in enumerate(r.backend_drains, start=1):
            figures[f"{k}_drain{i}_rps"] = rps
            figures[f"{k}_drain{i}_s"] = sec
        if r.drain_busy is not None:
            figures[f"{k}_drain_cores_busy"] = r.drain_busy
        for role, cores in r.drain_role_cores.items():
            figures[f"{k}_drain_cores[{role}]"] = cores
        figures[f"{k}_desk_burst_rps"] = r.desk_drain[0]
        figures[f"{k}_desk_burst_s"] = r.desk_drain[1]
        figures[f"{k}_overall_rps"] = r.overall_rps
        figures[f"{k}_per_worker_vs_ceiling"] = r.backend_drain[0] / r.workers / ceiling["rps"]
        figures[f"{k}_tapped"] = float(r.tapped)
        figures[f"{k}_stored"] = float(r.stored)
        figures[f"{k}_lost"] = float(r.lost)
        figures[f"{k}_duplicates"] = float(r.duplicates)
        figures[f"{k}_resent"] = float(r.resent)
        for phase, (p50, p99) in r.latency_ms.items():
            figures[f"{k}_{phase}_p50_ms"] = p50
            figures[f"{k}_{phase}_p99_ms"] = p99
        for role, sec in r.cpu_s.items():
            figures[f"{k}_cpu_ms_per_record[{role}]"] = sec / max(1, r.stored) * 1000
        worker_cpu = sum(v for role, v in r.cpu_s.items() if role.startswith("worker "))
        figures[f"{k}_worker_cpu_us_per_record"] = worker_cpu / max(1, r.stored) * 1e6
    figures["worker_vs_ceiling"] = one.backend_drain[0] / ceiling["rps"]
    # What one worker would do with a core of its own: its CPU per record in the drain (the
    # whole run's includes start-ups and the idle seconds of the steady phase) against the
    # ceiling's (the cores here are shared by every role).
    drain_cores = sum(c for role, c in one.drain_role_cores.items() if role != "broker")
    if drain_cores and one.backend_drain[0]:
        figures["w1_drain_worker_cpu_us_per_record"] = drain_cores / one.backend_drain[0] * 1e6
        figures["worker_cpu_vs_ceiling_cpu"] = (
            ceiling["cpu_us"] / figures["w1_drain_worker_cpu_us_per_record"])
    if len(runs) > 1 and one.backend_drain[0] and last.backend_drain[0]:
        figures["workers_ratio"] = last.backend_drain[0] / one.backend_drain[0]

    def pct(r: RunFigures, phase: str) -> str:
        p50, p99 = r.latency_ms[phase]
        return f"{p50:.0f} / {p99:.0f}"

    heads = [f"{r.workers} worker" + ("s" if r.workers > 1 else "")
             + (f" (SIGKILL {r.killed})" if r.killed else "") for r in runs]
    rows: list[list[Any]] = [
        ["desks connected (mTLS, own certificate)", *(r.connected for r in runs)],
        [f"records/s stored: drain after the workers' outage (median of {len(one.backend_drains)})",
         *(f"{r.backend_drain[0]:.0f} in {r.backend_drain[1]:.1f} s" for r in runs)],
        ["  each drain, records/s",
         *(" · ".join(f"{rps:.0f}" for rps, _ in r.backend_drains) for r in runs)],
        ["  per worker / verify+unseal ceiling",
         *(f"{r.backend_drain[0] / r.workers / ceiling['rps']:.2f}" for r in runs)],
        [f"  machine's {os.cpu_count()} cores busy meanwhile (every process)",
         *("?" if r.drain_busy is None else f"{r.drain_busy:.0%}" for r in runs)],
        ["  cores used meanwhile: broker; each worker",
         *("; ".join(f"{c:.2f}" for c in r.drain_role_cores.values()) or "?" for r in runs)],
        ["records/s stored: burst after the desks' outage",
         *(f"{r.desk_drain[0]:.0f} in {r.desk_drain[1]:.1f} s" for r in runs)],
        ["records/s stored over the run (offered load)", *(round(r.overall_rps) for r in runs)],
        ["steady: tap → receipt p50 / p99 ms", *(pct(r, "steady") for r in runs)],
        ["steady: tap → row inserted (commit follows) p50 / p99 ms",
         *(pct(r, "steady_row") for r in runs)],
        ["desks back: return → receipt p50 / p99 ms", *(pct(r, "desk_backlog") for r in runs)],
        ["after (worker killed): tap → receipt p50 / p99 ms",
         *(pct(r, "after") for r in runs)],
        ["workers back: restart → receipt p50 / p99 ms",
         *(pct(r, "backend_backlog") for r in runs)],
        ["records tapped", *(r.tapped for r in runs)],
        ["records stored (rows)", *(r.stored for r in runs)],
        ["lost (receipted, no row)", *(r.lost for r in runs)],
        ["late (no receipt at the end: still at the desk)", *(r.unreceipted for r in runs)],
        ["rows no desk of the run tapped", *(r.foreign for r in runs)],
        ["duplicates suppressed (workers)", *(r.duplicates for r in runs)],
        ["re-sent by desks", *(r.resent for r in runs)],
    ]
    roles: list[str] = []
    for r in runs:
        roles += [k for k in r.cpu_s if k not in roles]
    for role in roles:
        rows.append([f"CPU ms/record: {role}",
                     *("" if role not in r.cpu_s
                       else f"{r.cpu_s[role] / max(1, r.stored) * 1000:.3f}" for r in runs)])
    rows.append(["CPU ms/record: all roles",
                 *(f"{sum(r.cpu_s.values()) / max(1, r.stored) * 1000:.3f}" for r in runs)])
    rows.append(["verify + unseal alone (ceiling): records/s, CPU ms/record",
                 f"{ceiling['rps']:.0f}, {ceiling['cpu_us'] / 1000:.3f}",
                 *([""] * (len(runs) - 1))])
    notes = [] if args.worker_cpu is None else [
        f"each worker (its verify processes with it) held to {args.worker_cpu:g} cores by a CFS "
        "quota in a cgroup of its own: one worker's rate against the one-core ceiling is "
        f"bounded by {args.worker_cpu:g}, and N workers have N times one's cores, so N / 1 "
        "shows how the workers scale where the cores allow"]
    notes += [
        f"load average before: {load_before}; after each run: "
        + ", ".join(f"{r.workers}w {r.load}" for r in runs)
        + f"; {os.cpu_count()} cores shared by every role",
        f"offered: {args.stations} desks × 1 tap / {args.tap_interval:g} s "
        f"= {args.stations / args.tap_interval:.0f} taps/s; the desks' outage queues "
        f"~{args.stations / args.tap_interval * args.outage:.0f} records at the desks, the "
        f"workers' ~{args.stations / args.tap_interval * args.backend_outage:.0f} at the broker",
        "records/s stored = the drain of what the broker queued while every worker was "
        "stopped (the workers saturated, the desks only tapping); over the run it is the "
        "offered load",
        "receipt after commit: tap → receipt bounds tap → committed row from above",
        f"desks re-send after {args.receipt_timeout:g} s without a receipt (a real station: "
        "60 s); a worker's CPU includes its start-ups",
    ]
    if "worker_cpu_vs_ceiling_cpu" in figures:
        notes.append(
            "one worker's CPU per record in the drain: "
            f"{figures['w1_drain_worker_cpu_us_per_record']:.0f} µs (its verify processes "
            f"with it), the ceiling's {ceiling['cpu_us']:.0f} µs: "
            f"{figures['worker_cpu_vs_ceiling_cpu']:.2f} (what a worker with one core of its "
            "own would reach, relative to the ceiling)")
    if last.killed:
        notes.append(f"{last.killed} SIGKILLed halfway through the after-phase with "
                     f"{last.open_batch_at_kill} records open (health just before); restarted "
                     "after 1 s under the same identity (its persistent session)")
    if len(runs) > 1:
        busy = ("" if one.drain_busy is None or last.drain_busy is None else
                f"; the machine's cores were {one.drain_busy:.0%} busy during the 1-worker "
                f"drain and {last.drain_busy:.0%} during the {last.workers}-worker one")
        ratio = ("no ratio: a drain committed in one batch, so it had no rate"
                 if "workers_ratio" not in figures else f"{figures['workers_ratio']:.2f}")
        notes.append(f"{last.workers} workers / 1 = {ratio}: "
                     "the CPU rows show where the cores went (desks, broker and PostgreSQL "
                     f"share them with the workers){busy}")
    return BenchResult(
        "fleet", ("", *heads), rows, figures,
        goals=(Goal("worker_vs_ceiling", 0.6, higher_is_better=True),
               Goal("workers_ratio", 1.6, higher_is_better=True),
               Goal("lost", 0.0),
               Goal("connected", 500.0, higher_is_better=True)),
        notes=notes)
