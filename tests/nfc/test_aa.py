"""Active Authentication, terminal side: ISO/IEC 9796-2 scheme 1 recovery with every trailer
(BC, 33CC, 34CC, 38CC…) built here with raw RSA, the n − J form, forged and replayed answers;
ECDSA with DG14's algorithm; and the whole exchange against the virtual chip."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from station.nfc import aa, tlv
from station.nfc.lds.secinfo import parse_security_infos
from station.nfc.password import AccessKey
from station.nfc.session import ChipSession
from station.reasons import AA_FAILED
from station.sim import issuer, lds
from station.sim.chip import CccdChip, ChipOptions, iso9796_2_sign
from station.sim.citizens import generate
from tests.fakes import Direct

CHALLENGE = bytes.fromhex("0102030405060708")


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, 1024)


def _sign(key: rsa.RSAPrivateKey, hash_name: str, trailer: bytes, header: int = 0x6A,
          challenge: bytes = CHALLENGE, complement: bool = False) -> bytes:
    k = key.key_size // 8
    h_len = hashlib.new(hash_name).digest_size
    m1 = bytes(range(1, k - h_len - len(trailer)))[: k - 1 - h_len - len(trailer)]
    rep = bytes((header,)) + m1 + hashlib.new(hash_name, m1 + challenge).digest() + trailer
    assert len(rep) == k
    n = key.private_numbers().public_numbers.n
    s = pow(int.from_bytes(rep, "big"), key.private_numbers().d, n)
    if complement:
        s = n - s
    return s.to_bytes(k, "big")


@pytest.mark.parametrize("hash_name,trailer", [
    ("sha1", b"\xbc"), ("sha1", b"\x33\xcc"), ("sha256", b"\x34\xcc"), ("sha224", b"\x38\xcc"),
    ("sha384", b"\x36\xcc"), ("sha512", b"\x35\xcc"),
])
def test_iso9796_2_trailers(key: rsa.RSAPrivateKey, hash_name: str, trailer: bytes) -> None:
    n = key.public_key().public_numbers()
    assert aa.verify_iso9796_2(n.n, n.e, _sign(key, hash_name, trailer), CHALLENGE) == hash_name
    # A signature over another challenge (a replayed answer) does not verify.
    with pytest.raises(aa.ActiveAuthenticationError):
        aa.verify_iso9796_2(n.n, n.e, _sign(key, hash_name, trailer), b"\x00" * 8)


def test_iso9796_2_variants_and_forgeries(key: rsa.RSAPrivateKey) -> None:
    n = key.public_key().public_numbers()
    # The signer may send n − J^d (ISO/IEC 9796-2 §B.6); the verifier takes n − J.
    assert aa.verify_iso9796_2(n.n, n.e, _sign(key, "sha1", b"\xbc", complement=True),
                               CHALLENGE) == "sha1"
    # Total recovery header 4A is scheme 1 too.
    assert aa.verify_iso9796_2(n.n, n.e, _sign(key, "sha256", b"\x34\xcc", header=0x4A),
                               CHALLENGE) == "sha256"
    # The chip's own signer (SHA-1, BC).
    assert aa.verify_iso9796_2(n.n, n.e, iso9796_2_sign(key, CHALLENGE), CHALLENGE) == "sha1"
    for bad in (_sign(key, "sha1", b"\xbc", header=0x0A),      # no 01 header bits
                _sign(key, "sha1", b"\x31\xcc"),               # RIPEMD-160: not accepted
                bytes(128), b"\x01" * 127,                    # zero / wrong size
                (n.n + 1).to_bytes(129, "big")[1:]):          # ≥ n
        with pytest.raises(aa.ActiveAuthenticationError):
            aa.verify_iso9796_2(n.n, n.e, bad, CHALLENGE)
    sig = bytearray(_sign(key, "sha1", b"\xbc"))
    sig[5] ^= 1
    with pytest.raises(aa.ActiveAuthenticationError):
        aa.verify_iso9796_2(n.n, n.e, bytes(sig), CHALLENGE)


def _aa_info(oid: str) -> bytes:
    from asn1crypto import core

    def o(x: str) -> bytes:
        return tlv.encode(0x06, bytes(core.ObjectIdentifier(x).contents))

    return tlv.encode(0x31, tlv.encode(0x30, o("2.23.136.1.1.5") + tlv.encode(0x02, b"\x01")
                                       + o(oid)))


@pytest.mark.parametrize("oid,hash_cls", [
    ("0.4.0.127.0.7.1.1.4.1.3", "SHA256"), ("0.4.0.127.0.7.1.1.4.1.4", "SHA384"),
    ("1.2.840.10045.4.3.2", "SHA256"), ("0.4.0.127.0.7.1.1.4.1.1", "SHA1"),
])
def test_ecdsa_uses_dg14s_hash(oid: str, hash_cls: str) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    priv = ec.generate_private_key(ec.BrainpoolP256R1())
    der = priv.sign(CHALLENGE, ec.ECDSA(getattr(hashes, hash_cls)()))
    r, s = decode_dss_signature(der)
    plain = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    infos = parse_security_infos(_aa_info(oid))
    spki = lds.spki(priv.public_key())
    assert aa.verify_signature(spki, infos, CHALLENGE, plain).startswith("AA ECDSA")
    with pytest.raises(aa.ActiveAuthenticationError):
        aa.verify_signature(spki, infos, CHALLENGE[::-1], plain)
    with pytest.raises(aa.ActiveAuthenticationError):  # DER instead of plain r||s
        aa.verify_signature(spki, infos, CHALLENGE, der)
    with pytest.raises(aa.ActiveAuthenticationError, match="ActiveAuthenticationInfo"):
        aa.verify_signature(spki, None, CHALLENGE, plain)


@pytest.mark.parametrize("kind", ["rsa", "ecdsa"])
def test_aa_against_the_chip_and_a_mismatched_key(kind: str) -> None:
    options = ChipOptions(aa=kind)  # type: ignore[arg-type]
    image = issuer.issue(generate(71), options)
    read = ChipSession(AccessKey.can(image.can)).read(Direct(CccdChip(image, options)))
    assert read.active_authentication is not None and read.active_authentication.ok
    assert read.chip_authentication is not None and read.chip_authentication.ok
    # Only the AA key differs from DG15's: AA fails, CA still passes.
    _, other = issuer.new_chip_keys(options)
    mismatch = replace(image, aa_key=other)
    read = ChipSession(AccessKey.can(image.can)).read(Direct(CccdChip(mismatch, options)))
    proof = read.active_authentication
    assert proof is not None and not proof.ok and proof.reason == AA_FAILED
    assert read.chip_authentication is not None and read.chip_authentication.ok


def test_no_authentication_when_not_asked() -> None:
    image = issuer.issue(generate(72))
    chip = Direct(CccdChip(image))
    read = ChipSession(AccessKey.can(image.can), authenticate_chip=False).read(chip)
    assert read.chip_authentication is None and read.active_authentication is None
    assert read.files["DG15"] == image.app_files[0x010F]
