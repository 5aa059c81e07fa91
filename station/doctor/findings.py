"""What a doctor check finds (:class:`Finding`) and what it looks at (:class:`Context`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from station.config import Config

Status = Literal["ok", "warn", "fail", "skip"]


@dataclass(frozen=True)
class Finding:
    check: str
    status: Status
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Context:
    cfg: Config
    service_uid: int | None = None
    """Owner the private keys must have (the service user's uid), or None: the caller's."""
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    timeout_s: float = 5.0


def healthy(findings: list[Finding]) -> bool:
    return not any(f.status == "fail" for f in findings)
