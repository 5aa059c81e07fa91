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

from station.config import Config
from station.drivers.camera import Camera, open_camera
from station.errors import ConfigError
from station.service import machine as m
from station.service import profiles
from station.service.cards import CardWatch
from station.service.chip import PcscChipReader
from station.service.ports import Feedback, RecordStore, Watch
from station.service.profiles import Booking, Profile
from station.service.qrwatch import QrWatch
from station.service.records import to_reading
from station.service.runtime import Notifier, Service
from station.service.verify import TrustVerifier
from station.trust.store import TrustStoreRef


@dataclass
class Desk:
    service: Service
    profile: Profile
    store: RecordStore


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
    from station.pipeline import store as pipeline_store
    from station.service.feedback import DeskFeedback

    profile = profiles.resolve(cfg)
    watches: list[Watch] = [CardWatch(reader=cfg.reader.name)]
    if camera is not None:
        watches.append(QrWatch(camera))
    elif cfg.camera.source != "none":
        watches.append(QrWatch(lambda: open_camera(cfg.camera)))
    trust_dir = cfg.trust_dir()
    if trust_dir is None:
        raise ConfigError("trust.path", "is empty: a desk cannot verify cards without a store")
    verifier = TrustVerifier(TrustStoreRef(trust_dir))  # TrustError: no store, no desk
    if store is None:
        store = pipeline_store.from_config(cfg, to_reading(profile, booking or (lambda: None)))
    service = Service(
        rules(cfg, profile), watches=watches, chip=PcscChipReader(profile.files),
        verifier=verifier, store=store,
        feedback=feedback or DeskFeedback.from_config(cfg, keypad=profile.keypad),
        notifier=notifier, tick_s=tick_s)
    return Desk(service, profile, store)
