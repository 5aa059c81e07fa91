"""`station run`: run the station service (systemd).

Builds the desk from the configuration (:func:`station.service.desk.build`): the PC/SC card
watch and chip reader, the QR watch on the configured camera (and MRZ reading on a lodging
desk), the trust-store verifier, the outbox store with its MQTT publisher, the backend's commands
(typed CAN, lodging bookings, foreign guests' entry details), the LEDs and display — and runs
it until SIGTERM. What is not wired on this build is named in the log at start.
"""

from __future__ import annotations

import argparse
import logging
import time

from station.commands import Subparsers, load_config

_log = logging.getLogger(__name__)

# Not wired on this build (named by `station run` so nobody mistakes it for done).
MISSING = (
    ("a hardware keypad for the CAN (a typed CAN arrives on the commands topic: 'can')",
     "issue #9 keypad driver"),
)


def register(sub: Subparsers) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "run", help="Run the station service (systemd Type=notify)",
        description="Run the station service: QR → chip → verification → signed record, with "
                    "LEDs/buzzer/display feedback. --feedback-test cycles every screen and "
                    "LED/buzzer pattern on the configured hardware and exits.")
    p.add_argument("--feedback-test", action="store_true",
                   help="show each session state on the LEDs, buzzer and display, then exit")
    p.add_argument("--hold", type=float, default=2.0,
                   help="seconds per state with --feedback-test (default 2)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from station.service import profiles

    cfg = load_config(args)
    profile = profiles.resolve(cfg)  # a bad profile is a ConfigError before anything starts
    if args.feedback_test:
        return _feedback_test(cfg, profile.keypad, args.hold)
    return _serve(cfg)


def _serve(cfg: object) -> int:
    from station.config import Config
    from station.log import event
    from station.service.desk import build
    from station.service.runtime import install_signal_handlers

    assert isinstance(cfg, Config)
    desk = build(cfg)  # a missing key, trust store or reader library is a typed error here
    install_signal_handlers(desk.service)
    for what, _ in MISSING:
        event(_log, "run.not_wired", what=what)
    return desk.service.run()


def _feedback_test(cfg: object, keypad: bool, hold: float) -> int:
    from station.config import Config
    from station.service.feedback import DeskFeedback
    from station.service.machine import Failure, Fault, Phase, Session

    assert isinstance(cfg, Config)
    fb = DeskFeedback.from_config(cfg, keypad=keypad)
    states = [Session(), Session(phase=Phase.WAITING), Session(phase=Phase.NEED_QR),
              Session(phase=Phase.READING, progress=0.5), Session(phase=Phase.SUCCESS),
              *(Session(phase=Phase.FAILED, failure=f) for f in Failure),
              Session(faults=frozenset({Fault.READER_MISSING}))]
    print(f"LEDs/buzzer: {'on' if fb.outputs else 'not available'}; display: "
          f"{cfg.display.kind if fb.display else 'none'}")
    try:
        for s in states:
            print(f"  {s.phase.value}{' / ' + s.failure.value if s.failure else ''}")
            fb.show(s)
            time.sleep(hold)
        fb.refused()
        time.sleep(hold)
    finally:
        fb.close()
    return 0
