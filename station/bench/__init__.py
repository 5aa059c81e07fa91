"""Benchmarks: one module per benchmark (``station/bench/<name>.py``).

Each benchmark's ``station.*`` imports are deferred into its functions on purpose: ``station
bench`` lists and runs one benchmark without loading every other one's stack.

A benchmark module defines ``DESCRIPTION: str``, ``add_arguments(parser)`` (optional) and
``run(args, progress) -> BenchResult``. Every comparison is made in the same run (ratios
against a baseline or the physical minimum), because absolute times drift between machines.

Not benchmarks but their material: ``deskcam`` (a camera model that photographs a flat document
in a 3-D pose: lens distortion, defocus/motion PSFs, Bayer sensor noise, JPEG) and
``documents`` (the card fronts it photographs), independent of ``station.sim``'s generators.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

# name → module under station.bench; modules that do not exist yet are reported as pending.
BENCHMARKS = ("chip", "trust", "qr", "mrz", "live", "pipeline", "startup", "ingest", "fleet")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Goal:
    """A target a figure must meet: ``value <= limit`` (or ``>=`` when ``higher_is_better``)."""

    metric: str
    limit: float
    higher_is_better: bool = False

    def met(self, value: float) -> bool:
        return value >= self.limit if self.higher_is_better else value <= self.limit


@dataclass(frozen=True)
class BenchResult:
    name: str
    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]
    figures: dict[str, float] = field(default_factory=dict)
    goals: Sequence[Goal] = ()
    notes: Sequence[str] = ()

    def goal_report(self) -> list[tuple[Goal, float | None, bool]]:
        out = []
        for g in self.goals:
            v = self.figures.get(g.metric)
            out.append((g, v, v is not None and g.met(v)))
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "columns": list(self.columns),
            "rows": [list(r) for r in self.rows],
            "figures": self.figures,
            "goals": [
                {"metric": g.metric, "limit": g.limit, "higher_is_better": g.higher_is_better,
                 "value": v, "met": ok}
                for g, v, ok in self.goal_report()
            ],
            "notes": list(self.notes),
        }


def self_cpu_s() -> float:
    """CPU seconds (user + system) this process has used so far."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def environment() -> dict[str, Any]:
    libs: dict[str, str | None] = {}
    for dist in ("cryptography", "paho-mqtt", "pyscard", "Pillow", "zxing-cpp", "pyzbar",
                 "asn1crypto"):
        try:
            libs[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            libs[dist] = None
    import sqlite3

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "python": sys.version.split()[0], "platform": platform.platform(), "cpu": cpu,
        "cores": os.cpu_count(), "sqlite": sqlite3.sqlite_version, "libraries": libs,
    }


def format_table(result: BenchResult) -> str:
    cols = [str(c) for c in result.columns]
    rows = [[_fmt(v) for v in r] for r in result.rows]
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c)
              for i, c in enumerate(cols)]
    lines = [f"== {result.name} ==",
             "  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    for g, v, ok in result.goal_report():
        op = ">=" if g.higher_is_better else "<="
        shown = "n/a" if v is None else _fmt(v)
        lines.append(f"goal {g.metric} {op} {_fmt(g.limit)}: {shown} "
                     f"{'MET' if ok else 'NOT MET'}")
    lines += [f"note: {n}" for n in result.notes]
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 10 else f"{v:,.1f}"
    return str(v)


def dump(results: Sequence[BenchResult], path: str) -> None:
    with open(path, "w") as f:
        json.dump({"environment": environment(), "results": [r.to_json() for r in results]},
                  f, indent=2)
