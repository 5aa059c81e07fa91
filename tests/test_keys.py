"""station.keys on real files: modes, owners, formats, atomic writes, no key material in errors."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from station import keys
from station.errors import KeyFormatError, KeyMissing, UnsafeKeyFile


@pytest.fixture()
def paths(tmp_path: Path) -> keys.KeyPaths:
    p = keys.KeyPaths.under(tmp_path)
    keys.ensure_key_dir(p.dir)
    return p


def test_layout_matches_the_contract(tmp_path: Path) -> None:
    p = keys.KeyPaths.under(tmp_path / "state")
    assert p.signing == tmp_path / "state/keys/signing.pem"
    assert p.backend_seal == tmp_path / "state/keys/backend-seal.pub.pem"
    assert p.client_key == tmp_path / "state/keys/client.key"
    assert p.client_cert == tmp_path / "state/keys/client.pem"


def test_key_dir_is_0700_even_if_it_was_looser(tmp_path: Path) -> None:
    d = tmp_path / "keys"
    d.mkdir(mode=0o755)
    os.chmod(d, 0o755)
    keys.ensure_key_dir(d)
    assert stat.S_IMODE(d.stat().st_mode) == 0o700


def test_signing_key_round_trip_is_pkcs8_0600(paths: keys.KeyPaths) -> None:
    key = keys.generate_signing_key()
    old = os.umask(0)  # a careless umask must not widen the mode
    try:
        keys.save_private_key(key, paths.signing)
    finally:
        os.umask(old)
    assert stat.S_IMODE(paths.signing.stat().st_mode) == 0o600
    assert paths.signing.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    loaded = keys.load_signing_key(paths.signing)
    sig = loaded.sign(b"record")
    key.public_key().verify(sig, b"record")
    assert not list(paths.dir.glob(".*.tmp"))


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o620])
def test_group_or_world_access_is_refused(paths: keys.KeyPaths, mode: int) -> None:
    keys.save_private_key(keys.generate_signing_key(), paths.signing)
    os.chmod(paths.signing, mode)
    with pytest.raises(UnsafeKeyFile, match=f"{mode:04o}"):
        keys.load_signing_key(paths.signing)


def test_wrong_owner_is_refused(paths: keys.KeyPaths) -> None:
    keys.save_private_key(keys.generate_signing_key(), paths.signing)
    me = os.geteuid()
    with pytest.raises(UnsafeKeyFile, match="owned by uid"):
        keys.load_signing_key(paths.signing, expect_uid=me + 4242)
    if me == 0:
        # Root can hand the key to another user: then that user is the one expected.
        os.chown(paths.signing, 4242, 4242)
        assert keys.load_signing_key(paths.signing, expect_uid=4242)
        with pytest.raises(UnsafeKeyFile, match="owned by uid 4242"):
            keys.load_signing_key(paths.signing, expect_uid=0)


def test_owner_given_at_save_is_applied(paths: keys.KeyPaths) -> None:
    if os.geteuid() != 0:
        pytest.skip("chown needs root")
    keys.save_private_key(keys.generate_tls_key(), paths.client_key, owner=(4243, 4243))
    st = paths.client_key.stat()
    assert (st.st_uid, st.st_gid) == (4243, 4243)
    assert stat.S_IMODE(st.st_mode) == 0o600


def test_symlink_to_a_directory_and_missing_files(paths: keys.KeyPaths) -> None:
    with pytest.raises(KeyMissing):
        keys.load_signing_key(paths.signing)
    paths.signing.mkdir()
    with pytest.raises(UnsafeKeyFile, match="regular file"):
        keys.load_signing_key(paths.signing)


def test_wrong_algorithm_and_garbage_are_typed_and_leak_nothing(paths: keys.KeyPaths) -> None:
    tls = keys.generate_tls_key()
    keys.save_private_key(tls, paths.signing)
    with pytest.raises(KeyFormatError, match="not an Ed25519 key"):
        keys.load_signing_key(paths.signing)
    secret = b"-----BEGIN PRIVATE KEY-----\nc2VjcmV0c2VjcmV0\n-----END PRIVATE KEY-----\n"
    keys.write_file(paths.client_key, secret, 0o600)
    with pytest.raises(KeyFormatError) as info:
        keys.load_tls_key(paths.client_key)
    assert "c2VjcmV0" not in str(info.value)
    assert str(paths.client_key) in str(info.value)


def test_backend_seal_key_is_x25519_spki(paths: keys.KeyPaths) -> None:
    seal = keys.generate_seal_key()
    keys.save_public(keys.public_pem(seal.public_key()), paths.backend_seal)
    assert stat.S_IMODE(paths.backend_seal.stat().st_mode) == 0o644
    assert paths.backend_seal.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    loaded = keys.load_backend_seal_key(paths.backend_seal)
    assert keys.key_id(loaded) == keys.key_id(seal.public_key())
    # An Ed25519 public key in its place is the wrong kind of key.
    keys.save_public(keys.public_pem(keys.generate_signing_key().public_key()),
                     paths.backend_seal)
    with pytest.raises(KeyFormatError, match="X25519"):
        keys.load_backend_seal_key(paths.backend_seal)


def test_csr_carries_the_station_id_and_is_signed_by_the_tls_key() -> None:
    key = keys.generate_tls_key()
    csr = keys.build_csr(key, "hcm-q1-desk-01")
    assert csr.is_signature_valid
    assert keys.certificate_cn(csr) == "hcm-q1-desk-01"
    pub = csr.public_key()
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    assert pub.public_numbers() == key.public_key().public_numbers()
    with pytest.raises(ValueError):
        keys.build_csr(key, "desk/01")  # would escape the topic subtree


def test_rewrite_replaces_atomically(paths: keys.KeyPaths) -> None:
    first = keys.generate_signing_key()
    second = keys.generate_signing_key()
    keys.save_private_key(first, paths.signing)
    keys.save_private_key(second, paths.signing)
    loaded = keys.load_signing_key(paths.signing)
    assert isinstance(loaded, ed25519.Ed25519PrivateKey)
    assert keys.key_id(loaded.public_key()) == keys.key_id(second.public_key())
