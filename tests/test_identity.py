"""station.identity: the station side of provisioning, on real files in a temp state dir."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from asn1crypto import cms
from cryptography.hazmat.primitives import serialization

from provisioning.ca import OperatorCa
from station import identity, keys
from station.errors import KeyFormatError, ProvisioningError, UnsafeKeyFile
from station.testing.tls import TestCa

PEM = serialization.Encoding.PEM


@pytest.fixture()
def ca(tmp_path: Path) -> OperatorCa:
    return OperatorCa.create(tmp_path / "ca")


def _signed(ca: OperatorCa, state: Path, sid: str = "desk-01") -> bytes:
    ident = identity.create(state, sid)
    return ca.sign_station(sid, ident.csr.read_bytes(),
                           ident.signing_public.read_bytes()).read_bytes()


def test_rerun_keeps_the_identity_and_rotate_replaces_it(tmp_path: Path) -> None:
    first = identity.create(tmp_path, "desk-01")
    assert first.created
    again = identity.create(tmp_path, "desk-01")
    assert not again.created and again.signing_key_id == first.signing_key_id
    with pytest.raises(ProvisioningError, match="--rotate"):
        identity.create(tmp_path, "desk-02")
    rotated = identity.create(tmp_path, "desk-02", rotate=True)
    assert rotated.created and rotated.signing_key_id != first.signing_key_id
    assert keys.certificate_cn(keys.load_csr(rotated.csr)) == "desk-02"


def test_an_unsafe_existing_key_is_refused_not_reused(tmp_path: Path) -> None:
    identity.create(tmp_path, "desk-01")
    os.chmod(keys.KeyPaths.under(tmp_path).signing, 0o644)
    with pytest.raises(UnsafeKeyFile):
        identity.create(tmp_path, "desk-01")


def test_install_certificate_checks_key_cn_issuer_and_dates(tmp_path: Path,
                                                           ca: OperatorCa) -> None:
    state = tmp_path / "state"
    cert = _signed(ca, state)
    ca_pem = ca.paths.ca_cert.read_bytes()
    dest = tmp_path / "etc/tls/ca.pem"
    with pytest.raises(ProvisioningError, match="CN"):
        identity.install_certificate(state, "desk-09", cert, ca_pem, dest)
    other = TestCa(tmp_path / "other")
    with pytest.raises(ProvisioningError, match="not issued by"):
        identity.install_certificate(state, "desk-01", cert, other.ca_file.read_bytes(), dest)
    with pytest.raises(ProvisioningError, match="not valid now"):
        identity.install_certificate(state, "desk-01", cert, ca_pem, dest,
                                     now=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    # A certificate for someone else's key (another station's CSR under our id).
    stranger = _signed(ca, tmp_path / "stranger", "desk-07")
    with pytest.raises(ProvisioningError, match="TLS key"):
        identity.install_certificate(state, "desk-01", stranger, ca_pem, dest)
    with pytest.raises(KeyFormatError):
        identity.install_certificate(state, "desk-01", b"junk", ca_pem, dest)
    assert not keys.KeyPaths.under(state).client_cert.exists()
    identity.install_certificate(state, "desk-01", cert, ca_pem, dest)
    assert keys.KeyPaths.under(state).client_cert.read_bytes() == cert
    assert dest.read_bytes() == ca_pem


def test_rotation_drops_the_certificate_of_the_old_key(tmp_path: Path, ca: OperatorCa) -> None:
    cert = _signed(ca, tmp_path)
    identity.install_certificate(tmp_path, "desk-01", cert, ca.paths.ca_cert.read_bytes(),
                                 tmp_path / "ca.pem")
    identity.create(tmp_path, "desk-01", rotate=True)
    assert not keys.KeyPaths.under(tmp_path).client_cert.exists()


def test_operator_refuses_mismatched_or_reused_station_ids(tmp_path: Path,
                                                           ca: OperatorCa) -> None:
    ident = identity.create(tmp_path / "a", "desk-01")
    csr, pub = ident.csr.read_bytes(), ident.signing_public.read_bytes()
    with pytest.raises(ProvisioningError, match="CSR is for"):
        ca.sign_station("desk-02", csr, pub)
    with pytest.raises(ProvisioningError, match="letters"):
        ca.sign_station("desk/#", csr, pub)
    ca.sign_station("desk-01", csr, pub)
    ca.sign_station("desk-01", csr, pub)  # renewing with the same signing key is fine
    new = identity.create(tmp_path / "a", "desk-01", rotate=True)
    with pytest.raises(ProvisioningError, match="another signing key"):
        ca.sign_station("desk-01", new.csr.read_bytes(), new.signing_public.read_bytes())
    ca.forget_station("desk-01")
    ca.sign_station("desk-01", new.csr.read_bytes(), new.signing_public.read_bytes())


def test_backend_key_must_be_x25519(tmp_path: Path) -> None:
    seal = keys.generate_seal_key()
    kid = identity.install_backend_key(tmp_path, keys.public_pem(seal.public_key()))
    assert kid == keys.key_id(seal.public_key())
    ed = keys.public_pem(keys.generate_signing_key().public_key())
    with pytest.raises(KeyFormatError, match="X25519"):
        identity.install_backend_key(tmp_path, ed)


def _cms(content_type: str) -> bytes:
    signed = cms.SignedData({
        "version": "v3", "digest_algorithms": [],
        "encap_content_info": {"content_type": content_type, "content": b"\x30\x00"},
        "signer_infos": [],
    })
    return cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump()


def test_trust_files_are_classified_and_bad_ones_leave_the_store_alone(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    csca = TestCa(src / "pki", cn="synthetic CSCA")
    (src / "csca.der").write_bytes(csca.cert.public_bytes(serialization.Encoding.DER))
    (src / "ml.bin").write_bytes(_cms(identity.MASTER_LIST_OID))
    leaf = csca.issue("not-a-ca")
    (src / "other.cms").write_bytes(_cms("1.2.840.113549.1.7.1"))
    store = tmp_path / "trust"
    with pytest.raises(KeyFormatError, match="not a CA"):
        identity.install_trust(store, [csca.ca_file, leaf.cert])
    with pytest.raises(KeyFormatError, match="not a master list"):
        identity.install_trust(store, [src / "other.cms"])
    with pytest.raises(KeyFormatError, match="neither"):
        identity.install_trust(store, [leaf.key])
    assert not store.exists()
    counts = identity.install_trust(store, [csca.ca_file, src / "csca.der", src / "ml.bin"])
    assert counts == {"csca": 2, "masterlist": 1}
    assert sorted(p.name for p in store.iterdir()) == ["ca.pem", "csca.der", "ml.bin"]
