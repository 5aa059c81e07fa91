"""Hospital output: the FHIR Patient of an opened hospital record, validated with
fhir.resources (its R4B models: Patient is the same resource in R4 and R4B)."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from station import keys
from station.ingest.fhir import PERSONAL_ID_SYSTEM, birth_date, patient
from station.pipeline.records import Check, Reading, RecordSigner, open_sealed, verify
from station.sim.citizens import generate

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fhir.resources.R4B.patient import Patient


def _opened(fields: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    sk, bk = keys.generate_signing_key(), keys.generate_seal_key()
    token = RecordSigner("desk-h", sk, bk.public_key()).build(Reading(
        "hospital", "PACE", "genuine", (Check("passive_authentication", True),), fields), 1
    ).token
    record = verify(token, sk.public_key())
    return record, open_sealed(record, bk).citizen


def test_hospital_record_as_a_valid_r4_patient() -> None:
    person = generate(11)
    record, opened = _opened({"id_number": person.id_number, "full_name": "Phạm  Văn Phúc",
                              "date_of_birth": "06/06/1994", "sex": "Nam",
                              "place_of_residence": "Thôn 4, Xã Bình Thuận",
                              "face": b"\xff\xd8\xff\xe0synthetic"})
    doc = patient(record, opened)
    model = Patient.model_validate(doc)
    assert model.identifier is not None
    ident = model.identifier[0]
    assert (ident.system, ident.value) == (PERSONAL_ID_SYSTEM, person.id_number)
    assert len(ident.value) == 12 and ident.value.isdigit()
    assert model.name is not None
    assert (model.name[0].family, model.name[0].given) == ("Phạm", ["Văn", "Phúc"])
    assert model.gender == "male" and str(model.birthDate) == "1994-06-06"
    assert model.photo is not None and model.photo[0].contentType == "image/jpeg"
    assert doc["meta"]["tag"][0]["code"] == "genuine"


@pytest.mark.parametrize(("sex", "gender"), [("Nữ", "female"), ("Nam", "male"),
                                             ("Khác", "unknown")])
def test_gender_codes(sex: str, gender: str) -> None:
    record, opened = _opened({"id_number": "001099012345", "sex": sex})
    assert Patient.model_validate(patient(record, opened)).gender == gender


def test_a_partial_date_is_left_out_not_guessed() -> None:
    assert birth_date("00/00/1994") is None and birth_date("1994") is None
    record, opened = _opened({"id_number": "001099012345", "date_of_birth": "00/00/1994"})
    doc = patient(record, opened)
    assert "birthDate" not in doc
    Patient.model_validate(doc)


def test_the_validator_refuses_what_fhir_does_not_allow() -> None:
    # The check can fail: DG13's own date form is not a FHIR date.
    record, opened = _opened({"id_number": "001099012345"})
    doc = {**patient(record, opened), "birthDate": "06/06/1994"}
    with pytest.raises(ValueError):
        Patient.model_validate(doc)
