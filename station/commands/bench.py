"""`station bench`: run benchmarks, print tables, write JSON."""

from __future__ import annotations

import argparse
import importlib
import sys

from station.commands import Subparsers


def register(sub: Subparsers) -> None:
    from station.bench import BENCHMARKS

    p = sub.add_parser(
        "bench", help="run benchmarks (prints a table, writes JSON)",
        description="Run one benchmark or all of them. Every comparison is made in the same run.",
    )
    bsub = p.add_subparsers(dest="bench", metavar="NAME", required=True)
    for name in (*BENCHMARKS, "all"):
        module = _module(name) if name != "all" else None
        desc = getattr(module, "DESCRIPTION", None) if module else None
        bp = bsub.add_parser(name, help=desc or ("every benchmark" if name == "all"
                                                 else "[not implemented yet]"))
        bp.add_argument("--json", metavar="FILE", help="write results and environment as JSON")
        if module is not None and hasattr(module, "add_arguments"):
            module.add_arguments(bp)
        bp.set_defaults(func=run)


def _module(name: str) -> object | None:
    try:
        return importlib.import_module(f"station.bench.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"station.bench.{name}":
            raise
        return None


def run(args: argparse.Namespace) -> int:
    from station.bench import BENCHMARKS, dump, format_table

    names = BENCHMARKS if args.bench == "all" else (args.bench,)
    results = []
    missing = []
    for name in names:
        module = _module(name)
        if module is None:
            missing.append(name)
            continue
        result = module.run(args, lambda msg: print(f"  … {msg}", file=sys.stderr, flush=True))  # type: ignore[attr-defined]
        print(format_table(result), flush=True)
        results.append(result)
    for name in missing:
        print(f"bench {name}: not implemented yet")
    if args.json and results:
        dump(results, args.json)
        print(f"wrote {args.json}")
    if not results:
        return 2
    return 0
