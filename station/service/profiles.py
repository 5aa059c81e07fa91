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
from typing import Any, Literal

from station.config import Config, ProfileSection
from station.errors import ConfigError
from station.service.machine import Rules
from station.trust.verdict import Outcome

# Citizen fields a reading can yield, in record order. DG13 is the CCCD's own data group
# (Vietnamese text with diacritics); "face" is the DG2 image.
DG13_FIELDS: tuple[str, ...] = (
    "id_number", "full_name", "date_of_birth", "sex", "nationality", "ethnicity", "religion",
    "place_of_origin", "place_of_residence", "personal_identification", "date_of_issue",
    "date_of_expiry", "father_name", "mother_name", "spouse_name", "old_id_number",
)
FIELDS: tuple[str, ...] = (*DG13_FIELDS, "face")
# A foreign guest's fields (lodging; :func:`foreign_guest`): what the temporary residence
# declaration needs, from the passport/ID chip (DG1, DG11) or its MRZ, plus what the desk
# enters (:class:`EntryDetails`). ``source`` says what the record rests on ("chip" or "mrz").
FOREIGN_FIELDS: tuple[str, ...] = (
    "source", "chip_failure", "document_kind", "issuing_state", "nationality",
    "passport_number", "full_name", "date_of_birth", "sex", "document_expiry", "visa_number",
    "entry_date", "entry_port", "purpose", "stay_until", "face",
)
FOREIGN_MANDATORY = frozenset({"source", "chip_failure", "nationality", "passport_number",
                               "full_name", "date_of_birth", "sex"})


@dataclass(frozen=True)
class ProfileSpec:
    """A built-in profile: its default fields, the ones that cannot be removed, its minimum."""

    name: str
    default_fields: tuple[str, ...]
    mandatory: frozenset[str]
    require: Outcome
    floor: Outcome
    """The lowest ``require`` the configuration may set (bank: genuine, by directive)."""
    revocation: Literal["require", "prefer"] = "prefer"
    """DSC revocation status: "require" (a current CRL; bank, not lowerable) or "prefer"."""


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
        "bank", FIELDS, frozenset(FIELDS), Outcome.GENUINE, Outcome.GENUINE, "require"),
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
    foreign_fields: tuple[str, ...] = ()
    """Foreign guests' fields (lodging only; empty: the desk takes no foreign documents)."""
    mrz_only: bool = False
    mrz_fallback: bool = True
    """The camera also reads a CCCD's MRZ when no QR is in view (``[profile] mrz_fallback``)."""
    revocation: Literal["require", "prefer"] = "prefer"
    """Whether an unknown DSC revocation status (no current CRL) is refused
    (``[profile] revocation``)."""
    record_refusals: bool = False
    """A card refused as not genuine is recorded without citizen data
    (``[profile] record_refusals``)."""

    @property
    def files(self) -> tuple[str, ...]:
        """LDS files to read: always what verification needs (SOD; DG14/DG15 for chip/active
        authentication when present; DG1 for the MRZ) plus DG13/DG2 only if a field needs it,
        and DG11/DG12 (a foreign document's additional details) where foreign guests are
        taken. A file the chip lacks is skipped."""
        files = ["COM", "SOD", "DG1", "DG14", "DG15"]
        if any(f in DG13_FIELDS for f in self.fields):
            files.append("DG13")
        if "face" in self.fields or "face" in self.foreign_fields:
            files.append("DG2")
        if self.foreign_fields:
            files += ["DG11", "DG12"]
        return tuple(files)

    @property
    def reads_mrz(self) -> bool:
        """Whether the camera also looks for a document's MRZ: a CCCD's when the QR is damaged
        or missing (``mrz_fallback``), and foreign guests' passports where they are taken."""
        return self.mrz_fallback or bool(self.foreign_fields)

    @property
    def mrz_foreign(self) -> bool:
        """Whether an MRZ that is not a CCCD's (TD1, issuer VNM) is taken (lodging only)."""
        return bool(self.foreign_fields)

    @property
    def sealed(self) -> tuple[str, ...]:
        """Every citizen field is sealed to the backend's key; none travels in clear."""
        return self.fields

    def rules(self, base: Rules) -> Rules:
        # A foreign document keyed by its MRZ may rest on an unanchored signer (unverified);
        # a document that failed a check (INVALID) is refused whatever the minimum.
        return replace(base, require=self.require, key_cache_s=self.key_cache_s,
                       keypad=self.keypad,
                       mrz_require=Outcome.UNVERIFIED if self.foreign_fields else self.require,
                       mrz_only=self.mrz_only and bool(self.foreign_fields),
                       record_refusals=self.record_refusals)


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
    revocation = section.revocation or spec.revocation
    if spec.revocation == "require" and revocation != "require":
        raise ConfigError("profile.revocation",
                          f"the {name} profile requires a current CRL (revocation = "
                          '"require")')
    if name == "lodging" and not section.establishment_id:
        raise ConfigError("profile.establishment_id", "required by the lodging profile")
    foreign: tuple[str, ...] = ()
    if name == "lodging":
        foreign = _foreign_fields(section.foreign_fields)
    elif section.foreign_fields:
        raise ConfigError("profile.foreign_fields", "only the lodging profile takes foreign "
                          "guests")
    return Profile(name, fields, require, section.key_cache_s, section.keypad,
                   section.service_code, section.establishment_id, foreign,
                   section.mrz_only and bool(foreign), section.mrz_fallback, revocation,
                   section.record_refusals)


def _foreign_fields(listed: tuple[str, ...]) -> tuple[str, ...]:
    if not listed:
        return tuple(f for f in FOREIGN_FIELDS if f != "face")
    unknown = [f for f in listed if f not in FOREIGN_FIELDS]
    if unknown:
        raise ConfigError("profile.foreign_fields", f"unknown field {unknown[0]!r} (known: "
                          + ", ".join(FOREIGN_FIELDS) + ")")
    if len(set(listed)) != len(listed):
        raise ConfigError("profile.foreign_fields", "lists a field twice")
    missing = sorted(FOREIGN_MANDATORY - set(listed))
    if missing:
        raise ConfigError("profile.foreign_fields",
                          f"the lodging profile cannot leave out {', '.join(missing)}")
    return tuple(f for f in FOREIGN_FIELDS if f in listed)


def minimise(profile: Profile, data: Mapping[str, Any], *, foreign: bool = False
             ) -> dict[str, Any]:
    """Only the profile's fields of ``data`` (a reading's citizen fields, or with ``foreign`` a
    foreign guest's, :func:`foreign_guest`), in record order.

    A field the chip did not have is simply absent; a key in ``data`` that is not a known field
    of its vocabulary is a programming error (it would otherwise slip past every profile). A
    profile that takes no foreign guests keeps nothing of one.
    """
    vocabulary, kept = (FOREIGN_FIELDS, profile.foreign_fields) if foreign else (
        FIELDS, profile.fields)
    strange = [k for k in data if k not in vocabulary]
    if strange:
        raise ValueError(f"not a {'foreign guest' if foreign else 'citizen'} field: "
                         f"{strange[0]!r}")
    if foreign and not kept:
        raise ValueError(f"the {profile.name} profile takes no foreign guests")
    return {f: data[f] for f in kept if f in data}


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


@dataclass(frozen=True, repr=False)
class EntryDetails:
    """What the desk enters for a foreign guest's temporary residence declaration (not on the
    chip): visa or exemption, date and port of entry, purpose, intended stay."""

    visa_number: str = ""
    entry_date: dt.date | None = None
    entry_port: str = ""
    purpose: str = ""
    stay_until: dt.date | None = None

    def __post_init__(self) -> None:
        # Messages name the field, never its value (it is the guest's data).
        if self.visa_number and not (len(self.visa_number) <= 20 and self.visa_number.isascii()
                                     and self.visa_number.replace("-", "").isalnum()):
            raise ValueError("visa_number must be up to 20 letters, digits or '-'")
        for name in ("entry_port", "purpose"):
            value = getattr(self, name)
            if len(value) > 64 or not value.isprintable():
                raise ValueError(f"{name} must be up to 64 printable characters")
        if self.entry_date and self.stay_until and self.stay_until < self.entry_date:
            raise ValueError("stay_until is before entry_date")

    def __repr__(self) -> str:
        return "EntryDetails(…)"

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> EntryDetails:
        """From a commands-topic message: ``{"visa_number", "entry_date", "entry_port",
        "purpose", "stay_until"}`` (ISO dates; each optional, nothing else allowed)."""
        known = {"visa_number", "entry_date", "entry_port", "purpose", "stay_until"}
        strange = sorted(set(data) - known)
        if strange:
            raise ValueError(f"unknown entry field {strange[0]!r}")
        dates: dict[str, dt.date | None] = {}
        for name in ("entry_date", "stay_until"):
            raw = data.get(name)
            try:
                dates[name] = dt.date.fromisoformat(str(raw)) if raw else None
            except ValueError:
                raise ValueError(f"{name} must be an ISO date (YYYY-MM-DD)") from None
        return cls(str(data.get("visa_number", "")).strip().upper(), dates["entry_date"],
                   str(data.get("entry_port", "")).strip(), str(data.get("purpose", "")).strip(),
                   dates["stay_until"])


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
