"""From a verified reading to what the pipeline signs and stores: :func:`minimise` decides.

The store (:class:`station.pipeline.store.OutboxStore`) takes a ``to_reading`` adapter; this is
it. Citizen fields go through :func:`station.service.profiles.minimise` and nowhere else, so a
field the profile does not list never reaches the record, the outbox or MQTT. The raw files
travel only as far as the record builder, which keeps their hashes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from station.pipeline.records import Check, Reading
from station.service.chip import citizen_fields
from station.service.machine import Outcome
from station.service.profiles import Booking, Profile, context, minimise
from station.service.verify import VerifiedReading

OUTCOME_NAMES = {Outcome.GENUINE: "genuine", Outcome.AUTHENTIC: "authentic",
                 Outcome.UNVERIFIED: "unverified", Outcome.INVALID: "invalid"}


def reading_of(profile: Profile, verified: object, outcome: Outcome,
               booking: Booking | None = None, guest: int = 0) -> Reading:
    if not isinstance(verified, VerifiedReading):
        raise TypeError("a record is built from a VerifiedReading")
    chip = verified.reading.chip
    checks = tuple(Check(c.name, bool(c.ok), c.reason or "")
                   for c in verified.verification.checks if c.ok is not None)
    return Reading(profile.name, chip.protocol, OUTCOME_NAMES[outcome], checks,
                   minimise(profile, citizen_fields(chip)), dict(chip.files),
                   context(profile, booking, guest))


def to_reading(profile: Profile, booking: Callable[[], Booking | None] = lambda: None
               ) -> Callable[[object, Any], Reading]:
    """The ``to_reading`` adapter of :class:`~station.pipeline.store.OutboxStore`."""
    return lambda verified, outcome: reading_of(profile, verified, outcome, booking())
