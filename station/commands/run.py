"""`station run`: run the station service (systemd).

The service loop, the reading-session machine, the profiles and the feedback are here; the
stages it drives come from other issues. Until each has landed, `station run` says which are
missing and exits 2 rather than run a desk that cannot produce a verified record.
"""

from __future__ import annotations

import argparse
import time

from station.commands import Subparsers, load_config

# The ports of station.service.ports with a production adapter on this tree …
WIRED = (
    "PC/SC card watch: placed/lifted/reader lost/back, survives pcscd restarts "
    "(station.service.cards)",
    "chip reader: PACE (CAN) or BAC (MRZ key), the profile's files, resume after the card was "
    "lifted (station.service.chip)",
)
# … and those that have none yet.
MISSING = (
    ("QR camera watch (QrSeen)", "issue #7: station.qr + station.drivers.camera"),
    ("verifier (passive authentication against the trust store)", "issue #6"),
    ("chip/active authentication in the read (station.nfc.ca / station.nfc.aa)", "issue #6"),
    ("record store wiring (minimise → seal → sign → outbox; station.pipeline.store)",
     "issue #9, needs the verifier's result"),
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
    print(f"station run: profile {profile.name!r} ({len(profile.fields)} fields, requires "
          f"{profile.require.name.lower()}) is valid, but the service cannot start: these "
          "stages have no production adapter on this build yet:")
    for what, where in MISSING:
        print(f"  - {what} — {where}")
    print("Wired on this build:")
    for what in WIRED:
        print(f"  + {what}")
    print("Nothing was read or recorded. `station run --feedback-test` checks the LEDs, buzzer "
          "and display.")
    return 2


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
