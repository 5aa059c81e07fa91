"""The published contract (contract/ at the repository root) as validators for tests."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

CONTRACT = Path(__file__).resolve().parents[2] / "contract"


def load(name: str) -> Any:
    return json.loads((CONTRACT / name).read_text("utf-8"))


@cache
def _registry() -> Registry:
    # Each schema under the name the AsyncAPI document uses (schemas/x.json) and under its bare
    # name, which the output schemas' relative $refs (opened-bank.json, record-v2.json#/…)
    # resolve to from a root loaded without a base URI.
    resources = [(uri, Resource.from_contents(load(f"schemas/{p.name}"),
                                              default_specification=DRAFT7))
                 for p in sorted((CONTRACT / "schemas").glob("*.json"))
                 for uri in (f"schemas/{p.name}", p.name)]
    return Registry().with_resources(resources)


def validator(ref: str) -> Draft7Validator:
    """``ref`` as the AsyncAPI document names it: ``schemas/record-v2.json``."""
    return Draft7Validator(load(ref), registry=_registry(),
                           format_checker=Draft7Validator.FORMAT_CHECKER)


def check(ref: str, instance: Any) -> None:
    """Raise with every violation listed (paths only: the values may be citizen data)."""
    errors = sorted(validator(ref).iter_errors(instance), key=lambda e: list(e.path))
    if errors:
        raise AssertionError(f"{ref}: " + "; ".join(
            f"{'/'.join(map(str, e.path)) or '(root)'}: {e.validator}" for e in errors))
