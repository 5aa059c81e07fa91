"""The published contract: the AsyncAPI 3 document parses (with asyncapi3, an independent
AsyncAPI 3 object model), every example validates against its message's schema, and what the
station's own code sends validates too (records of each profile, opened fields, receipts,
status, health and command replies on a real Mosquitto)."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import warnings
from pathlib import Path
from typing import Any

import pytest

from station import keys
from station.config import ProfileSection
from station.ingest import Ingest
from station.ingest.outputs import CITIZEN_COLUMNS, FOREIGNER_COLUMNS
from station.mrz.parse import parse_mrz
from station.nfc.lds.chip import ChipData
from station.pipeline.mqtt import make_client
from station.pipeline.outbox import Outbox
from station.pipeline.publisher import Publisher
from station.pipeline.records import (
    RECORD_VERSION,
    Check,
    Reading,
    RecordSigner,
    b64url,
    open_sealed,
    parse_unverified,
    verify,
)
from station.pipeline.store import OutboxStore
from station.service import profiles
from station.service.chip import citizen_fields
from station.service.profiles import SPECS, Booking, EntryDetails, foreign_guest, minimise
from station.service.profiles import build as build_profile
from station.sim import issuer, lds, passport
from station.sim.chip import ChipOptions
from station.sim.citizens import generate
from station.testing.mosquitto import MosquittoBroker
from station.testing.wait import wait_until
from tests.contract.schemas import check, load, validator

DOC = load("asyncapi.json")


def _resolve(ref: str) -> Any:
    node: Any = DOC
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def test_asyncapi_document_parses_with_an_independent_model() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the model's own pydantic field-shadowing warnings
        from asyncapi3 import AsyncAPI3

        model = AsyncAPI3.model_validate(DOC)
    assert model.asyncapi == "3.0.0"
    assert set(DOC["channels"]) == {"records", "receipts", "status", "health", "commands",
                                    "commandReplies"}


def test_every_reference_and_address_parameter_resolves() -> None:
    refs = re.findall(r'"\$ref": "(#/[^"]+)"', json.dumps(DOC))
    assert refs
    for ref in refs:
        _resolve(ref)  # KeyError if dangling
    for name, ch in DOC["channels"].items():
        params = set(re.findall(r"\{(\w+)\}", ch["address"]))
        assert params == set(ch.get("parameters", {})), name
    for op in DOC["operations"].values():
        _resolve(op["channel"]["$ref"])


def test_every_example_validates_against_its_schema() -> None:
    n = 0
    for name, message in DOC["components"]["messages"].items():
        for example in message["examples"]:
            check(message["payload"]["$ref"], example["payload"])
            n += 1
        if name == "record":
            for example in message["examples"]:
                payload = json.loads(parse_unverified(example["payload"].encode())[1])
                check("schemas/record-v2.json", payload)
                assert payload["v"] == RECORD_VERSION
    assert n >= 7


def _wire(citizen: dict[str, Any]) -> dict[str, Any]:
    """The sealed plaintext's JSON form (bytes fields as ``{"b64": …}``)."""
    return {k: {"b64": b64url(v)} if isinstance(v, bytes) else v for k, v in citizen.items()}


def _record(profile: str, citizen: dict[str, Any], context: dict[str, Any]
            ) -> tuple[bytes, dict[str, Any]]:
    """What the station's own code makes of a reading: signed, sealed, then opened by the
    backend's code."""
    sk, bk = keys.generate_signing_key(), keys.generate_seal_key()
    signed = RecordSigner("desk-1", sk, bk.public_key()).build(Reading(
        profile, "PACE", "genuine", (Check("passive_authentication", True),), citizen,
        {"DG1": b"x", "DG13": b"y"}, context), 7)
    opened = open_sealed(verify(signed.token, sk.public_key()), bk)
    # The sealed plaintext as the backend decrypts it follows sealed-v2.json.
    check("schemas/sealed-v2.json", {"fields": _wire(opened.citizen),
                                     "dg_hashes": {"alg": "sha-256", **opened.dg_hashes}})
    return signed.token, opened.citizen


BOOKING = Booking("BK-1", "203", dt.date(2030, 1, 2), dt.date(2030, 1, 4))


@pytest.mark.parametrize("name", sorted(SPECS))
def test_records_the_station_builds_validate(name: str) -> None:
    person = generate(7)
    image = issuer.issue(person, ChipOptions())
    files = {n: image.app_files[f] for f, n in {0x0101: "DG1", 0x0102: "DG2",
                                                 0x010D: "DG13"}.items()}
    chip_fields = citizen_fields(ChipData.from_files("PACE", files))
    profile = build_profile(name, ProfileSection(establishment_id="LT-0001"
                                                 if name == "lodging" else ""))
    token, opened = _record(name, dict(minimise(profile, chip_fields)),
                            profiles.context(profile, BOOKING if name == "lodging" else None))
    check("schemas/record-jws.json", token.decode())
    payload = json.loads(parse_unverified(token)[1])
    check("schemas/record-v2.json", payload)
    assert payload["v"] == RECORD_VERSION and payload["profile"] == name
    assert opened and set(opened) <= set(profile.fields)
    check(f"schemas/opened-{name}.json", _wire(opened))


def test_a_foreign_guest_validates_as_lodging() -> None:
    t = passport.generate(31, state="FRA")
    chip = ChipData.from_files("BAC", {"DG1": lds.dg1(t.mrz()), "DG11": passport.dg11(t)})
    entry = EntryDetails(visa_number="V1234567", entry_date=dt.date(2025, 3, 1),
                         entry_port="SGN", purpose="tourism", stay_until=dt.date(2025, 3, 14))
    for guest in (foreign_guest(parse_mrz(t.mrz()), chip, entry),
                  foreign_guest(parse_mrz(t.mrz()), None, EntryDetails(),
                                chip_failure="AuthFailed")):
        _, opened = _record("lodging", guest, {"profile": "lodging"})
        check("schemas/opened-lodging.json", _wire(opened))


def test_the_schema_catches_a_citizen_field_in_clear() -> None:
    token, _ = _record("hospital", {"id_number": "001099012345"}, {"profile": "hospital"})
    payload = json.loads(parse_unverified(token)[1])
    assert validator("schemas/record-v2.json").is_valid(payload)
    leaked = {**payload, "id_number": "001099012345"}  # a leak into the clear part
    assert not validator("schemas/record-v2.json").is_valid(leaked)
    # Issue 16: a per-card value in clear (version 1's data-group hashes) fails too.
    hashed = {**payload, "dg_hashes": {"alg": "sha-256", "DG1": "0" * 64}}
    assert not validator("schemas/record-v2.json").is_valid(hashed)
    unversioned = {k: v for k, v in payload.items() if k != "v"}
    assert not validator("schemas/record-v2.json").is_valid(unversioned)
    assert not validator("schemas/opened-hospital.json").is_valid({"full_name": "x"})
    assert not validator("schemas/opened-hospital.json").is_valid({"id_number": "12345"})


class Listener:
    def __init__(self, broker: MosquittoBroker, *topics: str) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.client: Any = make_client("contract-listener", broker.settings())
        subscribed = threading.Event()
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic,
                                                                       bytes(m.payload)))
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        for t in topics:
            subscribed.clear()
            self.client.subscribe(t, qos=1)
            assert subscribed.wait(5)

    def of(self, leaf: str) -> list[Any]:
        return [json.loads(p) for t, p in self.messages if t.endswith("/" + leaf)]

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.mark.mqtt
def test_what_publisher_and_ingest_send_on_mosquitto_validates(
        tmp_path: Path, own_broker: MosquittoBroker) -> None:
    sk, bk = keys.generate_signing_key(), keys.generate_seal_key()
    seen = Listener(own_broker, "stations/+/status", "stations/+/health",
                    "stations/+/receipts", "stations/+/events/command", "stations/+/records")
    ingest = Ingest(tmp_path / "ingest.sqlite3", own_broker.settings(),
                    stations={"desk-c": sk.public_key()}, backend_key=bk)
    ingest.start()
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    publisher = Publisher(outbox, "desk-c", own_broker.settings(), health_interval_s=0.2)
    store = OutboxStore(outbox, RecordSigner("desk-c", sk, bk.public_key()), publisher)
    try:
        publisher.start()
        store.store(Reading("reception", "PACE", "authentic",
                                    (Check("passive_authentication", True),),
                                    {"id_number": "001099012345"}))
        assert wait_until(lambda: seen.of("receipts") and seen.of("health"), 10)
        seen.client.publish("stations/desk-c/commands",
                            json.dumps({"cmd": "ping", "id": "c-1"}).encode(), qos=1)
        assert wait_until(lambda: bool(seen.of("command")), 10)
    finally:
        store.close()
        ingest.stop()
        seen.stop()
    assert wait_until(lambda: any(s["state"] == "offline" for s in seen.of("status")), 5)
    for leaf, ref in (("status", "status"), ("health", "health"), ("receipts", "receipt"),
                      ("command", "command-reply")):
        got = seen.of(leaf)
        assert got, leaf
        for doc in got:
            check(f"schemas/{ref}.json", doc)
    records = [p for t, p in seen.messages if t.endswith("/records")]
    assert records
    for token in records:
        check("schemas/record-jws.json", token.decode())
        check("schemas/record-v2.json", json.loads(parse_unverified(token)[1]))


def test_the_output_schemas_examples_validate() -> None:
    """The JSON outputs of the one-stop desk and the bank (station.ingest.outputs): each
    schema's examples validate, and the version is in the document. What ingest produces from
    real records is validated in tests/ingest/test_outputs.py."""
    names = sorted(p.name for p in (Path(__file__).resolve().parents[2] / "contract" /
                                    "schemas").glob("output-*.json"))
    assert names == ["output-bank-v1.json", "output-one-stop-v1.json"]
    for name in names:
        schema = load(f"schemas/{name}")
        assert schema["examples"]
        for example in schema["examples"]:
            check(f"schemas/{name}", example)
            assert example["schema"] == schema["properties"]["schema"]["const"]
            assert example["schema"].endswith("/v1")


def test_contract_readme_lists_the_columns_the_code_writes() -> None:
    text = (Path(__file__).resolve().parents[2] / "contract" / "README.md").read_text("utf-8")
    for columns in (CITIZEN_COLUMNS, FOREIGNER_COLUMNS):
        rows = [f"| {n} | {c.header} |" for n, c in enumerate(columns, 1)]
        positions = [text.find(r) for r in rows]
        assert -1 not in positions and positions == sorted(positions)
