"""From a verified reading to what the pipeline signs and stores: :func:`minimise` decides.

The service assembles the record's :class:`~station.pipeline.records.Reading` here
(:func:`assembler`, the runtime's :data:`~station.service.ports.Assemble`) and hands the
finished value to the store (:class:`station.pipeline.store.OutboxStore`). Citizen fields go
through :func:`station.service.profiles.minimise` and nowhere else, so a field the profile does
not list never reaches the record, the outbox or MQTT. The raw files
travel only as far as the record builder, which keeps their hashes.

A foreign guest (lodging: a document of another state opened with its MRZ, or recorded from the
MRZ alone) gets the foreign-guest fields (:func:`station.service.profiles.foreign_guest`) with
the entry details the desk entered for them, through the same :func:`minimise`.
"""

from __future__ import annotations

from collections.abc import Callable

from station.nfc.lds.chip import ChipData
from station.pipeline.records import Check, Reading
from station.reasons import REVOCATION_UNKNOWN
from station.service.chip import citizen_fields
from station.service.profiles import (
    Booking,
    EntryDetails,
    Profile,
    context,
    foreign_guest,
    minimise,
)
from station.service.readings import Checked, MrzOnlyReading, RefusedReading, is_foreign
from station.trust.verdict import Outcome, Verification


def reading_of(profile: Profile, verified: Checked, outcome: Outcome,
               booking: Booking | None = None, guest: int = 0,
               entry: EntryDetails | None = None) -> Reading:
    ctx = context(profile, booking, guest)
    if isinstance(verified, RefusedReading):
        # Refused as not genuine: the outcome and the checks that decided it, no citizen field
        # and no file (its data is not to be trusted, nor its hashes kept to link visits).
        checks = tuple(Check(c.name, c.ok, c.reason or "")
                       for c in verified.verification.checks if c.ok is not None)
        return Reading(profile.name, verified.reading.chip.protocol, outcome.value, checks,
                       {}, {}, ctx)
    if isinstance(verified, MrzOnlyReading):
        data = foreign_guest(verified.document, None, entry or EntryDetails(),
                             chip_failure=verified.chip_failure)
        return Reading(profile.name, "MRZ", outcome.value, (),
                       minimise(profile, data, foreign=True), {}, ctx)
    reading = verified.reading
    chip = _verified_part(reading.chip, verified.verification, outcome)
    # Every check made, and an unknown revocation status the profile tolerated ("prefer"):
    # neither a pass nor a failure (ok null), but what the outcome rests on.
    checks = tuple(Check(c.name, c.ok, c.reason or "")
                   for c in verified.verification.checks
                   if c.ok is not None or c.reason == REVOCATION_UNKNOWN)
    left_out = sorted(set(reading.chip.files) - set(chip.files))
    if left_out:
        # Said in the record too: the backend sees these files' hashes, not their fields.
        checks += (Check("dg-not-in-sod", False, ", ".join(left_out)),)
    if is_foreign(reading.document):
        assert reading.document is not None
        data = foreign_guest(reading.document, chip, entry or EntryDetails())
        if chip.face is not None:
            data["face"] = chip.face.data
        citizen = minimise(profile, data, foreign=True)
    else:
        citizen = minimise(profile, citizen_fields(chip))
    return Reading(profile.name, chip.protocol, outcome.value, checks, citizen,
                   dict(reading.chip.files), ctx)


def _verified_part(chip: ChipData, verification: Verification, outcome: Outcome) -> ChipData:
    """What a verified record may say: for a genuine or authentic reading, only the data groups
    passive authentication verified. A data group the chip holds but EF.SOD does not list is
    unverified (issue #18): its fields stay out of a record that calls the reading authentic
    (the raw files, hashed, still travel with it)."""
    if outcome not in (Outcome.GENUINE, Outcome.AUTHENTIC):
        return chip
    keep = {name: raw for name, raw in chip.files.items()
            if not (name.startswith("DG") and name[2:].isdigit())
            or int(name[2:]) in verification.verified_data_groups}
    if keep.keys() == chip.files.keys():
        return chip
    return ChipData.from_files(chip.protocol, keep, chip.skipped)


def assembler(profile: Profile, booking: Callable[[], Booking | None] = lambda: None,
              entry: Callable[[], EntryDetails | None] = lambda: None
              ) -> Callable[[Checked, Outcome], Reading]:
    """The desk's :data:`~station.service.ports.Assemble`: each verified reading as the
    profile records it, with the booking the desk holds.

    ``entry`` hands the entry details entered for the guest being recorded (it is asked only
    for a foreign guest's record, so details entered for them are not spent on someone else)."""

    def assemble(verified: Checked, outcome: Outcome) -> Reading:
        foreign = (isinstance(verified, MrzOnlyReading)
                   or is_foreign(verified.reading.document))
        return reading_of(profile, verified, outcome, booking(),
                          entry=entry() if foreign else None)

    return assemble
