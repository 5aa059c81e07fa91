"""Assemble the desk: the real stages behind the runtime's ports, from the configuration.

:func:`build` is what ``station run`` and ``station demo`` start, and what the integration test
drives: the PC/SC card watch and chip reader, the QR watch on the configured camera, the trust
store verifier, the outbox store with its MQTT publisher, and the LEDs/display. Any piece may be
handed in instead (the demo gives its replay camera; tests their notify socket); nothing is
faked here — a stage that cannot start raises its typed error before the service runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from station.config import Config
from station.display.screens import initial_of
from station.errors import ConfigError
from station.pipeline import store as pipeline_store
from station.service import machine as m
from station.service import profiles
from station.service.cards import CardWatch
from station.service.chip import PcscChipReader
from station.service.commands import DeskCommands
from station.service.feedback import DeskFeedback
from station.service.ports import Feedback, RecordStore, Watch
from station.service.profiles import Booking, Profile
from station.service.readings import Checked, MrzOnlyReading
from station.service.records import assembler
from station.service.runtime import Notifier, Service
from station.service.verify import TrustVerifier
from station.trust.store import TrustStoreRef

if TYPE_CHECKING:
    from station.drivers.camera import Camera


@dataclass
class Desk:
    service: Service
    profile: Profile
    store: RecordStore
    commands: DeskCommands


def rules(cfg: Config, profile: Profile) -> m.Rules:
    s = cfg.session
    return profile.rules(m.Rules(card_wait_s=s.card_wait_s, read_timeout_s=s.read_timeout_s,
                                 verify_timeout_s=s.verify_timeout_s,
                                 store_timeout_s=s.store_timeout_s,
                                 result_hold_s=s.result_hold_s))


def build(cfg: Config, *, camera: Callable[[], Camera] | None = None,
          store: RecordStore | None = None, feedback: Feedback | None = None,
          notifier: Notifier | None = None, booking: Callable[[], Booking | None] | None = None,
          tick_s: float = 0.1) -> Desk:
    profile = profiles.resolve(cfg)
    watches: list[Watch] = [CardWatch(reader=cfg.reader.name)]
    if camera is not None or cfg.camera.source != "none":
        # Imported here: the camera and QR decoding bring numpy and zxing-cpp, which a desk
        # without a camera (CAN typed in) never needs in memory.
        from station.drivers.camera import open_camera
        from station.service.qrwatch import QrWatch

        opener = camera if camera is not None else (lambda: open_camera(cfg.camera))
        watches.append(QrWatch(opener, mrz=profile.reads_mrz,
                               mrz_foreign=profile.mrz_foreign))
    trust_dir = cfg.trust_dir()
    if trust_dir is None:
        raise ConfigError("trust.path", "is empty: a desk cannot verify cards without a store")
    # TrustError: no store, no desk.
    verifier = TrustVerifier(TrustStoreRef(trust_dir), revocation=profile.revocation)
    commands = DeskCommands(profile)
    if store is None:
        store = pipeline_store.from_config(cfg, on_command=commands)
    # Bookings come from the commands topic unless the caller hands its own source in.
    service = Service(
        rules(cfg, profile), watches=watches, chip=PcscChipReader(profile.files),
        verifier=verifier, store=store,
        assemble=assembler(profile, booking or commands.booking, commands.entry),
        feedback=feedback or DeskFeedback.from_config(cfg, keypad=profile.keypad),
        notifier=notifier, tick_s=tick_s,
        initial=initial_of_reading if cfg.display.show_initial else None)
    commands.bind(service.post)
    return Desk(service, profile, store, commands)


def initial_of_reading(verified: Checked) -> str | None:
    """The first-name initial of a verified CCCD reading (DG13's full name), else None."""
    if isinstance(verified, MrzOnlyReading) or verified.reading.chip.dg13 is None:
        return None
    return initial_of(verified.reading.chip.dg13.full_name or "")
