"""Signed records: a standard JWS (verified here by joserfc, not the library that signed) over
a payload whose citizen fields are HPKE-sealed (opened here by pyhpke, an independent RFC 9180
implementation)."""

from __future__ import annotations

import json
import warnings

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from hypothesis import given, settings
from hypothesis import strategies as st

from station import keys
from station.pipeline.records import (
    BadSignature,
    Check,
    Reading,
    RecordError,
    RecordSigner,
    b64url,
    b64url_decode,
    open_sealed,
    seal_info,
    uuid7,
    verify,
)

NAME = "Nguyễn Văn An"
ID_NUMBER = "001099012345"


@pytest.fixture(scope="module")
def station_key() -> ed25519.Ed25519PrivateKey:
    return keys.generate_signing_key()


@pytest.fixture(scope="module")
def backend_key() -> x25519.X25519PrivateKey:
    return keys.generate_seal_key()


def reading() -> Reading:
    return Reading("reception", "PACE", "authentic",
                   (Check("passive_authentication", True), Check("chip_authentication", True)),
                   {"id_number": ID_NUMBER, "full_name": NAME, "face": b"\xff\xd8jpeg"},
                   {"DG1": b"dg1 bytes", "SOD": b"sod bytes"}, {"service_code": "A1"})


def test_round_trip(station_key: ed25519.Ed25519PrivateKey,
                    backend_key: x25519.X25519PrivateKey) -> None:
    signer = RecordSigner("desk-1", station_key, backend_key.public_key())
    signed = signer.build(reading(), 7)
    rec = verify(signed.token, station_key.public_key())
    assert rec == signed.record
    assert (rec.station_id, rec.seq, rec.profile, rec.protocol, rec.outcome) == (
        "desk-1", 7, "reception", "PACE", "authentic")
    assert [c.name for c in rec.checks] == ["passive_authentication", "chip_authentication"]
    assert dict(rec.context) == {"service_code": "A1"}
    assert rec.record_id[14] == "7"  # UUIDv7
    opened = open_sealed(rec, backend_key)
    assert opened.citizen == {"id_number": ID_NUMBER, "full_name": NAME,
                              "face": b"\xff\xd8jpeg"}
    assert set(opened.dg_hashes) == {"DG1", "SOD"}


def test_dg_hash_is_sha256_of_the_raw_file(station_key: ed25519.Ed25519PrivateKey,
                                           backend_key: x25519.X25519PrivateKey) -> None:
    import hashlib

    signed = RecordSigner("desk-1", station_key, backend_key.public_key()).build(reading(), 1)
    digest = hashlib.sha256(b"sod bytes").hexdigest()
    assert open_sealed(signed.record, backend_key).dg_hashes["SOD"] == digest
    # Sealed, never in clear: a stable per-card value would link visits (issue 16).
    payload = b64url_decode(signed.token.split(b".")[1])
    assert digest.encode() not in payload and b"dg_hashes" not in payload


def test_no_citizen_data_in_clear(station_key: ed25519.Ed25519PrivateKey,
                                  backend_key: x25519.X25519PrivateKey) -> None:
    token = RecordSigner("desk-1", station_key, backend_key.public_key()).build(
        reading(), 1).token
    payload = b64url_decode(token.split(b".")[1])
    for secret in (ID_NUMBER.encode(), NAME.encode(), b"jpeg", b"Nguy"):
        assert secret not in token and secret not in payload


@pytest.mark.parametrize("alg", ["Ed25519", "EdDSA"])
def test_joserfc_verifies_the_jws(station_key: ed25519.Ed25519PrivateKey,
                                  backend_key: x25519.X25519PrivateKey, alg: str) -> None:
    from joserfc import jws
    from joserfc.errors import BadSignatureError
    from joserfc.jwk import OKPKey

    signer = RecordSigner("desk-1", station_key, backend_key.public_key(), alg=alg)
    signed = signer.build(reading(), 3)
    key = OKPKey.import_key(keys.public_pem(station_key.public_key()))
    with warnings.catch_warnings():
        # joserfc flags RFC 8037's "EdDSA" as deprecated by RFC 9864 (still emitted on request).
        warnings.simplefilter("ignore")
        obj = jws.deserialize_compact(signed.token, key, algorithms=[alg])
        assert obj.headers()["alg"] == alg
        assert json.loads(obj.payload)["seq"] == 3
        other = OKPKey.import_key(keys.public_pem(keys.generate_signing_key().public_key()))
        with pytest.raises(BadSignatureError):
            jws.deserialize_compact(signed.token, other, algorithms=[alg])
    # Our own verifier accepts both names for the same Ed25519 signature.
    assert verify(signed.token, station_key.public_key()).seq == 3


def test_signs_with_rfc9864_name_by_default(station_key: ed25519.Ed25519PrivateKey,
                                            backend_key: x25519.X25519PrivateKey) -> None:
    token = RecordSigner("desk-1", station_key, backend_key.public_key()).build(reading(), 1).token
    header = json.loads(b64url_decode(token.split(b".")[0]))
    assert header["alg"] == "Ed25519"
    with pytest.raises(ValueError):
        RecordSigner("desk-1", station_key, backend_key.public_key(), alg="ES256")


def test_other_algorithm_names_are_refused(station_key: ed25519.Ed25519PrivateKey,
                                           backend_key: x25519.X25519PrivateKey) -> None:
    token = RecordSigner("desk-1", station_key, backend_key.public_key()).build(reading(), 1).token
    _head, payload, sig = token.split(b".")
    for alg in ("Ed448", "none", "HS256", "ES256"):
        forged = b64url(json.dumps({"alg": alg}).encode()).encode()
        with pytest.raises(BadSignature):
            verify(forged + b"." + payload + b"." + sig, station_key.public_key())


def test_pyhpke_opens_the_sealed_fields(station_key: ed25519.Ed25519PrivateKey,
                                        backend_key: x25519.X25519PrivateKey) -> None:
    from pyhpke import AEADId, CipherSuite, KDFId, KEMId, KEMKey

    rec = RecordSigner("desk-1", station_key, backend_key.public_key()).build(
        reading(), 1).record
    suite = CipherSuite.new(KEMId.DHKEM_X25519_HKDF_SHA256, KDFId.HKDF_SHA256,
                            AEADId.AES256_GCM)
    skr = KEMKey.from_pem(keys.private_pem(backend_key))
    enc, ct = rec.sealed_ct[:32], rec.sealed_ct[32:]  # RFC 9180: Nenc = 32 for X25519
    ctx = suite.create_recipient_context(enc, skr, info=seal_info("desk-1", rec.record_id))
    assert json.loads(ctx.open(ct))["fields"]["full_name"] == NAME


def test_station_cannot_open_its_own_record(station_key: ed25519.Ed25519PrivateKey,
                                            backend_key: x25519.X25519PrivateKey) -> None:
    rec = RecordSigner("desk-1", station_key, backend_key.public_key()).build(
        reading(), 1).record
    with pytest.raises(RecordError):
        open_sealed(rec, keys.generate_seal_key())  # any key but the backend's


def _tamper(token: bytes, change: dict[str, object]) -> bytes:
    h, p, s = token.split(b".")
    body = json.loads(b64url_decode(p))
    body.update(change)
    return h + b"." + b64url(json.dumps(body).encode()).encode() + b"." + s


@pytest.mark.parametrize("change", [{"seq": 8}, {"station": "desk-2"},
                                    {"verification": {"outcome": "genuine", "checks": []}}])
def test_altered_record_is_refused(station_key: ed25519.Ed25519PrivateKey,
                                   backend_key: x25519.X25519PrivateKey,
                                   change: dict[str, object]) -> None:
    token = RecordSigner("desk-1", station_key, backend_key.public_key()).build(
        reading(), 7).token
    with pytest.raises(BadSignature):
        verify(_tamper(token, change), station_key.public_key())


def test_alg_none_and_wrong_key_are_refused(station_key: ed25519.Ed25519PrivateKey,
                                            backend_key: x25519.X25519PrivateKey) -> None:
    token = RecordSigner("desk-1", station_key, backend_key.public_key()).build(
        reading(), 7).token
    _, p, _ = token.split(b".")
    none = b64url(b'{"alg":"none"}').encode() + b"." + p + b"."
    with pytest.raises(BadSignature):
        verify(none, station_key.public_key())
    with pytest.raises(BadSignature):
        verify(token, keys.generate_signing_key().public_key())


@pytest.mark.parametrize("junk", [b"", b"a.b", b"!!!.???.***", b"e30.e30.e30"])
def test_junk_is_a_typed_error(station_key: ed25519.Ed25519PrivateKey, junk: bytes) -> None:
    with pytest.raises(RecordError):
        verify(junk, station_key.public_key())


def test_sealed_blob_cannot_move_to_another_record(
        station_key: ed25519.Ed25519PrivateKey, backend_key: x25519.X25519PrivateKey) -> None:
    signer = RecordSigner("desk-1", station_key, backend_key.public_key())
    a, b = signer.build(reading(), 1).record, signer.build(reading(), 2).record
    from dataclasses import replace

    with pytest.raises(RecordError):  # HPKE info binds the ciphertext to its record id
        open_sealed(replace(b, sealed_ct=a.sealed_ct), backend_key)


# --- the directly written payload is the generic encoding, byte for byte ------------------

_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


@settings(max_examples=40, deadline=None)
@given(profile=_text, protocol=_text, outcome=_text,
       checks=st.lists(st.tuples(_text, st.booleans(), _text), max_size=3),
       files=st.dictionaries(_text, st.binary(max_size=8), max_size=4),
       context=st.dictionaries(_text, st.one_of(_text, st.integers(), st.none()), max_size=3))
def test_payload_is_the_generic_json(station_key: ed25519.Ed25519PrivateKey,
                                     backend_key: x25519.X25519PrivateKey, profile: str,
                                     protocol: str, outcome: str,
                                     checks: list[tuple[str, bool, str]],
                                     files: dict[str, bytes], context: dict[str, object]) -> None:
    signer = RecordSigner('desk "1" é', station_key, backend_key.public_key())
    r = Reading(profile, protocol, outcome, tuple(Check(*c) for c in checks), {"n": "x"},
                files, context)
    signed = signer.build(r, 3)
    payload = b64url_decode(signed.token.split(b".")[1])
    expected = json.dumps(signed.record.to_json(), separators=(",", ":"), ensure_ascii=False)
    assert payload == expected.encode()
    assert verify(signed.token, station_key.public_key()) == signed.record


def test_uuid7_layout_and_order() -> None:
    import time
    import uuid

    ids = [uuid7() for _ in range(200)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        u = uuid.UUID(text)
        assert (u.version, u.variant) == (7, uuid.RFC_4122)
        assert str(u) == text
    now_ms = time.time_ns() // 1_000_000
    assert 0 <= now_ms - (uuid.UUID(ids[-1]).int >> 80) < 5_000
    assert uuid7(0x0123456789AB).startswith("01234567-89ab-7")
    # Time-ordered: a later millisecond sorts later, whatever the random bits.
    assert [int(u[:8] + u[9:13], 16) for u in sorted([uuid7(6), uuid7(4), uuid7(5)])] == [4, 5, 6]


def test_wall_time_is_utc_milliseconds(station_key: ed25519.Ed25519PrivateKey,
                                       backend_key: x25519.X25519PrivateKey) -> None:
    import datetime as dt

    signer = RecordSigner("desk-1", station_key, backend_key.public_key())
    before = dt.datetime.now(dt.UTC)
    rec = signer.build(reading(), 1).record
    after = dt.datetime.now(dt.UTC)
    wall = dt.datetime.strptime(rec.wall, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
    assert before - dt.timedelta(milliseconds=1) <= wall <= after
    assert rec.record_id[:13].replace("-", "") == format(
        int(wall.timestamp() * 1000 + 0.5), "012x")


@pytest.mark.parametrize("text", [b"QUJD=", b"QU JD", b"QU\nJD", b"QU+D", b"QU/D", b"Q", b"QU*D"])
def test_base64url_is_strict(text: bytes) -> None:
    """RFC 7515 §2: unpadded base64url, nothing else (a lenient decoder skipped whitespace and
    stray characters, so two different tokens could carry one payload)."""
    with pytest.raises(ValueError):
        b64url_decode(text)


def test_a_token_with_a_stray_character_is_not_a_jws(
        station_key: ed25519.Ed25519PrivateKey, backend_key: x25519.X25519PrivateKey) -> None:
    token = RecordSigner("desk-1", station_key, backend_key.public_key()).build(reading(), 1).token
    h, p, s = token.split(b".")
    assert verify(token, station_key.public_key()).seq == 1
    for bad in (h + b"." + p[:10] + b"\n" + p[10:] + b"." + s, h + b"." + p + b"." + s + b" "):
        with pytest.raises(RecordError):
            verify(bad, station_key.public_key())
