"""Ingest's checks, message by message (no broker needed for the decisions themselves; the
broker tests are in tests/reliability)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

from station import keys
from station.ingest import Ingest
from station.pipeline.mqtt import BrokerSettings
from station.pipeline.records import Check, Reading, RecordSigner, b64url, b64url_decode

TOPIC = "stations/desk-1/records"


@pytest.fixture(params=["sqlite", "postgres"])
def parts(tmp_path: Path, request: pytest.FixtureRequest
          ) -> Iterator[tuple[Ingest, RecordSigner, ed25519.Ed25519PrivateKey,
                              x25519.X25519PrivateKey]]:
    """The same decisions on both stores: the embedded SQLite file and a real PostgreSQL."""
    sk, bk = keys.generate_signing_key(), keys.generate_seal_key()
    other = keys.generate_signing_key()
    db = (tmp_path / "ingest.sqlite3" if request.param == "sqlite"
          else request.getfixturevalue("pg_dsn"))
    ingest = Ingest(db, BrokerSettings(),
                    stations={"desk-1": sk.public_key(), "desk-2": other.public_key()},
                    backend_key=bk)
    yield ingest, RecordSigner("desk-1", sk, bk.public_key()), other, bk
    ingest.store.close()


def reading(n: int = 0) -> Reading:
    return Reading("hospital", "BAC", "authentic", (Check("passive_authentication", True),),
                   {"id_number": f"0010990{n:05d}", "full_name": "Trần Thị Bình"},
                   {"DG1": b"d"})


def test_accepts_and_opens(parts: tuple[Ingest, RecordSigner, object, object]) -> None:
    ingest, signer, _, _ = parts
    signed = signer.build(reading(1), 1)
    got = ingest.accept(TOPIC, signed.token)
    assert got is not None and not got.duplicate
    assert got.citizen == {"id_number": "001099000001", "full_name": "Trần Thị Bình"}
    assert ingest.count() == 1
    assert ingest.opened(signed.record.record_id) == got.citizen  # again, from the sealed form


def test_retention(parts: tuple[Ingest, RecordSigner, object, object]) -> None:
    ingest, signer, _, _ = parts
    ingest.retention_s = 3600.0
    rid = signer.build(reading(1), 1)
    ingest.accept(TOPIC, rid.token)
    assert ingest.purge() == 0  # younger than the retention period
    assert ingest.purge(now=time.time() + 3601) == 1
    assert ingest.opened(rid.record.record_id) is None and ingest.count() == 1


def test_duplicate_is_stored_once(parts: tuple[Ingest, RecordSigner, object, object]) -> None:
    ingest, signer, _, _ = parts
    token = signer.build(reading(), 1).token
    ingest.accept(TOPIC, token)
    again = ingest.accept(TOPIC, token)
    assert again is not None and again.duplicate
    assert ingest.count() == 1 and ingest.duplicates == 1


def test_replayed_sequence_is_rejected(parts: tuple[Ingest, RecordSigner, object, object]) -> None:
    ingest, signer, _, _ = parts
    ingest.accept(TOPIC, signer.build(reading(), 5).token)
    # A different, validly signed record claiming an already-used sequence number.
    assert ingest.accept(TOPIC, signer.build(reading(), 5).token) is None
    assert ingest.rejections == {"replay": 1}
    assert ingest.count() == 1


def test_unknown_station(parts: tuple[Ingest, RecordSigner, object, object]) -> None:
    ingest, signer, _, _ = parts
    token = signer.build(reading(), 1).token
    assert ingest.accept("stations/desk-9/records", token) is None
    assert ingest.rejections == {"unknown_station": 1}


def test_forged_and_altered(parts: tuple[Ingest, RecordSigner, ed25519.Ed25519PrivateKey,
                                         x25519.X25519PrivateKey]) -> None:
    ingest, signer, _other, bk = parts
    forger = RecordSigner("desk-1", keys.generate_signing_key(), bk.public_key())
    assert ingest.accept(TOPIC, forger.build(reading(), 1).token) is None
    h, p, s = signer.build(reading(), 2).token.split(b".")
    body = json.loads(b64url_decode(p))
    body["verification"]["outcome"] = "genuine"
    altered = h + b"." + b64url(json.dumps(body).encode()).encode() + b"." + s
    assert ingest.accept(TOPIC, altered) is None
    assert ingest.rejections == {"bad_signature": 2}
    assert ingest.count() == 0


def test_record_under_another_stations_topic(
        parts: tuple[Ingest, RecordSigner, ed25519.Ed25519PrivateKey, object]) -> None:
    ingest, _, other, _bk = parts
    # desk-2 signs a record claiming to be desk-1's and publishes it under its own topic.
    liar = RecordSigner("desk-1", other, keys.generate_seal_key().public_key())
    assert ingest.accept("stations/desk-2/records", liar.build(reading(), 1).token) is None
    assert ingest.rejections == {"station_mismatch": 1}


def test_junk(parts: tuple[Ingest, RecordSigner, object, object]) -> None:
    ingest, _, _, _ = parts
    assert ingest.accept(TOPIC, b"not a jws") is None
    assert ingest.accept("other/topic", b"x") is None
    assert ingest.rejections == {"malformed": 1, "topic": 1}
    # kept for the operator, without payloads
    assert ingest.store.rejections() == [(TOPIC, "malformed"), ("other/topic", "topic")]


def test_on_batch_once_per_committed_batch_after_its_records(
        parts: tuple[Ingest, RecordSigner, object, object]) -> None:
    ingest, signer, _, _ = parts
    calls: list[str] = []
    ingest.on_record = lambda r: calls.append(f"record {r.record.seq}")
    ingest.on_batch = lambda: calls.append("batch")
    ingest.flush()  # nothing committed: no call
    assert calls == []
    for n in (1, 2, 3):
        ingest.accept(TOPIC, signer.build(reading(n), n).token)
    ingest.flush()
    assert calls == ["record 1", "record 2", "record 3", "batch"]


@pytest.mark.parametrize("poison", ["nul-profile", "nul-outcome", "seq-overflow", "long-id"])
def test_a_signed_record_the_database_cannot_hold_is_refused_alone(
        parts: tuple[Ingest, RecordSigner, object, object], poison: str) -> None:
    """A station's own key signs a record PostgreSQL cannot store (text with NUL, a sequence
    beyond bigint). Stored as it came, it failed the whole batch it was in — every other
    station's records in it rolled back and re-sent into the same fate while the hostile
    station re-sent its own (an id of 3 000 characters: beyond the size of a B-tree index entry
    in PostgreSQL). Refused alone as malformed instead; the batch commits."""
    ingest, signer, _, _ = parts
    good = signer.build(reading(1), 1)
    assert ingest.accept(TOPIC, good.token) is not None  # in the open batch
    if poison == "seq-overflow":
        bad = signer.build(reading(2), 2 ** 63).token
    elif poison == "long-id":
        bad = _resigned(signer.build(reading(2), 2).token, signer, {"id": "7" * 3000})
    else:
        r = reading(2)
        bad = signer.build(Reading(r.profile + "\x00" if poison == "nul-profile" else r.profile,
                                   r.protocol,
                                   r.outcome + "\x00" if poison == "nul-outcome" else r.outcome,
                                   r.checks, r.citizen, r.files), 2).token
    assert ingest.accept(TOPIC, bad) is None
    ingest.flush()
    assert ingest.rejections == {"malformed": 1}
    assert ingest.batches_lost == 0
    assert ingest.count() == 1 and ingest.opened(good.record.record_id) is not None


def _resigned(token: bytes, signer: RecordSigner, changes: dict[str, object]) -> bytes:
    """The record of ``token`` with ``changes`` in its clear payload, signed again with the
    station's own key (what a station whose key was stolen can send)."""
    h, p, _ = token.split(b".")
    body = json.loads(b64url_decode(p.decode()))
    body.update(changes)
    signing_input = h + b"." + b64url(json.dumps(body).encode()).encode()
    signature = signer._signing_key.sign(signing_input)  # the station's own key
    return signing_input + b"." + b64url(signature).encode()
