"""Each encoding quirk passive authentication tolerates, reproduced on an EF.SOD our own issuer
makes with that quirk, named after the real document it was seen on.

The real documents are the EF.SODs (with their DSC, anchored by the German/Dutch master lists)
in gmrtd's public test data (MIT; document/sod_test.go and passiveauth/passive_auth_test.go);
``test_public_emrtd.py`` verifies those themselves when STATION_PUBLIC_EMRTD_DATA names an
extracted copy. Every tolerance here is about *encoding*: next to each, a test shows that a bad
signature, a wrong hash or another signer stays a failure.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from asn1crypto import algos, cms

from station import reasons as E
from station.nfc import tlv
from station.nfc.lds.security import LDS_SECURITY_OBJECT_CONTENT_TYPES
from station.sim import pki
from station.trust.asn1 import OID_CSCA_MASTER_LIST
from station.trust.store import TrustStore
from station.trust.verdict import CLONE_UNCHECKED, NOT_GENUINE
from station.trust.verification import verify

from .conftest import DG1, card_files


def _store(tmp_path: Path, *certs: pki.Issued) -> TrustStore:
    for i, c in enumerate(certs):
        (tmp_path / f"cert{i}.der").write_bytes(c.der)
    return TrustStore.load(tmp_path)


def _edit_signer_info(files: dict[str, bytes], edit: object) -> dict[str, bytes]:
    """Apply ``edit`` to the SOD's SignerInfo (fields the signature does not cover)."""
    info = cms.ContentInfo.load(tlv.decode(files["SOD"]).value)
    signer_info = info["content"]["signer_infos"][0]
    edit(signer_info)  # type: ignore[operator]
    return {**files, "SOD": tlv.encode(0x77, info.dump(force=True))}


# --- eContentType ------------------------------------------------------------------------------

@pytest.mark.parametrize("content_type,seen_on", [
    ("2.23.136.1.1.1", "id-icao-ldsSecurityObject: 12 of gmrtd's 13 EF.SODs"),
    ("1.2.840.113549.1.7.1", "id-data: the Chinese (CN) passport EF.SOD in gmrtd's test data"),
    ("1.3.27.1.1.1", "legacy ICAO OID, accepted by gmrtd (BE/FR documents); no sample here"),
    ("1.2.528.1.1006.1.20.1", "Sdu OID, accepted by gmrtd (NL documents); no sample here"),
])
def test_lds_security_object_content_types(test_pki: pki.TestPki, store: TrustStore,
                                           content_type: str, seen_on: str) -> None:
    assert content_type in LDS_SECURITY_OBJECT_CONTENT_TYPES
    v = verify(card_files(test_pki.dsc, content_type=content_type), store)
    assert v.outcome == CLONE_UNCHECKED, (seen_on, v.to_json())
    assert v.verified_data_groups == {1, 14}  # no DG15 unless asked: it advertises AA


def test_other_content_types_are_still_refused(test_pki: pki.TestPki, store: TrustStore) -> None:
    v = verify(card_files(test_pki.dsc, content_type=OID_CSCA_MASTER_LIST), store)
    assert (v.outcome, v.reason) == (NOT_GENUINE, E.MALFORMED_SOD)


def test_id_data_sod_with_a_tampered_data_group_fails(test_pki: pki.TestPki,
                                                      store: TrustStore) -> None:
    files = card_files(test_pki.dsc, content_type="1.2.840.113549.1.7.1")
    v = verify({**files, "DG1": DG1[:-1] + b"\x01"}, store)
    assert (v.outcome, v.reason) == (NOT_GENUINE, E.DG_HASH_MISMATCH)


# --- SignerInfo issuer with its RDNs in another order (MY) ---------------------------------------

def test_signer_issuer_with_rdns_in_another_order_finds_the_dsc(test_pki: pki.TestPki,
                                                                store: TrustStore) -> None:
    # The Malaysian (MY) EF.SOD in gmrtd's test data: SignerInfo says C, O, ST, L, OU, CN; the
    # DSC's issuer field says C, ST, L, O, OU, CN. It failed with dsc-not-found before.
    files = card_files(test_pki.dsc, issuer_rdn_order=(2, 0, 1))
    v = verify(files, store)
    assert v.outcome == CLONE_UNCHECKED, v.to_json()
    assert "from the SOD" in v.check("dsc").detail  # type: ignore[union-attr]


def test_reordered_issuer_still_needs_the_same_serial(test_pki: pki.TestPki,
                                                      tmp_path: Path) -> None:
    # Only another DSC of the same CSCA (same issuer name, other serial) is available.
    files = card_files(test_pki.dsc, issuer_rdn_order=(2, 0, 1), include_certificate=False)
    v = verify(files, _store(tmp_path, test_pki.csca, test_pki.revoked_dsc))
    assert (v.outcome, v.reason) == (NOT_GENUINE, E.DSC_NOT_FOUND)


def test_reordered_issuer_does_not_rescue_a_forged_signature(test_pki: pki.TestPki,
                                                             store: TrustStore) -> None:
    forged = pki.Issued(test_pki.untrusted_dsc.key, test_pki.dsc.der, "ecdsa", "sha256")
    v = verify(card_files(forged, issuer_rdn_order=(1, 2, 0)), store)
    assert (v.outcome, v.reason) == (NOT_GENUINE, E.BAD_SIGNATURE)


# --- BER indefinite lengths (NZ) ---------------------------------------------------------------

def test_indefinite_length_sod_verifies(test_pki: pki.TestPki, store: TrustStore) -> None:
    # The New Zealand (NZ) EF.SOD in gmrtd's test data: ContentInfo, [0], SignedData,
    # EncapsulatedContentInfo and eContent [0] are indefinite-length (gmrtd re-encodes it).
    files = card_files(test_pki.dsc, indefinite_length=True)
    inner = tlv.decode(files["SOD"]).value
    assert inner[:2] == b"\x30\x80" and inner.endswith(b"\x00\x00" * 3)
    v = verify(files, store)
    assert v.outcome == CLONE_UNCHECKED, v.to_json()
    tampered = verify({**files, "DG1": DG1[:-1] + b"\x01"}, store)
    assert (tampered.outcome, tampered.reason) == (NOT_GENUINE, E.DG_HASH_MISMATCH)


# --- digest AlgorithmIdentifier without NULL (FI, RU, SG, UK) -----------------------------------

def test_digest_algorithm_without_null_verifies(test_pki: pki.TestPki,
                                                store: TrustStore) -> None:
    # FI (SHA-512), RU (SHA-1), SG and UK (SHA-256) EF.SODs in gmrtd's test data omit the NULL
    # (RFC 5754 §2 asks for that); the others (AT, AU, CN, DE, …) write it. Both verify.
    sha256_oid = bytes.fromhex("0609608648016503040201")
    files = card_files(test_pki.dsc, digest_null=False)
    assert b"\x30\x0b" + sha256_oid in files["SOD"]
    assert sha256_oid + b"\x05\x00" not in files["SOD"]
    v = verify(files, store)
    assert v.outcome == CLONE_UNCHECKED, v.to_json()


# --- RSASSA-PSS (ID, MY, PH, SG) and bare rsaEncryption (AU, NZ, US) -----------------------------

@pytest.fixture(scope="module")
def rsa_pki() -> tuple[pki.Issued, pki.Issued]:
    csca = pki.make_csca(algorithm="rsa-pkcs1", hash="sha256", rsa_bits=3072)
    return csca, pki.make_dsc(csca, algorithm="rsa-pkcs1", rsa_bits=2048)


def test_rsassa_pss_sod_verifies_and_a_bad_one_fails(rsa_pki: tuple[pki.Issued, pki.Issued],
                                                     tmp_path: Path) -> None:
    # The ID, MY, PH and SG EF.SODs in gmrtd's test data are RSASSA-PSS-SHA256 (and their
    # CSCAs sign the DSCs with RSASSA-PSS too).
    csca, dsc = rsa_pki
    store = _store(tmp_path, csca)
    files = card_files(dsc, algorithm="rsa-pss")
    v = verify(files, store)
    assert v.outcome == CLONE_UNCHECKED, v.to_json()
    assert v.check("sod-signature").detail == "RSASSA-PSS-SHA256"  # type: ignore[union-attr]

    def flip(si: cms.SignerInfo) -> None:
        sig = bytearray(si["signature"].native)
        sig[-1] ^= 1
        si["signature"] = bytes(sig)

    bad = verify(_edit_signer_info(files, flip), store)
    assert (bad.outcome, bad.reason) == (NOT_GENUINE, E.BAD_SIGNATURE)


def test_bare_rsa_encryption_signature_algorithm(rsa_pki: tuple[pki.Issued, pki.Issued],
                                                 tmp_path: Path) -> None:
    # The AU, NZ and US EF.SODs in gmrtd's test data name the SignerInfo's signature algorithm
    # as plain rsaEncryption (RFC 5652 §10.1.2 allows it); the hash is the digestAlgorithm's.
    csca, dsc = rsa_pki
    store = _store(tmp_path, csca)

    def bare(si: cms.SignerInfo) -> None:
        si["signature_algorithm"] = algos.SignedDigestAlgorithm(
            {"algorithm": "1.2.840.113549.1.1.1", "parameters": None})

    files = _edit_signer_info(card_files(dsc, algorithm="rsa-pkcs1"), bare)
    v = verify(files, store)
    assert v.outcome == CLONE_UNCHECKED, v.to_json()
    assert v.check("sod-signature").detail == "RSA-PKCS1-SHA256"  # type: ignore[union-attr]

    def sha384(si: cms.SignerInfo) -> None:
        # The digest the signature was not made with: it must not verify.
        si["digest_algorithm"] = algos.DigestAlgorithm({"algorithm": "sha384"})

    wrong = verify(_edit_signer_info(files, sha384), store)
    assert wrong.outcome == NOT_GENUINE


# --- Vietnam's CSCA as ICAO master lists publish it ---------------------------------------------

def test_explicit_brainpool_p512_csca_from_a_master_list_anchors_a_dsc(tmp_path: Path) -> None:
    # "CSCA ePassport Vietnam" in the German master list (gmrtd's cms/master_list/DE_ML_*.ml):
    # ECDSA brainpoolP512r1 with explicit parameters, SHA-512. Here: another state's root signs
    # the Master List Signer; the list carries a CSCA of that profile; only the root is loose.
    root = pki.make_csca(common_name="CSCA ROOT TEST", country="DE")
    signer = pki.make_ml_signer(root)
    vn = pki.make_csca(explicit=True, curve="brainpoolP512r1", hash="sha512")
    (tmp_path / "root.der").write_bytes(root.der)
    (tmp_path / "list.ml").write_bytes(pki.make_master_list(signer, [vn.der], [root.der]))
    store = TrustStore.load(tmp_path)
    assert not store.problems, store.problems
    listed = [c for c in store.cscas if c.source == "list.ml"]
    assert [c.key.description for c in listed] == ["EC brainpoolP512r1 (explicit parameters)"]
    v = verify(card_files(pki.make_dsc(vn)), store)
    assert v.outcome == CLONE_UNCHECKED, v.to_json()
    assert v.check("dsc-issuer").detail == (  # type: ignore[union-attr]
        "EC brainpoolP512r1 (explicit parameters), ECDSA-SHA512")
    # A DSC of another key with the same issuer name is refused by signature.
    rogue = pki.make_csca(explicit=True, curve="brainpoolP512r1", hash="sha512")
    forged = verify(card_files(pki.make_dsc(rogue)), store)
    assert (forged.outcome, forged.reason) == (NOT_GENUINE, E.UNTRUSTED_CSCA)


@pytest.mark.parametrize("curve", ["brainpoolP256r1", "secp256r1"])
def test_dsc_with_explicit_curve_parameters(test_pki: pki.TestPki, store: TrustStore,
                                            curve: str) -> None:
    # The AT (brainpoolP256r1), DE (brainpoolP384r1), FI (brainpoolP512r1), RU and UK
    # (secp256r1) DSCs in gmrtd's test data write their EC key with explicit parameters.
    dsc = pki.make_dsc(test_pki.csca, curve=curve)
    der = pki.with_explicit_parameters(dsc.der, test_pki.csca.key, test_pki.csca.algorithm,
                                       test_pki.csca.hash)
    explicit = pki.Issued(dsc.key, der, dsc.algorithm, dsc.hash)
    v = verify(card_files(explicit), store)
    assert v.outcome == CLONE_UNCHECKED, v.to_json()
    assert v.check("dsc").detail.endswith(  # type: ignore[union-attr]
        f"EC {curve} (explicit parameters)")
    forged = pki.Issued(test_pki.untrusted_dsc.key, der, "ecdsa", "sha256")
    bad = verify(card_files(forged), store)
    assert (bad.outcome, bad.reason) == (NOT_GENUINE, E.BAD_SIGNATURE)
