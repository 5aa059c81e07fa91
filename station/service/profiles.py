"""Desk profiles: what a station reads, keeps and sends for one person.

A profile is data: a list of citizen fields (from the chip's DG13, DG2 and the verification) and
the verification outcome it requires. The configuration selects one (``station.profile``) and may
adjust its field list (``[profile] fields``) within what the profile allows. Everything leaves
the station through :func:`minimise`: a field that is not in the profile's list is never stored
or sent, whatever the chip gave.

- ``reception`` — one-stop (một cửa) desk check-in.
- ``hospital`` — check-in with the CCCD in place of the BHYT card; the backend looks the
  insurance up by ID number. No face unless configured.
- ``lodging`` — guest registration for the lodging notification (thông báo lưu trú): per guest
  the fields the notification needs; several guests per booking (:class:`Booking`).
- ``bank`` — eKYC at a bank counter: requires ``genuine`` (passive plus chip/active
  authentication), the face (DG2, sealed for the backend) and the full DG13.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from station.config import Config, ProfileSection
from station.errors import ConfigError
from station.service.machine import Outcome, Rules

# Citizen fields a reading can yield, in record order. DG13 is the CCCD's own data group
# (Vietnamese text with diacritics); "face" is the DG2 image.
DG13_FIELDS: tuple[str, ...] = (
    "id_number", "full_name", "date_of_birth", "sex", "nationality", "ethnicity", "religion",
    "place_of_origin", "place_of_residence", "personal_identification", "date_of_issue",
    "date_of_expiry", "father_name", "mother_name", "spouse_name", "old_id_number",
)
FIELDS: tuple[str, ...] = (*DG13_FIELDS, "face")


@dataclass(frozen=True)
class ProfileSpec:
    """A built-in profile: its default fields, the ones that cannot be removed, its minimum."""

    name: str
    default_fields: tuple[str, ...]
    mandatory: frozenset[str]
    require: Outcome
    floor: Outcome
    """The lowest ``require`` the configuration may set (bank: genuine, by directive)."""


SPECS: Mapping[str, ProfileSpec] = MappingProxyType({
    "reception": ProfileSpec(
        "reception",
        ("id_number", "full_name", "date_of_birth", "sex", "place_of_residence"),
        frozenset({"id_number"}), Outcome.AUTHENTIC, Outcome.UNVERIFIED),
    "hospital": ProfileSpec(
        "hospital",
        ("id_number", "full_name", "date_of_birth", "sex"),
        # The insurance record is looked up by ID number: without it the check-in is useless.
        frozenset({"id_number"}), Outcome.AUTHENTIC, Outcome.UNVERIFIED),
    "lodging": ProfileSpec(
        "lodging",
        ("id_number", "full_name", "date_of_birth", "sex", "nationality", "place_of_residence"),
        # What the lodging notification requires per guest.
        frozenset({"id_number", "full_name", "date_of_birth", "sex", "nationality",
                   "place_of_residence"}), Outcome.AUTHENTIC, Outcome.UNVERIFIED),
    "bank": ProfileSpec(
        "bank", FIELDS, frozenset(FIELDS), Outcome.GENUINE, Outcome.GENUINE),
})


@dataclass(frozen=True)
class Profile:
    """The profile in force: resolved from the configuration once, at start."""

    name: str
    fields: tuple[str, ...]
    require: Outcome
    key_cache_s: float
    keypad: bool
    service_code: str
    establishment_id: str

    @property
    def files(self) -> tuple[str, ...]:
        """LDS files to read: always what verification needs (SOD; DG14/DG15 for chip/active
        authentication when present; DG1 for the MRZ) plus DG13/DG2 only if a field needs it."""
        files = ["COM", "SOD", "DG1", "DG14", "DG15"]
        if any(f in DG13_FIELDS for f in self.fields):
            files.append("DG13")
        if "face" in self.fields:
            files.append("DG2")
        return tuple(files)

    @property
    def sealed(self) -> tuple[str, ...]:
        """Every citizen field is sealed to the backend's key; none travels in clear."""
        return self.fields

    def rules(self, base: Rules) -> Rules:
        return replace(base, require=self.require, key_cache_s=self.key_cache_s,
                       keypad=self.keypad)


def resolve(cfg: Config) -> Profile:
    """The profile selected by ``station.profile`` with the ``[profile]`` adjustments."""
    return build(cfg.station.profile, cfg.profile)


def build(name: str, section: ProfileSection) -> Profile:
    spec = SPECS.get(name)
    if spec is None:
        raise ConfigError("station.profile", f"unknown profile {name!r}")
    if section.fields:
        unknown = [f for f in section.fields if f not in FIELDS]
        if unknown:
            raise ConfigError("profile.fields", f"unknown field {unknown[0]!r} (known: "
                              + ", ".join(FIELDS) + ")")
        if len(set(section.fields)) != len(section.fields):
            raise ConfigError("profile.fields", "lists a field twice")
        missing = sorted(spec.mandatory - set(section.fields))
        if missing:
            raise ConfigError("profile.fields",
                              f"the {name} profile cannot leave out {', '.join(missing)}")
        fields = tuple(f for f in FIELDS if f in section.fields)
    else:
        fields = spec.default_fields
    require = spec.require if not section.require else Outcome[section.require.upper()]
    if require < spec.floor:
        raise ConfigError("profile.require",
                          f"the {name} profile requires at least {spec.floor.name.lower()}")
    if name == "lodging" and not section.establishment_id:
        raise ConfigError("profile.establishment_id", "required by the lodging profile")
    return Profile(name, fields, require, section.key_cache_s, section.keypad,
                   section.service_code, section.establishment_id)


def minimise(profile: Profile, data: Mapping[str, Any]) -> dict[str, Any]:
    """Only the profile's fields of ``data`` (a reading's citizen fields), in record order.

    A field the chip did not have is simply absent; a key in ``data`` that is not a known field
    at all is a programming error (it would otherwise slip past every profile).
    """
    strange = [k for k in data if k not in FIELDS]
    if strange:
        raise ValueError(f"not a citizen field: {strange[0]!r}")
    return {f: data[f] for f in profile.fields if f in data}


# --- lodging: several guests per booking ------------------------------------------------------


@dataclass(frozen=True)
class Booking:
    """A room booking at a lodging desk; each guest read while it is open joins it."""

    booking_id: str
    room: str
    arrival: dt.date
    departure: dt.date

    def __post_init__(self) -> None:
        if not self.booking_id or not self.room:
            raise ValueError("a booking needs an id and a room")
        if self.departure < self.arrival:
            raise ValueError("departure is before arrival")

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Booking:
        """From a commands-topic message: ``{"booking_id", "room", "arrival", "departure"}``
        with ISO dates."""
        try:
            return cls(str(data["booking_id"]), str(data["room"]),
                       dt.date.fromisoformat(str(data["arrival"])),
                       dt.date.fromisoformat(str(data["departure"])))
        except KeyError as exc:
            raise ValueError(f"booking lacks {exc.args[0]!r}") from None


def context(profile: Profile, booking: Booking | None = None, guest: int = 0) -> dict[str, Any]:
    """The non-citizen context a record of this profile carries (desk codes, the booking)."""
    ctx: dict[str, Any] = {"profile": profile.name}
    if profile.name == "reception" and profile.service_code:
        ctx["service_code"] = profile.service_code
    if profile.name == "lodging":
        if booking is None:
            raise ValueError("the lodging profile records guests against an open booking")
        ctx.update(establishment_id=profile.establishment_id, booking_id=booking.booking_id,
                   room=booking.room, arrival=booking.arrival.isoformat(),
                   departure=booking.departure.isoformat(), guest=guest)
    return ctx


# --- lodging: foreign guests (passport or foreign ID, MRZ → chip, or MRZ only) ----------------


@dataclass(frozen=True)
class EntryDetails:
    """What the desk enters for a foreign guest's temporary residence declaration (not on the
    chip): visa or exemption, date and port of entry, purpose, intended stay."""

    visa_number: str = ""
    entry_date: dt.date | None = None
    entry_port: str = ""
    purpose: str = ""
    stay_until: dt.date | None = None


def foreign_guest(mrz: Any, chip: Any | None, entry: EntryDetails,
                  chip_failure: str = "") -> dict[str, Any]:
    """The fields of a foreign guest's record. ``mrz`` is the :class:`station.mrz.parse.Mrz`
    read from the document's MRZ (camera or keyed in); ``chip`` the
    :class:`station.nfc.lds.chip.ChipData` when the chip could be read with that MRZ key, else
    None with ``chip_failure`` naming the error class. The record says which source it rests
    on (``source``: "chip" or "mrz"); a chip whose DG1 is another document is refused."""
    source_mrz = mrz
    out: dict[str, Any] = {"source": "mrz"}
    if chip is not None:
        if chip.mrz is None:
            raise ValueError("the chip read has no DG1")
        if chip.mrz.key_information() != mrz.key_information():
            raise ValueError("the chip belongs to another document than the MRZ read")
        source_mrz, out["source"] = chip.mrz, "chip"
    elif chip_failure:
        out["chip_failure"] = chip_failure
    name = " ".join(p for p in (source_mrz.primary_identifier,
                                source_mrz.secondary_identifier) if p)
    birth = source_mrz.birth_date()
    expiry = source_mrz.expiry_date()
    out.update(
        document_kind=source_mrz.format, issuing_state=source_mrz.issuer.strip("<"),
        nationality=source_mrz.nationality.strip("<"),
        passport_number=source_mrz.document_number.strip("<"),
        full_name=name, date_of_birth=birth.isoformat() if birth else source_mrz.birth,
        sex=source_mrz.sex, document_expiry=expiry.isoformat() if expiry else "",
    )
    dg11 = getattr(chip, "dg11", None)
    if dg11 is not None:
        # DG11 carries the name in full (accents, no MRZ truncation) and the 4-digit year.
        if dg11.full_name:
            out["full_name"] = " ".join(dg11.parts(dg11.full_name))
        dob = dg11.full_date_of_birth
        if dob and not dob.endswith("0000"):
            out["date_of_birth"] = f"{dob[:4]}-{dob[4:6]}-{dob[6:]}"
    out.update(visa_number=entry.visa_number,
               entry_date=entry.entry_date.isoformat() if entry.entry_date else "",
               entry_port=entry.entry_port, purpose=entry.purpose,
               stay_until=entry.stay_until.isoformat() if entry.stay_until else "")
    return out
