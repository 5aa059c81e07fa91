"""`station doctor`: what is wrong with this station, at a glance, with how to fix it.

Each check is a small function ``(Context) -> Finding`` in :mod:`station.doctor.checks`, in the
order an operator would look: configuration, keys, PC/SC, camera, clock, broker, trust store,
outbox. A finding is ``ok``, ``warn``, ``fail`` or ``skip`` (not applicable here, e.g. no Pi
camera stack on x86). The command exits 0 only when nothing fails. Findings never carry key
material or citizen data: they name files, counts, dates and reader names.
"""

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


def run(ctx: Context) -> list[Finding]:
    from station.doctor import checks

    findings: list[Finding] = []
    for check in checks.ALL:
        try:
            result = check(ctx)
        except Exception as exc:  # a check that crashes is itself a finding, not a crash
            result = [Finding(check.__name__.removeprefix("check_"), "fail",
                              f"the check itself failed: {type(exc).__name__}",
                              "report this; run with --log-level debug")]
        findings.extend(result)
    return findings
