"""The issuer PKI is valid ASN.1 that openssl accepts, and EF.SOD is a real CMS SignedData."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from station.nfc import tlv
from station.sim import pki

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl not installed")


@pytest.fixture(scope="module")
def test_pki() -> pki.TestPki:
    return pki.make_test_pki()


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    assert OPENSSL is not None
    return subprocess.run([OPENSSL, *args], capture_output=True, text=True, check=False)


def test_csca_profile(test_pki: pki.TestPki) -> None:
    cert = test_pki.csca.cert
    key = test_pki.csca.key
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "brainpoolP512r1"
    assert cert.signature_hash_algorithm is not None
    assert cert.signature_hash_algorithm.name == "sha512"
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.key_cert_sign and ku.crl_sign and not ku.digital_signature


def test_rogue_csca_has_same_name_but_other_key(test_pki: pki.TestPki) -> None:
    assert test_pki.rogue_csca.cert.subject == test_pki.csca.cert.subject
    assert test_pki.untrusted_dsc.cert.issuer == test_pki.dsc.cert.issuer
    test_pki.dsc.cert.verify_directly_issued_by(test_pki.csca.cert)
    with pytest.raises(Exception):  # noqa: B017 - cryptography raises InvalidSignature
        test_pki.untrusted_dsc.cert.verify_directly_issued_by(test_pki.csca.cert)


def test_sod_structure() -> None:
    key = pki.generate_key("ecdsa", "brainpoolP256r1")
    csca = pki.make_csca(curve="brainpoolP384r1", hash="sha384")
    dsc = pki.make_dsc(csca, key=key)
    dgs = {1: b"\x61\x03abc", 2: b"\x75\x01\x00", 14: b"\x6e\x00"}
    sod = pki.build_sod(pki.hash_data_groups(dgs), dsc.key, dsc.cert)
    outer = tlv.decode(sod)
    assert outer.tag == 0x77
    info = cms.ContentInfo.load(outer.value)
    sd = info["content"]
    assert sd["encap_content_info"]["content_type"].dotted == pki.OID_LDS_SECURITY_OBJECT
    lso = pki.LdsSecurityObject.load(sd["encap_content_info"]["content"].native)
    assert lso["version"].native == 0
    got = {h["data_group_number"].native: h["data_group_hash_value"].native
           for h in lso["data_group_hash_values"]}
    assert got == {n: hashlib.sha256(v).digest() for n, v in dgs.items()}
    signer = sd["signer_infos"][0]
    attrs = {a["type"].native: a["values"][0].native for a in signer["signed_attrs"]}
    assert attrs["message_digest"] == hashlib.sha256(
        sd["encap_content_info"]["content"].native).digest()


def test_sod_digest_algorithm_without_null() -> None:
    csca = pki.make_csca(curve="secp256r1", hash="sha256")
    dsc = pki.make_dsc(csca, curve="secp256r1")
    sod = pki.build_sod({1: bytes(32)}, dsc.key, dsc.der, digest_null=False, signer_id="ski")
    sd = cms.ContentInfo.load(tlv.decode(sod).value)["content"]
    assert sd["digest_algorithms"][0].dump() == bytes.fromhex("300b0609608648016503040201")
    assert sd["signer_infos"][0]["sid"].name == "subject_key_identifier"
    assert sd["signer_infos"][0]["version"].native == "v3"


def test_sod_rejects_bad_data_group_number(test_pki: pki.TestPki) -> None:
    with pytest.raises(ValueError):
        pki.build_sod({17: bytes(32)}, test_pki.dsc.key, test_pki.dsc.cert)


@needs_openssl
@pytest.mark.parametrize("algorithm", ["ecdsa", "rsa-pss", "rsa-pkcs1"])
@pytest.mark.parametrize("hash_name", ["sha256", "sha512"])
def test_openssl_verifies_sod(tmp_path: Path, algorithm: pki.Algorithm, hash_name: str) -> None:
    csca = pki.make_csca(algorithm=algorithm, hash="sha512", rsa_bits=2048)
    dsc = pki.make_dsc(csca, algorithm=algorithm)
    sod = pki.build_sod({1: bytes(32), 2: bytes(range(32))}, dsc.key, dsc.cert, hash_name,
                        algorithm=algorithm)
    (tmp_path / "sod.cms").write_bytes(tlv.decode(sod).value)
    (tmp_path / "csca.pem").write_bytes(csca.pem)
    (tmp_path / "lso.der").write_bytes(b"")
    r = openssl("cms", "-verify", "-inform", "DER", "-in", str(tmp_path / "sod.cms"),
                "-CAfile", str(tmp_path / "csca.pem"), "-purpose", "any",
                "-out", str(tmp_path / "lso.der"))
    assert r.returncode == 0, r.stderr
    assert "Verification successful" in r.stderr
    # The content openssl extracted is our LDS Security Object.
    lso = pki.LdsSecurityObject.load((tmp_path / "lso.der").read_bytes())
    assert lso["hash_algorithm"]["algorithm"].native == hash_name


@needs_openssl
def test_openssl_rejects_sod_from_rogue_csca(tmp_path: Path, test_pki: pki.TestPki) -> None:
    sod = pki.build_sod({1: bytes(32)}, test_pki.untrusted_dsc.key, test_pki.untrusted_dsc.cert)
    (tmp_path / "sod.cms").write_bytes(tlv.decode(sod).value)
    (tmp_path / "csca.pem").write_bytes(test_pki.csca.pem)
    r = openssl("cms", "-verify", "-inform", "DER", "-in", str(tmp_path / "sod.cms"),
                "-CAfile", str(tmp_path / "csca.pem"), "-purpose", "any", "-out", "/dev/null")
    assert r.returncode != 0


@needs_openssl
def test_sim_pki_command_writes_files_openssl_accepts(tmp_path: Path) -> None:
    from station.cli import main

    out = tmp_path / "pki"
    assert main(["sim", "pki", "--out", str(out)]) == 0
    assert (out / "csca.key.pem").stat().st_mode & 0o077 == 0
    for name in ("csca", "dsc", "dsc-revoked", "dsc-expired", "ml-signer"):
        r = openssl("x509", "-inform", "DER", "-in", str(out / f"{name}.der"), "-noout")
        assert r.returncode == 0, r.stderr
    r = openssl("verify", "-CAfile", str(out / "csca.pem"), str(out / "dsc.pem"))
    assert r.returncode == 0, r.stderr
    r = openssl("verify", "-CAfile", str(out / "csca.pem"),
                str(out / "forged" / "dsc-untrusted.pem"))
    assert r.returncode != 0
    r = openssl("crl", "-inform", "DER", "-in", str(out / "csca.crl"), "-CAfile",
                str(out / "csca.pem"), "-noout", "-text")
    assert r.returncode == 0, r.stderr
    assert "verify OK" in r.stderr
    revoked = x509.load_der_x509_certificate((out / "dsc-revoked.der").read_bytes())
    assert f"{revoked.serial_number:X}" in r.stdout.replace(":", "").upper()
    ml = out / "masterlist.ml"
    r = openssl("cms", "-verify", "-inform", "DER", "-in", str(ml), "-CAfile",
                str(out / "csca.pem"), "-purpose", "any", "-out", str(tmp_path / "ml.der"))
    assert r.returncode == 0, r.stderr
    master = pki.CscaMasterList.load((tmp_path / "ml.der").read_bytes())
    assert [c.dump() for c in master["cert_list"]] == [(out / "csca.der").read_bytes()]
    r = openssl("asn1parse", "-inform", "DER", "-in", str(ml))
    assert r.returncode == 0 and "2.23.136.1.1.2" in r.stdout


@needs_openssl
def test_explicit_parameters_csca(tmp_path: Path) -> None:
    csca = pki.make_csca(explicit=True)
    cert = csca.cert
    # cryptography loads the certificate but cannot map explicit brainpool parameters.
    with pytest.raises(Exception):  # noqa: B017
        cert.public_key()
    (tmp_path / "csca.der").write_bytes(csca.der)
    r = openssl("x509", "-inform", "DER", "-in", str(tmp_path / "csca.der"), "-noout", "-text")
    assert r.returncode == 0, r.stderr
    assert "Field Type: prime-field" in r.stdout and "ASN1 OID" not in r.stdout
    (tmp_path / "csca.pem").write_bytes(csca.pem)
    # A chain of one: OpenSSL checks the self-signature over the re-encoded TBS.
    r = openssl("verify", "-CAfile", str(tmp_path / "csca.pem"), str(tmp_path / "csca.pem"))
    assert r.returncode == 0, r.stdout + r.stderr
