"""Chip Authentication v1, terminal side, against the virtual chip's card side (in-process):
every cipher of the ChipAuthenticationInfo, several curves, explicit-parameter keys, the clone,
tag loss after CA; the DG14 choice rules; DH key agreement checked by an independent card-side
computation."""

from __future__ import annotations

import secrets
from dataclasses import replace

import pytest
from asn1crypto import core, keys
from cryptography.hazmat.primitives.asymmetric import ec

from station.errors import TagLost
from station.nfc import ca, tlv
from station.nfc.lds.secinfo import parse_security_infos
from station.nfc.lds.security import parse_dg14
from station.nfc.password import AccessKey
from station.nfc.session import ChipSession
from station.reasons import CA_FAILED
from station.sim import issuer, lds
from station.sim.chip import CccdChip, ChipOptions
from station.sim.citizens import generate
from tests.fakes import Direct


@pytest.mark.parametrize("cipher,curve", [
    ("AES-128", "brainpoolP256r1"), ("AES-192", "secp256r1"), ("AES-256", "brainpoolP384r1"),
    ("3DES", "brainpoolP256r1"), ("AES-128", "secp521r1"),
])
def test_ca_switches_keys_and_the_rest_is_read_under_them(cipher: lds.CipherName,
                                                          curve: str) -> None:
    options = ChipOptions(ca_cipher=cipher, ca_curve=curve, aa=None)
    image = issuer.issue(generate(61), options)
    chip = CccdChip(image, options)
    read = ChipSession(AccessKey.can(image.can)).read(Direct(chip))
    assert read.chip_authentication is not None and read.chip_authentication.ok, \
        read.chip_authentication
    kind = "3DES" if cipher == "3DES" else "AES"
    assert read.chip_authentication.detail.startswith(f"CA ECDH {kind}")
    # The chip is now on the CA keys: its session keys are no longer PACE's.
    assert chip.keys is not None and chip.keys.cipher == kind
    for fid, name in ((0x0101, "DG1"), (0x010D, "DG13"), (0x011D, "SOD")):
        assert read.files[name] == image.app_files[fid]
    assert read.card_security is None  # the virtual CCCD has no EF.CardSecurity


def test_clone_fails_ca_but_the_files_are_still_read() -> None:
    options = ChipOptions(aa=None)
    image = issuer.issue(generate(62), options)
    forged = issuer.clone(image, options)
    read = ChipSession(AccessKey.can(image.can)).read(Direct(CccdChip(forged, options)))
    proof = read.chip_authentication
    assert proof is not None and not proof.ok and proof.reason == CA_FAILED
    assert "new keys" in proof.detail
    assert read.files["DG1"] == image.app_files[0x0101]
    assert read.files["SOD"] == image.app_files[0x011D]


def test_tag_loss_after_ca_resumes_with_ca_again() -> None:
    options = ChipOptions(aa=None)
    image = issuer.issue(generate(63), options)
    chip = CccdChip(image, options)
    full = Direct(chip)
    ChipSession(AccessKey.can(image.can)).read(full)
    for drop in range(8, full.count, 3):
        session = ChipSession(AccessKey.can(image.can))
        with pytest.raises(TagLost):
            session.read(Direct(chip, drop_after=drop))
        read = session.read(Direct(chip))
        assert read.chip_authentication is not None and read.chip_authentication.ok
        assert read.files["SOD"] == image.app_files[0x011D]


def test_a_chip_refusing_ca_keeps_the_old_channel() -> None:
    # DG14 says 3DES but the chip only accepts the AES form: MSE:Set KAT is refused, SM lives.
    options = ChipOptions(ca_cipher="AES-128", aa=None)
    image = issuer.issue(generate(64), options)
    dg14 = lds.dg14(image.ca_key.public_key(), "3DES")  # type: ignore[union-attr]
    chip_options = replace(options, ca_cipher=None)
    files = dict(image.app_files)
    files[0x010E] = dg14
    read = ChipSession(AccessKey.can(image.can)).read(
        Direct(CccdChip(replace(image, app_files=files), chip_options)))
    proof = read.chip_authentication
    assert proof is not None and not proof.ok and "refused" in proof.detail
    assert read.files["DG13"] == image.app_files[0x010D]


def _spki_ec(key: ec.EllipticCurvePublicKey) -> bytes:
    return lds.spki(key)


def test_choose_prefers_aes_and_matches_key_ids() -> None:
    k1 = ec.generate_private_key(ec.BrainpoolP256R1()).public_key()
    k2 = ec.generate_private_key(ec.SECP256R1()).public_key()
    pk = "0.4.0.127.0.7.2.2.1.2"

    def seq(*parts: bytes) -> bytes:
        return tlv.encode(0x30, b"".join(parts))

    def oid(o: str) -> bytes:
        return tlv.encode(0x06, bytes(core.ObjectIdentifier(o).contents))

    def integer(n: int) -> bytes:
        return tlv.encode(0x02, bytes((n,)))

    infos = parse_security_infos(tlv.encode(0x31, b"".join([
        seq(oid(pk), _spki_ec(k1), integer(1)),
        seq(oid(pk), _spki_ec(k2), integer(2)),
        seq(oid("0.4.0.127.0.7.2.2.3.2.1"), integer(1), integer(1)),
        seq(oid("0.4.0.127.0.7.2.2.3.2.4"), integer(1), integer(2)),
    ])))
    option = ca.choose(infos)
    assert option is not None
    assert option.key.key_id == 2 and option.info.cipher == "AES" and option.info.key_bits == 256
    # Keys but no protocol of a supported version: a clear error, not a silent skip.
    only_v2 = parse_security_infos(tlv.encode(0x31, b"".join([
        seq(oid(pk), _spki_ec(k1)), seq(oid("0.4.0.127.0.7.2.2.3.2.2"), integer(2)),
        seq(oid("0.4.0.127.0.7.2.2.3.2.1"), integer(2))])))
    with pytest.raises(ca.ChipAuthenticationError):
        ca.choose(only_v2)
    # No CA key at all: not performed.
    assert ca.choose(parse_security_infos(tlv.encode(0x31, b""))) is None
    # A single key and no ChipAuthenticationInfo: CA v1 with 3DES (ICAO 9303-11 §9.2.5).
    implied = ca.choose(parse_security_infos(tlv.encode(0x31, seq(oid(pk), _spki_ec(k1)))))
    assert implied is not None and implied.info.cipher == "3DES"


def test_dg14_of_the_issuer_is_understood() -> None:
    options = ChipOptions(ca_cipher="AES-256", ca_curve="secp384r1")
    image = issuer.issue(generate(65), options)
    option = ca.choose(parse_dg14(image.app_files[0x010E]))
    assert option is not None and option.description == "CA ECDH AES-256"


def test_explicit_parameter_key_agrees_like_the_named_one() -> None:
    # Real DG14s often spell out the curve: the agreement must map it to the named curve.
    priv = ec.generate_private_key(ec.BrainpoolP256R1())
    named = keys.PublicKeyInfo.load(lds.spki(priv.public_key()))
    from station.nfc.crypto import BRAINPOOL_P256R1 as c

    size = c.size
    specified = keys.SpecifiedECDomain({
        "version": "ecdpVer1",
        "field_id": {"field_type": "prime_field", "parameters": c.p},
        "curve": {"a": c.a.to_bytes(size, "big"), "b": c.b.to_bytes(size, "big")},
        "base": c.encode(c.g), "order": c.n, "cofactor": 1})
    explicit = keys.PublicKeyInfo({
        "algorithm": {"algorithm": "ec", "parameters": keys.ECDomainParameters(
            name="specified", value=specified)},
        "public_key": named["public_key"]}).dump()
    agreement = ca.agree(explicit)
    peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.BrainpoolP256R1(), agreement.public)
    assert priv.exchange(ec.ECDH(), peer) == agreement.secret
    # An altered generator is refused.
    bad = keys.PublicKeyInfo({
        "algorithm": {"algorithm": "ec", "parameters": keys.ECDomainParameters(
            name="specified", value=keys.SpecifiedECDomain({
                **specified.native, "base": c.encode(c.mul(2, c.g))}))},
        "public_key": named["public_key"]}).dump()
    with pytest.raises(ca.ChipAuthenticationError):
        ca.agree(bad)


def _probable_prime(n: int) -> bool:
    if n < 2 or any(n % p == 0 for p in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)):
        return n in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)
    d, r = n - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for _ in range(16):
        x = pow(secrets.randbelow(n - 3) + 2, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _dh_group() -> tuple[int, int, int]:
    """A 1024-bit prime p with a 160-bit subgroup of order q (DSA-style, as DH chips use)."""
    while True:
        q = secrets.randbits(160) | (1 << 159) | 1
        if _probable_prime(q):
            break
    while True:
        k = secrets.randbits(1024 - 160) | (1 << (1023 - 160))
        p = k * 2 * q + 1
        if p.bit_length() == 1024 and _probable_prime(p):
            break
    g = pow(2, (p - 1) // q, p)
    assert g != 1
    return p, g, q


def test_dh_agreement_matches_the_chip_side() -> None:
    p, g, q = _dh_group()
    x_chip = secrets.randbelow(q - 2) + 2
    y = pow(g, x_chip, p)
    spki = keys.PublicKeyInfo({
        "algorithm": {"algorithm": "dh", "parameters": keys.DomainParameters(
            {"p": p, "g": g, "q": q})},
        "public_key": core.Integer(y)}).dump()
    agreement = ca.agree(spki)
    size = (p.bit_length() + 7) // 8
    terminal_public = int.from_bytes(agreement.public, "big")
    assert len(agreement.public) == size and pow(terminal_public, q, p) == 1
    assert agreement.secret == pow(terminal_public, x_chip, p).to_bytes(size, "big")
    # A public key outside the subgroup is refused (small-subgroup attack).
    bad = keys.PublicKeyInfo({
        "algorithm": {"algorithm": "dh", "parameters": keys.DomainParameters(
            {"p": p, "g": g, "q": q})},
        "public_key": core.Integer(p - 1)}).dump()
    with pytest.raises(ca.ChipAuthenticationError):
        ca.agree(bad)


def test_small_file_first_still_steps_down_on_6700() -> None:
    # DG14 (read first for CA) is smaller than the SM maximum: its one READ BINARY asks for
    # less than the maximum, and a chip limited below that answers 6700 — the reader must still
    # step down instead of failing.
    options = ChipOptions(wrong_length_above=0x40, aa=None)
    image = issuer.issue(generate(66), options)
    assert len(image.app_files[0x010E]) < 223
    read = ChipSession(AccessKey.can(image.can)).read(Direct(CccdChip(image, options)))
    assert read.files["DG14"] == image.app_files[0x010E]
    assert read.chip_authentication is not None and read.chip_authentication.ok
