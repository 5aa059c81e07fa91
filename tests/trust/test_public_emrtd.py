"""Passive authentication over real documents' EF.SODs from other projects' public test data.

Runs only when ``STATION_PUBLIC_EMRTD_DATA`` names a directory holding an extracted copy (the
data is not ours to commit; see README, "Tested against"). The layout, from gmrtd's test data
(MIT, github.com/gmrtd/gmrtd: ``document/sod_test.go`` TestNewSod,
``passiveauth/passive_auth_test.go``, ``cms/master_list/``)::

    trust/            a trust-store directory: DE_ROOT_CA_CSCA07.cer + a DE master list,
                      NL_ROOT_CA.cer + an NL master list, Indonesia's 2010-series CSCAs
                      (what gmrtd's DefaultMasterList() loads)
    sod/CC/EF.SOD     a real EF.SOD (tag 77) of country CC
    sod/CC/expected-dsc.der, expected-csca.der, expected-dg-hashes.json
                      what gmrtd's test expects: the chain it builds and the DG1/DG2 hashes
    doc/GB/EF.SOD, DG1, DG2, csca.der
                      gmrtd's "imported document" (an expired UK passport) with its CSCA
    pymrtd/bsi-tr03105-5/EF.SOD, DG1, DG14, DG15
                      pymrtd's BSI TR-03105-5 reference data set (LGPL-3.0,
                      github.com/ZeroPass/pymrtd tests/ef/sod_test.py): its test asserts that
                      the SOD does not contain DG15
    master-lists/     every master list gmrtd ships (DE_ML_*.ml, NL_ML_*.ml) and the two roots
    jmrtd/bsi2008/EF_SOD.bin, Datagroup{1,2,3,4,14,15}.bin
    jmrtd/NZ2013_EF_SOD.bin
                      JMRTD's samples (LGPL-3.0, JMRTD svn mirror github.com/E3V3A/JMRTD,
                      abandoned/passporthostapi-test/samples/): the BSI 2008 test passport
                      ("Mustermann") and a 2013 New Zealand EF.SOD

What gmrtd's tests say, asserted here: every sod/CC verifies (SignedData signature, DSC issued
by a CSCA of the master lists; TestNewSod: exactly that DSC and CSCA; TestPassiveAuth);
doc/GB verifies with DG1 and DG2, fails with DG2's last byte changed and with an EF.SOD whose
last byte is changed (TestPassiveAuthErrors does that to DE's). gmrtd refuses the whole
document when a DG absent from the SOD is present (TestPassiveAuthInjectedDgError); the
station reports that DG unverified and the others verified (issue #18), checked below.
JMRTD's SODFileTest checks the BSI EF.SOD's signature with the DSC it carries (no CSCA) and
only parses the NZ one. Certificate validity is evaluated at 2026-12-01, when these results
were recorded, so the test does not age with the documents (gmrtd's default checks no
validity period at all).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import pem

from station import reasons as E
from station.nfc import tlv
from station.nfc.lds.security import (
    LDS_SECURITY_OBJECT_CONTENT_TYPES,
    parse_lds_security_object,
    parse_sod,
)
from station.reasons import TrustError
from station.trust.certs import parse_certificate
from station.trust.pa import passive_authentication
from station.trust.signeddata import open_signed_data
from station.trust.store import TrustStore, verify_master_list

ENV = "STATION_PUBLIC_EMRTD_DATA"
ROOT = Path(os.environ[ENV]) if os.environ.get(ENV) else None
pytestmark = pytest.mark.skipif(
    ROOT is None, reason=f"{ENV} does not name an extracted copy of public eMRTD test data "
                         "(gmrtd's; see README 'Tested against')")
AT = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
# The EF.SODs gmrtd's tests verify: TestNewSod's 13 countries plus TestPassiveAuth's ID.
COUNTRIES = ("AT", "AU", "CN", "DE", "FI", "FR", "ID", "MY", "NZ", "PH", "RU", "SG", "UK",
             "US")
PA_CHECKS = ("sod", "dsc", "sod-signature", "dsc-issuer", "dsc-validity", "dsc-key-usage",
             "dsc-revocation", "dg-hashes")


def _root() -> Path:
    assert ROOT is not None
    return ROOT


@pytest.fixture(scope="module")
def store() -> TrustStore:
    s = TrustStore.load(_root() / "trust")
    assert len(s.master_lists) == 2, s.problems
    return s


@pytest.mark.parametrize("country", COUNTRIES)
def test_real_sod_verifies(store: TrustStore, country: str) -> None:
    d = _root() / "sod" / country
    sod = (d / "EF.SOD").read_bytes()
    pa = passive_authentication({"SOD": sod}, store, AT)
    # The data ships no CRLs: the revocation status is unknown (issue 16), every other check
    # passes.
    assert [(c.name, c.ok) for c in pa.checks] == [
        (n, None if n == "dsc-revocation" else True) for n in PA_CHECKS], \
        [c for c in pa.checks if c.ok is not True]
    # The reader's own parse of the file (ChipData) reads it too (it refused CN's before).
    assert set(parse_sod(sod).dg_hashes) >= {1, 2}
    assert pa.checks[PA_CHECKS.index("dsc-revocation")].reason == E.REVOCATION_UNKNOWN
    assert pa.dsc is not None
    csca, _alg = store.issuer_of(pa.dsc)
    if (d / "expected-dsc.der").exists():
        assert pa.dsc.der == (d / "expected-dsc.der").read_bytes()
        assert csca.der == (d / "expected-csca.der").read_bytes()
        expected = json.loads((d / "expected-dg-hashes.json").read_text())
        lso = parse_lds_security_object(open_signed_data(
            tlv.decode(sod, trailing=True).value, LDS_SECURITY_OBJECT_CONTENT_TYPES).content)
        assert {str(n): lso.dg_hashes[n].hex() for n in (1, 2)} == expected


def test_sod_with_a_changed_signature_byte_fails(store: TrustStore) -> None:
    sod = bytearray((_root() / "sod" / "DE" / "EF.SOD").read_bytes())
    sod[-1] ^= 0x0F
    pa = passive_authentication({"SOD": bytes(sod)}, store, AT)
    assert not pa.verified_data_groups
    assert [(c.name, c.reason) for c in pa.checks if c.ok is False] == \
        [("sod-signature", E.BAD_SIGNATURE)]


@dataclass(frozen=True, repr=False)
class Document:
    """A document's files (never shown in a failure report: DG1 holds a person's data) and a
    store holding only its CSCA."""

    files: dict[str, bytes]
    anchor: TrustStore


@pytest.fixture(scope="module")
def gb(tmp_path_factory: pytest.TempPathFactory) -> Document:
    d = _root() / "doc" / "GB"
    files = {name: (d / name).read_bytes() for name in ("DG1", "DG2")}
    files["SOD"] = (d / "EF.SOD").read_bytes()
    anchor = tmp_path_factory.mktemp("gb-anchor")
    (anchor / "csca.der").write_bytes((d / "csca.der").read_bytes())
    return Document(files, TrustStore.load(anchor))


def test_imported_document_verifies_dg1_and_dg2(gb: Document) -> None:
    # Its DSC expired 2022-12-01 (gmrtd checks no validity period by default): on the day of
    # recording PA fails on that alone; while the DSC was valid, DG1 and DG2 verify.
    today = passive_authentication(gb.files, gb.anchor, AT)
    assert [(c.name, c.reason) for c in today.checks if c.ok is not True] == \
        [("dsc-validity", E.EXPIRED), ("dsc-revocation", E.REVOCATION_UNKNOWN)]
    assert not today.verified_data_groups
    then = passive_authentication(gb.files, gb.anchor, dt.datetime(2022, 6, 1, tzinfo=dt.UTC))
    assert then.verified_data_groups == {1, 2}, [c for c in then.checks if c.ok is not True]


def test_imported_document_with_a_changed_dg2_fails(gb: Document) -> None:
    dg2 = bytearray(gb.files["DG2"])
    dg2[-1] ^= 0x03
    pa = passive_authentication({**gb.files, "DG2": bytes(dg2)}, gb.anchor,
                                dt.datetime(2022, 6, 1, tzinfo=dt.UTC))
    dg = next(c for c in pa.checks if c.name == "dg-hashes")
    assert (dg.ok, dg.reason) == (False, E.DG_HASH_MISMATCH)
    assert not pa.verified_data_groups


def test_vietnam_csca_from_the_german_master_list_anchors(store: TrustStore) -> None:
    vn = [c for c in store.cscas if c.asn1.subject.native.get("country_name") == "VN"]
    assert vn, "no Vietnamese CSCA in the master lists"
    for csca in vn:
        assert csca.key.description == "EC brainpoolP512r1 (explicit parameters)"
        # Self-signed: the store finds it as its own issuer, by signature (ECDSA-SHA512 on
        # the explicit brainpoolP512r1 key).
        issuer, algorithm = store.issuer_of(csca)
        assert issuer.key_id == csca.key_id and algorithm == "ECDSA-SHA512"
        assert parse_certificate(csca.der).key.explicit


def test_imported_document_with_an_injected_dg13(gb: Document) -> None:
    # gmrtd's TestPassiveAuthInjectedDgError adds this DG13, which the SOD does not list, and
    # expects the whole document refused. Here DG13 is unverified, DG1 and DG2 still verified
    # (issue #18); records take no field from an unverified DG (station/service/records.py).
    files = {**gb.files, "DG13": bytes.fromhex("6D0A01234567890123456789")}
    pa = passive_authentication(files, gb.anchor, dt.datetime(2022, 6, 1, tzinfo=dt.UTC))
    assert pa.verified_data_groups == {1, 2}
    assert pa.unverified_data_groups == {13}


def test_bsi_test_passport_verifies_what_its_sod_lists() -> None:
    # The BSI 2008 test passport carries DG4 and DG15 that its EF.SOD does not list (issue
    # #18): the signature (by the DSC it carries, as JMRTD checks it) and DG1, DG2, DG3, DG14
    # verify; DG4 and DG15 are unverified. No CSCA: the chain is not performed.
    d = _root() / "jmrtd" / "bsi2008"
    files = {"SOD": (d / "EF_SOD.bin").read_bytes()}
    files.update({f"DG{n}": (d / f"Datagroup{n}.bin").read_bytes() for n in (1, 2, 3, 4, 14, 15)})
    pa = passive_authentication(files, None, AT)
    result = {c.name: (c.ok, c.reason, c.detail) for c in pa.checks}
    assert result["sod-signature"] == (True, None, "ECDSA-SHA1")
    assert result["dg-hashes"] == (True, None, "DG1, DG2, DG3, DG14")
    assert pa.unverified_data_groups == {4, 15}
    assert result["dsc-issuer"][:2] == (None, E.NO_TRUST_STORE)
    assert not [c for c in pa.checks if c.ok is False]


def test_jmrtd_nz_2013_sod_signature_verifies(store: TrustStore) -> None:
    pa = passive_authentication({"SOD": (_root() / "jmrtd" / "NZ2013_EF_SOD.bin").read_bytes()},
                                store, AT)
    result = {c.name: (c.ok, c.reason) for c in pa.checks}
    assert result["sod-signature"] == (True, None)
    # No CSCA of the 2026 master lists verifies its DSC, which expired in 2016: an honest
    # failure, not a parsing one.
    assert result["dsc-issuer"] == (False, E.UNTRUSTED_CSCA)
    assert result["dsc-validity"] == (False, E.EXPIRED)


def test_every_master_list_loads_unless_its_signer_has_another_root() -> None:
    # A list counts only when its signer chains to a root given: one German list (2024-08) was
    # signed under the previous German root, which gmrtd does not ship — refused, by key.
    d = _root() / "master-lists"
    roots = [parse_certificate((d / n).read_bytes(), n)
             for n in ("DE_ROOT_CA_CSCA07.cer", "NL_ROOT_CA.cer")]
    root_keys = {r.ski for r in roots}
    loaded = refused = 0
    for path in sorted(d.glob("*.ml")):
        der = path.read_bytes()
        sd = open_signed_data(der, "2.23.136.1.1.2", path.name)
        signer_aki = next(c.aki for c in sd.certificates if c.extended_key_usage)
        if signer_aki not in root_keys:
            with pytest.raises(TrustError) as exc:
                verify_master_list(der, roots, path.name)
            assert exc.value.reason == E.UNTRUSTED_CSCA
            refused += 1
            continue
        ml = verify_master_list(der, roots, path.name)
        assert ml.skipped == 0 and len(ml.cscas) > 300
        vn = [c for c in ml.cscas if c.asn1.subject.native.get("country_name") == "VN"]
        assert [c.key.description for c in vn] == ["EC brainpoolP512r1 (explicit parameters)"]
        loaded += 1
    assert (loaded, refused) == (18, 1)


def test_sod_with_another_content_type_is_malformed(store: TrustStore) -> None:
    # gmrtd's TestNewSodInvalidCases: the eContentType changed to 2.23.136.2.2.2.
    sod = (_root() / "sod" / "UK" / "EF.SOD").read_bytes()
    lds_oid = bytes.fromhex("0606678108010101")
    assert lds_oid in sod
    changed = sod.replace(lds_oid, bytes.fromhex("0606678108020202"), 1)
    pa = passive_authentication({"SOD": changed}, store, AT)
    assert [(c.name, c.ok, c.reason) for c in pa.checks] == [("sod", False, E.MALFORMED_SOD)]


def _openssl_cms(cms_der: Path, *args: str) -> str:
    run = subprocess.run(["openssl", "cms", "-verify", "-inform", "DER", "-in", str(cms_der),
                          "-out", os.devnull, *args], capture_output=True, text=True,
                         timeout=30, check=False)
    return run.stdout + run.stderr


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl")
@pytest.mark.parametrize("country", [c for c in COUNTRIES if c != "ID"])
def test_openssl_as_a_peer(store: TrustStore, country: str, tmp_path: Path) -> None:
    # OpenSSL 3 on the same EF.SOD with gmrtd's expected CSCA as its only anchor
    # (-partial_chain: some are link certificates): it agrees wherever it can decide; it cannot
    # build chains through explicit EC parameters (AT, DE, FI, RU, UK: signature-only
    # -noverify still passes) and does not find MY's signer (RDNs in another order).
    d = _root() / "sod" / country
    sod = (d / "EF.SOD").read_bytes()
    cms_der = tmp_path / "sod.cms"
    cms_der.write_bytes(tlv.decode(sod, trailing=True).value)
    anchor = tmp_path / "csca.pem"
    anchor.write_bytes(pem.armor("CERTIFICATE", (d / "expected-csca.der").read_bytes()))
    chain = _openssl_cms(cms_der, "-partial_chain", "-CAfile", str(anchor), "-purpose", "any")
    signature_only = _openssl_cms(cms_der, "-noverify")
    pa = passive_authentication({"SOD": sod}, store, AT)
    assert pa.dsc is not None
    csca, _ = store.issuer_of(pa.dsc)
    if country == "MY":
        assert "signer certificate not found" in chain + signature_only
    elif pa.dsc.key.explicit or csca.key.explicit:
        assert "explicit ECC parameters" in chain
        assert "Verification successful" in signature_only
    else:
        assert "Verification successful" in chain



def test_station_trust_import_takes_a_real_master_list(tmp_path: Path) -> None:
    # What an operator does: import the German root and its master list with the CLI; the
    # store then anchors Vietnam's CSCA as published there.
    from station.cli import main

    trust = _root() / "trust"
    code = main(["trust", "--path", str(tmp_path), "import",
                 str(trust / "DE_ROOT_CA_CSCA07.cer"),
                 str(trust / "DE_ML_2026-05-28-08-28-45.ml")])
    assert code == 0
    store = TrustStore.load(tmp_path)
    assert len(store.master_lists) == 1 and not store.problems
    assert [c.key.description for c in store.cscas
            if c.asn1.subject.native.get("country_name") == "VN"] == [
        "EC brainpoolP512r1 (explicit parameters)"]


def test_bsi_tr03105_reference_data_set_dg15_is_unverified() -> None:
    # pymrtd's test of BSI TR-03105-5's EF.SOD asserts DG15 is not in it (issue #18's
    # "DG15 present, not listed"): DG1 and DG14 verify, DG15 is unverified, nothing fails.
    d = _root() / "pymrtd" / "bsi-tr03105-5"
    files = {"SOD": (d / "EF.SOD").read_bytes()}
    files.update({n: (d / n).read_bytes() for n in ("DG1", "DG14", "DG15")})
    pa = passive_authentication(files, None, AT)
    result = {c.name: (c.ok, c.detail) for c in pa.checks}
    assert result["sod-signature"] == (True, "RSASSA-PSS-SHA256")
    assert result["dg-hashes"] == (True, "DG1, DG14")
    assert pa.unverified_data_groups == {15}
    assert not [c for c in pa.checks if c.ok is False]


def test_the_imported_documents_state_matches_its_anchor(gb: Document) -> None:
    # Issue 16: the CSCA must be the issuing state's. The real UK DG1 says GBR; its DSC and
    # CSCA say C=GB (checked while the DSC was valid).
    from station.trust.verification import verify

    v = verify(gb.files, gb.anchor, now=dt.datetime(2022, 6, 1, tzinfo=dt.UTC))
    check = v.check("csca-country")
    assert check is not None and (check.ok, check.detail) == (True, "GBR = C GB")
