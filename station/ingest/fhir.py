"""Hospital check-in output: an opened record as an HL7 FHIR R4 ``Patient`` resource (JSON).

The hospital looks the patient's health-insurance (BHYT) record up by the 12-digit personal
identification number, so that is the resource's official identifier (v2-0203 type ``NI``,
national unique individual identifier). :data:`PERSONAL_ID_SYSTEM` is this project's URI for
that number: Vietnam publishes no FHIR naming system for it yet, so a hospital whose system
uses another URI maps it. DG13 has the name in Vietnamese order (family name first), the sex as
``Nam``/``Nữ`` and dates as dd/mm/yyyy; FHIR wants ``family``/``given``, the administrative
gender code and ISO dates.

Plain dicts, no FHIR library at run time; the tests validate the output with ``fhir.resources``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any

from station.pipeline.records import Record

PERSONAL_ID_SYSTEM = "urn:station:vn:personal-id"
_ID_TYPE = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                        "code": "NI", "display": "National unique individual identifier"}]}
_GENDER = {"nam": "male", "nữ": "female", "nu": "female", "m": "male", "f": "female"}
_DMY = re.compile(r"^(\d{2})/(\d{2})/(\d{4})$")


def birth_date(text: str) -> str | None:
    """DG13's dd/mm/yyyy as an ISO date; None when it is not a full date (FHIR then leaves
    ``birthDate`` out rather than guess)."""
    m = _DMY.match(text.strip())
    if m is None:
        return None
    day, month, year = m.groups()
    if not (1 <= int(month) <= 12 and 1 <= int(day) <= 31):
        return None
    return f"{year}-{month}-{day}"


def _photo(face: bytes) -> dict[str, str]:
    kind = "image/jp2" if face[4:8] == b"jP  " or face[:4] == b"\xff\x4f\xff\x51" \
        else "image/jpeg"
    return {"contentType": kind, "data": base64.b64encode(face).decode("ascii")}


def patient(record: Record, citizen: Mapping[str, Any]) -> dict[str, Any]:
    """The FHIR R4 Patient for one opened record (``citizen``: the opened fields)."""
    out: dict[str, Any] = {"resourceType": "Patient", "active": True}
    id_number = str(citizen.get("id_number", ""))
    if id_number:
        out["identifier"] = [{"use": "official", "type": _ID_TYPE,
                              "system": PERSONAL_ID_SYSTEM, "value": id_number}]
    name = " ".join(str(citizen.get("full_name", "")).split())
    if name:
        family, _, given = name.partition(" ")
        entry: dict[str, Any] = {"use": "official", "text": name, "family": family}
        if given:
            entry["given"] = given.split(" ")
        out["name"] = [entry]
    sex = str(citizen.get("sex", "")).strip().lower()
    if sex:
        out["gender"] = _GENDER.get(sex, "unknown")
    born = birth_date(str(citizen.get("date_of_birth", "")))
    if born is not None:
        out["birthDate"] = born
    residence = str(citizen.get("place_of_residence", "")).strip()
    if residence:
        out["address"] = [{"use": "home", "type": "physical", "text": residence,
                           "country": "VN"}]
    face = citizen.get("face")
    if isinstance(face, bytes) and face:
        out["photo"] = [_photo(face)]
    # Where the data came from and how far the chip was verified (genuine/authentic/…): the
    # hospital decides what an unverified check-in may do.
    out["meta"] = {"source": f"urn:station:record:{record.record_id}",
                   "tag": [{"system": "urn:station:verification", "code": record.outcome}]}
    return out
