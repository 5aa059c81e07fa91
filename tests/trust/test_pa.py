"""Passive authentication against the synthetic issuer: each forgery fails with its reason."""

from __future__ import annotations

import datetime as dt

import pytest

from station import reasons as E
from station.nfc.lds.secinfo import CardAccess
from station.nfc.proof import ChipProof
from station.sim import pki
from station.trust.pa import passive_authentication
from station.trust.store import TrustStore
from station.trust.verdict import CLONE_UNCHECKED, GENUINE, NOT_GENUINE, UNVERIFIED
from station.trust.verification import verify
from tests.trust.conftest import DG1, card_files


def test_genuine_data_without_ca_aa_is_clone_unchecked(test_pki: pki.TestPki,
                                                       store: TrustStore) -> None:
    v = verify(card_files(test_pki.dsc), store)
    assert v.outcome == CLONE_UNCHECKED, v.to_json()
    assert v.verified_data_groups == {1, 14}
    names = [c.name for c in v.checks]
    assert names[:8] == ["sod", "dsc", "sod-signature", "dsc-issuer", "dsc-validity",
                         "dsc-key-usage", "dsc-revocation", "dg-hashes"]
    assert all(c.ok for c in v.checks[:8])
    assert v.check("chip-authentication").ok is None  # type: ignore[union-attr]


def test_ca_pass_makes_it_genuine(test_pki: pki.TestPki, store: TrustStore) -> None:
    v = verify(card_files(test_pki.dsc), store, chip_authentication=ChipProof("CA", True))
    assert v.outcome == GENUINE
    v = verify(card_files(test_pki.dsc, dg15=True), store,
               active_authentication=ChipProof("AA", True))
    assert v.outcome == GENUINE


def test_advertised_active_authentication_not_run_is_withheld(test_pki: pki.TestPki,
                                                              store: TrustStore) -> None:
    # EF.SOD lists DG15: AA is advertised, so a read without it cannot be "clone unchecked",
    # whether DG15 was read and AA not run, or DG15 not read at all.
    files = card_files(test_pki.dsc, dg15=True)
    for read in (files, {k: v for k, v in files.items() if k != "DG15"}):
        v = verify(read, store, chip_authentication=ChipProof("CA", True))
        assert (v.outcome, v.reason) == (NOT_GENUINE, E.AA_WITHHELD), v.to_json()


def test_chip_authentication_announced_by_card_access_is_required(
        test_pki: pki.TestPki, store: TrustStore) -> None:
    from station.sim import lds
    from station.sim.lds import PaceOption

    files = card_files(test_pki.dsc)  # its DG14 holds no CA key: EF.SOD advertises nothing
    assert verify(files, store).outcome == CLONE_UNCHECKED
    card_access = CardAccess.parse(lds.ef_card_access((PaceOption(),), "AES-128"))
    v = verify(files, store, card_access=card_access)
    assert (v.outcome, v.reason) == (NOT_GENUINE, E.CA_WITHHELD)
    v = verify(files, store,
               card_access=CardAccess.parse(lds.ef_card_access((PaceOption(),), None)))
    assert v.outcome == CLONE_UNCHECKED


def test_ca_failure_is_not_genuine(test_pki: pki.TestPki, store: TrustStore) -> None:
    v = verify(card_files(test_pki.dsc), store,
               chip_authentication=ChipProof("CA", False, None, "wrong key"))
    assert (v.outcome, v.reason) == (NOT_GENUINE, E.CA_FAILED)


def test_ca_without_verified_dg14_proves_nothing(test_pki: pki.TestPki,
                                                 store: TrustStore) -> None:
    files = card_files(test_pki.dsc)
    del files["DG14"]
    v = verify(files, store, chip_authentication=ChipProof("CA", True))
    assert (v.outcome, v.reason) == (NOT_GENUINE, E.DG_NOT_VERIFIED)


def test_dg_hash_mismatch(test_pki: pki.TestPki, store: TrustStore) -> None:
    files = card_files(test_pki.dsc)
    files["DG1"] = DG1[:-1] + b"\x01"
    v = verify(files, store, chip_authentication=ChipProof("CA", True))
    assert (v.outcome, v.reason) == (NOT_GENUINE, E.DG_HASH_MISMATCH)
    assert v.verified_data_groups == frozenset()


def test_dg_not_listed_in_sod_is_unverified_and_the_others_still_verify(
        test_pki: pki.TestPki, store: TrustStore) -> None:
    # BSI TR-03105 / ETSI test passports carry a DG15 their EF.SOD does not list (issue #18);
    # before, one such DG failed the whole document and left no data group verified.
    files = card_files(test_pki.dsc)
    files["DG2"] = b"\x75\x00"
    pa = passive_authentication(files, store, dt.datetime.now(dt.UTC))
    assert pa.verified_data_groups == {1, 14}
    assert pa.unverified_data_groups == {2}
    note = next(c for c in pa.checks if c.name == "dg-not-in-sod")
    assert (note.ok, note.reason, note.detail) == (
        None, E.DG_NOT_IN_SOD, "DG2 read but not listed in EF.SOD: unverified")
    v = verify(files, store)
    assert v.outcome == CLONE_UNCHECKED, v.to_json()
    assert v.verified_data_groups == {1, 14}


def test_an_unlisted_dg_does_not_hide_a_tampered_listed_one(test_pki: pki.TestPki,
                                                            store: TrustStore) -> None:
    files = card_files(test_pki.dsc)
    files["DG2"] = b"\x75\x00"
    files["DG1"] = DG1[:-1] + b"\x01"
    v = verify(files, store)
    assert (v.outcome, v.reason) == (NOT_GENUINE, E.DG_HASH_MISMATCH)
    assert v.verified_data_groups == frozenset()


def test_unlisted_dg_on_an_untrusted_sod_verifies_nothing(test_pki: pki.TestPki,
                                                          store: TrustStore) -> None:
    files = card_files(test_pki.untrusted_dsc)
    files["DG2"] = b"\x75\x00"
    v = verify(files, store)
    assert (v.outcome, v.reason) == (NOT_GENUINE, E.UNTRUSTED_CSCA)
    assert v.verified_data_groups == frozenset()


def test_untrusted_dsc_from_rogue_csca_with_same_name(test_pki: pki.TestPki,
                                                      store: TrustStore) -> None:
    v = verify(card_files(test_pki.untrusted_dsc), store)
    assert (v.outcome, v.reason) == (NOT_GENUINE, E.UNTRUSTED_CSCA)


def test_revoked_dsc(test_pki: pki.TestPki, store: TrustStore) -> None:
    v = verify(card_files(test_pki.revoked_dsc), store)
    assert (v.outcome, v.reason) == (NOT_GENUINE, E.REVOKED)


def test_expired_dsc(test_pki: pki.TestPki, store: TrustStore) -> None:
    v = verify(card_files(test_pki.expired_dsc), store)
    assert (v.outcome, v.reason) == (NOT_GENUINE, E.EXPIRED)


def test_dsc_not_yet_valid(test_pki: pki.TestPki, store: TrustStore) -> None:
    v = verify(card_files(test_pki.dsc), store, now=dt.datetime(2023, 1, 1, tzinfo=dt.UTC))
    assert v.reason == E.NOT_YET_VALID


def test_no_store_is_unverified(test_pki: pki.TestPki) -> None:
    v = verify(card_files(test_pki.dsc), None)
    assert (v.outcome, v.reason) == (UNVERIFIED, E.NO_TRUST_STORE)
    files = card_files(test_pki.dsc)
    files["DG1"] = b"\x61\x00"
    assert verify(files, None).outcome == NOT_GENUINE


def test_sod_signed_by_another_key_than_its_certificate(test_pki: pki.TestPki,
                                                        store: TrustStore) -> None:
    # A forger copies the genuine DSC certificate but signs with their own key.
    forged = pki.Issued(test_pki.untrusted_dsc.key, test_pki.dsc.der, "ecdsa", "sha256")
    v = verify(card_files(forged), store)
    assert (v.outcome, v.reason) == (NOT_GENUINE, E.BAD_SIGNATURE)


def test_dsc_found_in_store_when_sod_omits_it(test_pki: pki.TestPki, store_dir: object,
                                              tmp_path: object) -> None:
    import pathlib

    d = pathlib.Path(str(tmp_path))
    (d / "csca.pem").write_bytes(test_pki.csca.pem)
    files = card_files(test_pki.dsc, include_certificate=False)
    v = verify(files, TrustStore.load(d))
    assert v.reason == E.DSC_NOT_FOUND
    (d / "dsc.pem").write_bytes(test_pki.dsc.pem)
    v = verify(files, TrustStore.load(d))
    assert v.outcome == CLONE_UNCHECKED, v.to_json()
    assert "store" in v.check("dsc").detail  # type: ignore[union-attr]


@pytest.mark.parametrize("options", [
    {"digest_null": False}, {"signer_id": "ski"}, {"lds_version": ("0108", "040000")},
    {"hash": "sha1"}, {"hash": "sha512"}, {"hash": "sha384", "signature_hash": "sha224"},
])
def test_sod_variants_verify(test_pki: pki.TestPki, store: TrustStore,
                             options: dict[str, object]) -> None:
    v = verify(card_files(test_pki.dsc, **options), store)
    assert v.outcome == CLONE_UNCHECKED, v.to_json()


@pytest.mark.parametrize("csca_alg,dsc_alg", [
    ("rsa-pss", "rsa-pss"), ("rsa-pkcs1", "rsa-pkcs1"), ("ecdsa", "rsa-pss"),
    ("rsa-pss", "ecdsa"),
])
def test_rsa_hierarchies(tmp_path: object, csca_alg: pki.Algorithm,
                         dsc_alg: pki.Algorithm) -> None:
    import pathlib

    csca = pki.make_csca(algorithm=csca_alg, hash="sha256", rsa_bits=2048,
                         curve="brainpoolP256r1")
    dsc = pki.make_dsc(csca, algorithm=dsc_alg, curve="secp256r1")
    d = pathlib.Path(str(tmp_path))
    (d / "csca.der").write_bytes(csca.der)
    v = verify(card_files(dsc, algorithm=dsc_alg), TrustStore.load(d))
    assert v.outcome == CLONE_UNCHECKED, v.to_json()


@pytest.mark.parametrize("curve", ["brainpoolP512r1", "brainpoolP384r1", "secp384r1",
                                   "secp521r1"])
def test_explicit_parameters_csca_verifies(tmp_path: object, curve: str) -> None:
    import pathlib

    csca = pki.make_csca(explicit=True, curve=curve)
    dsc = pki.make_dsc(csca)
    d = pathlib.Path(str(tmp_path))
    (d / "csca.der").write_bytes(csca.der)
    store = TrustStore.load(d)
    assert store.cscas[0].key.explicit
    v = verify(card_files(dsc), store)
    assert v.outcome == CLONE_UNCHECKED, v.to_json()
    assert "explicit" in v.check("dsc-issuer").detail  # type: ignore[union-attr]
