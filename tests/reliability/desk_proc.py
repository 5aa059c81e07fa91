"""A whole desk in its own process, for the PC/SC fault campaign: libpcsclite reads the socket
path once per process, so a test that kills and restarts its own pcscd runs the desk (the
client) here. Run: ``python -m tests.reliability.desk_proc STATION_TOML`` with the pcscd's
``PCSCLITE_CSOCK_NAME`` in the environment.

stdin takes commands, one a line: ``show PNG`` (hold that QR image in front of the replay
camera), ``stop``. stdout carries JSON lines: ``{"ready": t}`` once the service is ready, then
one object per session change (``t`` monotonic — CLOCK_MONOTONIC is system-wide, so the test
compares it with its own clock — ``phase``, ``failure``, ``outcome``, ``faults``, ``attempt``),
and ``{"stopped": exit}`` at the end."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

from station import config
from station.service import machine as m
from station.service.desk import build
from station.testing.desk import DeskCamera


def _say(obj: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _changed(_before: m.Session, s: m.Session) -> None:
    _say({"t": time.monotonic(), "phase": s.phase.value,
          "failure": s.failure.value if s.failure else None,
          "outcome": s.outcome.name if s.outcome is not None else None,
          "faults": sorted(f.value for f in s.faults), "attempt": s.attempt})


def main() -> int:
    cfg = config.load(Path(sys.argv[1]))
    camera = DeskCamera()
    desk = build(cfg, camera=camera.open, tick_s=0.05)
    desk.service.machine.listeners.append(_changed)
    runner = threading.Thread(target=desk.service.run, daemon=True)
    runner.start()
    if not desk.service.ready.wait(15):
        _say({"error": "not ready"})
        return 2
    _say({"ready": time.monotonic()})
    for line in sys.stdin:
        cmd, _, arg = line.strip().partition(" ")
        if cmd == "show":
            camera.show(Path(arg))
        elif cmd == "stop":
            break
    desk.service.request_stop()
    runner.join(timeout=20)
    code = 1 if runner.is_alive() else 0
    _say({"stopped": code})
    return code


if __name__ == "__main__":
    sys.exit(main())
