"""The package's import graph, drawn from the code with :mod:`ast` (issue #20): no import circle
— counting the imports inside functions, so that none is dodged by a lazy import — the layers
point one way (nfc never imports trust, protocol and library code never the CLI or the
service), and every ``station.*`` import inside a function says why it is deferred."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "station"


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    line: int
    deferred: bool
    """Inside a function (or class body), not at module level."""


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(module: str, path: Path) -> Iterator[Import]:
    tree = ast.parse(path.read_text(), str(path))

    def walk(node: ast.AST, deferred: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if _type_checking(child):
                continue  # for the type checker only: never executed
            if isinstance(child, ast.Import):
                names = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                names = [child.module] + [f"{child.module}.{a.name}" for a in child.names]
            else:
                inner = deferred or isinstance(
                    child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda)
                yield from walk(child, inner)
                continue
            for target in {_resolve(n) for n in names if n.split(".")[0] == "station"}:
                if target is not None and target != module:
                    yield Import(module, target, child.lineno, deferred)

    yield from walk(tree, False)


IMPORTS = [i for module, path in MODULES.items() for i in _imports(module, path)]


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(MODULES):
        if v not in index:
            visit(v)
    return found


def test_the_graph_is_read() -> None:
    # The walker sees the package: real modules, module-level and deferred imports.
    assert {"station.nfc.session", "station.trust.pa", "station.service.runtime"} <= set(MODULES)
    assert any(i.source == "station.trust.pa" and i.target == "station.trust.verdict"
               for i in IMPORTS)
    assert any(i.deferred for i in IMPORTS)


def test_no_import_circle() -> None:
    edges: dict[str, set[str]] = {}
    for i in IMPORTS:
        edges.setdefault(i.source, set()).add(i.target)
    assert _cycles(edges) == []


def test_the_cycle_finder_finds_a_circle() -> None:
    known = sorted(MODULES)[:2]
    assert _cycles({known[0]: {known[1]}, known[1]: {known[0]}}) == [sorted(known)]


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


@pytest.mark.parametrize(("lower", "upper"), [
    ("station.nfc", "station.trust"),  # chip protocols below passive authentication
    ("station.nfc", "station.service"),
    ("station.trust", "station.service"),
    ("station.mrz", "station.commands"),
    ("station.qr", "station.commands"),
    ("station.display", "station.service"),
    ("station.drivers", "station.service"),
    ("station.pipeline", "station.service"),
    ("station.pipeline", "station.ingest"),
])
def test_lower_never_imports_upper(lower: str, upper: str) -> None:
    wrong = [f"{i.source}:{i.line} → {i.target}" for i in IMPORTS
             if _within(i.source, lower) and _within(i.target, upper)]
    assert wrong == []


DEFERRING_PACKAGES = ("station.commands", "station.bench")
"""Their docstring says why every subcommand / benchmark defers its imports (CLI start-up)."""


def test_deferring_packages_say_why() -> None:
    for package in DEFERRING_PACKAGES:
        doc = ast.get_docstring(ast.parse(MODULES[package].read_text())) or ""
        assert "deferred" in doc, package


def test_deferred_station_imports_say_why() -> None:
    """A ``station.*`` import inside a function hides a dependency; it is kept only to defer a
    heavy or optional dependency, and a comment on the line or just above it says so (in the
    CLI packages, their docstring)."""
    silent = []
    for i in IMPORTS:
        if not i.deferred or any(_within(i.source, p) for p in DEFERRING_PACKAGES):
            continue
        lines = MODULES[i.source].read_text().splitlines()
        here = lines[i.line - 1]
        # The comment heads the block of imports it explains (blank lines and imports between).
        above = next((ln.strip() for ln in reversed(lines[:i.line - 1])
                      if ln.strip() and not ln.strip().startswith(("from ", "import "))
                      and not ln.strip().endswith((",", "(")) and ln.strip() != ")"), "")
        block = [above]
        if "#" not in here and not (block and block[0].startswith("#")):
            silent.append(f"{MODULES[i.source].relative_to(PACKAGE.parent)}:{i.line}")
    assert silent == []
