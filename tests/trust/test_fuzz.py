"""Hostile EF.SOD bytes never raise out of verify() and never come out genuine."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from station import reasons as E
from station.nfc import tlv
from station.nfc.proof import ChipProof
from station.sim import pki
from station.trust.store import TrustStore
from station.trust.verdict import NOT_GENUINE
from station.trust.verification import verify
from tests.trust.conftest import card_files


@pytest.fixture(scope="module")
def genuine(test_pki: pki.TestPki) -> dict[str, bytes]:
    return card_files(test_pki.dsc)


_SETTINGS = settings(max_examples=150, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])


@_SETTINGS
@given(data=st.data())
def test_mutated_sod(data: st.DataObject, genuine: dict[str, bytes], store: TrustStore) -> None:
    files = dict(genuine)
    sod = bytearray(files["SOD"])
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(sod) - 1))
        sod[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(sod)))
    files["SOD"] = bytes(sod[:cut])
    v = verify(files, store, chip_authentication=ChipProof("CA", True))
    if files["SOD"] == genuine["SOD"]:
        return
    # A mutation may land in an unsigned part (e.g. the certificate's own signature is
    # re-checked; an unused byte may not be): whatever happens, no exception, and any
    # acceptance must rest on checks that all passed.
    if v.outcome != NOT_GENUINE:
        assert all(c.ok is not False for c in v.checks)
    else:
        assert v.reason is not None and v.reason != "verification-error", v.to_json()


@_SETTINGS
@given(raw=st.binary(max_size=400))
def test_random_sod(raw: bytes, genuine: dict[str, bytes], store: TrustStore) -> None:
    files = dict(genuine)
    files["SOD"] = raw
    v = verify(files, store, chip_authentication=ChipProof("CA", True))
    assert v.outcome == NOT_GENUINE and v.reason == E.MALFORMED_SOD


@_SETTINGS
@given(length=st.integers(0x80, 0xFFFFFFFF))
def test_absurd_lengths(length: int, genuine: dict[str, bytes], store: TrustStore) -> None:
    files = dict(genuine)
    content = tlv.decode(files["SOD"]).value
    # Claim an absurd length for the inner ContentInfo SEQUENCE.
    files["SOD"] = b"\x77" + tlv.encode_length(len(content)) + b"\x30\x84" + \
        length.to_bytes(4, "big") + content[4:]
    v = verify(files, store)
    assert v.outcome == NOT_GENUINE and v.reason == E.MALFORMED_SOD
