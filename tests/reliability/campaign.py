"""The reliability campaign's tally and its summary runner (``make reliability``).

Every scenario in ``tests/reliability/`` reports what it did through :class:`Tally` — runs,
faults injected, records committed and delivered, lost, duplicates after dedupe, crashes —
into a JSON-lines file named by ``RELIABILITY_REPORT``. The runner
(``python -m tests.reliability.campaign``) runs the full campaign (``RELIABILITY_FULL=1``)
under pytest and prints the summary; it exits non-zero if any test failed or if anything was
lost, duplicated or crashed. Under plain ``make test`` the same tests run in their reduced form
and the tally goes nowhere.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

FULL_ENV = "RELIABILITY_FULL"
REPORT_ENV = "RELIABILITY_REPORT"
COUNTS = ("runs", "faults", "committed", "delivered", "lost", "duplicates", "crashes")
MUST_BE_ZERO = ("lost", "duplicates", "crashes")


def full() -> bool:
    """True in the long form of the campaign (``make reliability``)."""
    return os.environ.get(FULL_ENV, "") not in ("", "0")


def scale(reduced: int, full_count: int) -> int:
    """How many runs a scenario does: ``reduced`` under ``make test``, ``full_count`` under
    ``make reliability``."""
    return full_count if full() else reduced


@dataclass(frozen=True)
class Entry:
    scenario: str
    runs: int = 0
    faults: int = 0
    committed: int = 0
    delivered: int = 0
    lost: int = 0
    duplicates: int = 0
    crashes: int = 0
    note: str = ""


class Tally:
    """Collects one :class:`Entry` per scenario (appended to ``RELIABILITY_REPORT`` if set)."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path if path is not None else os.environ.get(REPORT_ENV) or None
        self.entries: list[Entry] = []

    def record(self, scenario: str, **counts: int | str) -> Entry:
        entry = Entry(scenario, **counts)  # type: ignore[arg-type]
        self.entries.append(entry)
        if self.path:
            with open(self.path, "a") as f:
                f.write(json.dumps(asdict(entry)) + "\n")
        return entry


def read_report(path: Path) -> list[Entry]:
    if not path.exists():
        return []
    return [Entry(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


def summarize(entries: Sequence[Entry]) -> tuple[str, dict[str, int]]:
    """A table of the scenarios and the totals."""
    totals = {k: sum(int(getattr(e, k)) for e in entries) for k in COUNTS}
    cols = ("scenario", *COUNTS)
    rows = [[e.scenario, *(str(getattr(e, k)) for k in COUNTS)] for e in entries]
    rows.append(["TOTAL", *(str(totals[k]) for k in COUNTS)])
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
    line = "  ".join
    out = [line(c.ljust(w) for c, w in zip(cols, widths, strict=True)),
           line("-" * w for w in widths)]
    out += [line(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    notes = [f"note: {e.scenario}: {e.note}" for e in entries if e.note]
    return "\n".join(out + notes), totals


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.reliability.campaign",
        description="Run the full reliability campaign (tests/reliability) and print its summary.")
    parser.add_argument("--reduced", action="store_true",
                        help="run the reduced form (as in make test) instead of the full one")
    parser.add_argument("--json", metavar="FILE", help="also write the entries and totals as JSON")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (e.g. -k crash)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="station-reliability-") as tmp:
        report = Path(tmp) / "report.jsonl"
        env = dict(os.environ, **{REPORT_ENV: str(report)})
        if args.reduced:
            env.pop(FULL_ENV, None)
        else:
            env[FULL_ENV] = "1"
        # The full campaign is long by design: no per-test timeout from pyproject.
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "timeout=0",
               "tests/reliability", *args.pytest_args]
        rc = subprocess.call(cmd, env=env)
        entries = read_report(report)
    table, totals = summarize(entries)
    print("\n== reliability campaign" + (" (reduced)" if args.reduced else "") + " ==")
    print(table)
    bad = [k for k in MUST_BE_ZERO if totals[k]]
    verdict = "PASS" if rc == 0 and not bad and entries else "FAIL"
    print(f"lost={totals['lost']} duplicates={totals['duplicates']} crashes={totals['crashes']}"
          f" tests={'passed' if rc == 0 else f'FAILED (pytest exit {rc})'}: {verdict}")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"entries": [asdict(e) for e in entries], "totals": totals, "pytest_exit": rc,
             "verdict": verdict}, indent=2))
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
