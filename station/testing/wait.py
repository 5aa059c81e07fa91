"""Polling for a condition another thread brings about (the demo and the tests wait on the
service, the publisher and the backend this way; production code waits on events instead)."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(predicate: Callable[[], bool], timeout_s: float, step_s: float = 0.02) -> bool:
    """True as soon as ``predicate()`` is; its last answer once ``timeout_s`` has passed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step_s)
    return predicate()
