"""`station doctor`: what is wrong with this station, at a glance, with how to fix it.

Each check is a small function ``(Context) -> Finding`` in :mod:`station.doctor.checks`, in the
order an operator would look: configuration, keys, PC/SC, camera, clock, broker, trust store,
outbox. A finding is ``ok``, ``warn``, ``fail`` or ``skip`` (not applicable here, e.g. no Pi
camera stack on x86). The command exits 0 only when nothing fails. Findings never carry key
material or citizen data: they name files, counts, dates and reader names.
"""

from __future__ import annotations

from station.doctor import checks
from station.doctor.findings import Context, Finding, Status, healthy

__all__ = ["Context", "Finding", "Status", "healthy", "run"]

def run(ctx: Context) -> list[Finding]:
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
