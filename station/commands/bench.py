"""`station bench`: run benchmarks, print tables, write JSON."""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from station.bench import BENCHMARKS
from station.commands import Subparsers


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "bench", help="run benchmarks (prints a table, writes JSON)",
        description="Run one benchmark or all of them. Every comparison is made in the same run.",
    )
    bsub = p.add_subparsers(dest="bench", metavar="NAME", required=True,
                            parser_class=_LazyBenchParser)
    for name in (*BENCHMARKS, "all"):
        desc = _description(name) if name != "all" else "every benchmark"
        bp = bsub.add_parser(name, help=desc or "[not implemented yet]")
        bp.bench = name
        bp.add_argument("--json", metavar="FILE", help="write results and environment as JSON")
        bp.set_defaults(func=run)


class _LazyBenchParser(argparse.ArgumentParser):
    """A benchmark's parser that imports its module (for ``add_arguments``) only when that
    benchmark is chosen: benchmark modules pull numpy, the virtual chip, the PKI…, which every
    other ``station`` command (``station run`` above all) must not pay for at start-up."""

    bench = ""
    _loaded = False

    def _load(self) -> None:
        if self._loaded or self.bench in ("", "all"):
            return
        self._loaded = True
        module = _module(self.bench)
        if module is not None and hasattr(module, "add_arguments"):
            module.add_arguments(self)

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        self._load()
        return super().parse_known_args(args, namespace)

    def format_help(self) -> str:
        self._load()
        return super().format_help()


def _description(name: str) -> str | None:
    """DESCRIPTION of station/bench/<name>.py read from its source, without importing it."""
    spec = importlib.util.find_spec(f"station.bench.{name}")
    if spec is None or spec.origin is None:
        return None
    try:
        tree = ast.parse(Path(spec.origin).read_text())
    except (OSError, SyntaxError):
        return None
    for node in tree.body:
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "DESCRIPTION"
                                                 for t in node.targets)
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            return node.value.value
    return None


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
        def progress(msg: str) -> None:
            print(f"  … {msg}", file=sys.stderr, flush=True)

        result = module.run(_with_defaults(args, module), progress)  # type: ignore[attr-defined]
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


def _with_defaults(args: argparse.Namespace, module: object) -> argparse.Namespace:
    """``args`` plus the defaults of the benchmark's own options that it lacks (under
    ``station bench all`` no benchmark's options are parsed)."""
    add = getattr(module, "add_arguments", None)
    if add is None:
        return args
    own = argparse.ArgumentParser(add_help=False)
    add(own)
    merged = vars(own.parse_args([]))
    merged.update(vars(args))
    return argparse.Namespace(**merged)
