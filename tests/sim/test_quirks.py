"""Chip and active authentication on the card side, forgeries, and every quirk knob — each with
what the station's reader code does under it."""

from __future__ import annotations

import hashlib
import time

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import load_der_public_key

from station.drivers.reader.pcsc import PcscReader
from station.errors import ProtocolError, StationError, StatusWordError, TagLost
from station.nfc import crypto, tlv
from station.nfc.access import establish
from station.nfc.files import read_file, select_application, supports_extended_length
from station.nfc.lds.security import parse_dg14, parse_dg15
from station.nfc.password import AccessKey
from station.nfc.session import ChipSession
from station.nfc.sm import SecureMessaging
from station.sim import issuer, lds
from station.sim.chip import CardImage, CccdChip, ChipOptions
from station.sim.citizens import Citizen, generate
from station.sim.vpcd import Latency, VpcdLink
from station.testing.pcscd import PcscdTestbed
from tests.fakes import Direct

FILES = ("COM", "DG1", "DG2", "DG13", "DG14", "DG15", "SOD")


@pytest.fixture(scope="module")
def card() -> tuple[Citizen, CardImage]:
    c = generate(41)
    return c, issuer.issue(c)


def _channel(chip: CccdChip, c: Citizen) -> tuple[Direct, SecureMessaging]:
    link = Direct(chip)
    return link, establish(link, AccessKey.can(c.can)).channel


def _chip_authenticate(link: Direct, channel: SecureMessaging, dg14: bytes) -> SecureMessaging:
    """Terminal side of CA (ECDH, AES): MSE:Set AT + GENERAL AUTHENTICATE under the PACE keys,
    then new keys from the chip's DG14 public key and SSC 0 (ICAO 9303-11 §6.2)."""
    info = parse_dg14(dg14)
    pub = load_der_public_key(info.chip_authentication_keys[0].public_key)
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    curve = crypto.CURVES[pub.curve.name]
    chip_point = curve.decode(pub.public_bytes(serialization.Encoding.X962,
                                               serialization.PublicFormat.UncompressedPoint))
    private = curve.random_scalar()
    oid = info.chip_authentication[0].oid
    mse = b"\x00\x22\x41\xA4" + bytes((len(tlv.encode(0x80, crypto.encode_oid(oid))),)) \
        + tlv.encode(0x80, crypto.encode_oid(oid))
    assert channel.transmit(mse)[-2:] == b"\x90\x00"
    body = tlv.encode(0x7C, tlv.encode(0x80, curve.encode(curve.public_key(private))))
    answer = channel.transmit(b"\x00\x86\x00\x00" + bytes((len(body),)) + body + b"\x00")
    assert answer == b"\x7c\x00\x90\x00"
    keys = crypto.SessionKeys.derive(curve.shared_x(private, chip_point), "AES")
    return SecureMessaging(link, keys, 0)


def test_chip_authentication_switches_keys(card: tuple[Citizen, CardImage]) -> None:
    c, image = card
    link, channel = _channel(CccdChip(image), c)
    new = _chip_authenticate(link, channel, image.app_files[0x010E])
    select_application(new)
    assert read_file(new, 0x0101) == image.app_files[0x0101]
    with pytest.raises(ProtocolError):  # the old PACE keys are gone
        read_file(channel, 0x0101)


def _aa_verify(dg15: bytes, challenge: bytes, signature: bytes) -> bool:
    key = load_der_public_key(parse_dg15(dg15))
    if isinstance(key, rsa.RSAPublicKey):
        n, e = key.public_numbers().n, key.public_numbers().e
        rep = pow(int.from_bytes(signature, "big"), e, n).to_bytes(key.key_size // 8, "big")
        if rep[0] != 0x6A or rep[-1] != 0xBC:
            return False
        m1, digest = rep[1:-21], rep[-21:-1]
        return hashlib.sha1(m1 + challenge).digest() == digest
    assert isinstance(key, ec.EllipticCurvePublicKey)
    half = len(signature) // 2
    der = encode_dss_signature(int.from_bytes(signature[:half], "big"),
                               int.from_bytes(signature[half:], "big"))
    try:
        key.verify(der, challenge, ec.ECDSA(hashes.SHA256()))
    except Exception:
        return False
    return True


@pytest.mark.parametrize("algorithm", ["rsa", "ecdsa"])
def test_active_authentication(algorithm: str) -> None:
    c = generate(42)
    options = ChipOptions(aa=algorithm)  # type: ignore[arg-type]
    image = issuer.issue(c, options)
    _, channel = _channel(CccdChip(image, options), c)
    challenge = bytes.fromhex("0123456789ABCDEF")
    answer = channel.transmit(b"\x00\x88\x00\x00\x08" + challenge + b"\x00")
    assert answer[-2:] == b"\x90\x00"
    assert _aa_verify(image.app_files[0x010F], challenge, answer[:-2])
    assert not _aa_verify(image.app_files[0x010F], bytes(8), answer[:-2])


def test_clone_passes_files_but_fails_ca_and_aa(card: tuple[Citizen, CardImage]) -> None:
    c, image = card
    fake = issuer.clone(image)
    assert fake.app_files == image.app_files
    link, channel = _channel(CccdChip(fake), c)
    challenge = bytes(range(8))
    answer = channel.transmit(b"\x00\x88\x00\x00\x08" + challenge + b"\x00")
    assert not _aa_verify(image.app_files[0x010F], challenge, answer[:-2])
    new = _chip_authenticate(link, channel, image.app_files[0x010E])
    with pytest.raises(ProtocolError):  # the clone derived other keys: 6988
        select_application(new)


def test_untrusted_dsc_signs_the_sod() -> None:
    image = issuer.issue(generate(43), signer="untrusted")
    pki = issuer.test_pki()
    signed = cms.ContentInfo.load(tlv.decode(image.app_files[0x011D]).value)["content"]
    cert = x509.load_der_x509_certificate(signed["certificates"][0].chosen.dump())
    assert cert.public_bytes(serialization.Encoding.DER) == pki.untrusted_dsc.der
    with pytest.raises((ValueError, TypeError, InvalidSignature)):  # not the genuine CSCA
        cert.verify_directly_issued_by(pki.csca.cert)
    cert.verify_directly_issued_by(pki.rogue_csca.cert)


# --- read-size quirks ------------------------------------------------------------------------


def _read(image: CardImage, options: ChipOptions, c: Citizen, *,
          extended: bool = False) -> tuple[ChipSession, dict[str, bytes]]:
    session = ChipSession(AccessKey.can(c.can), FILES, extended=extended)
    read = session.read(Direct(CccdChip(image, options)))
    return session, read.files


def _expected(image: CardImage) -> dict[str, bytes]:
    fids = {"COM": 0x011E, "DG1": 0x0101, "DG2": 0x0102, "DG13": 0x010D, "DG14": 0x010E,
            "DG15": 0x010F, "SOD": 0x011D}
    return {n: image.app_files[f] for n, f in fids.items()}


@pytest.mark.parametrize("max_read", [0xDF, 0x80])
def test_max_read_size_reader_continues_with_short_answers(
        card: tuple[Citizen, CardImage], max_read: int) -> None:
    c, image = card
    normal, _ = _read(image, ChipOptions(), c)
    session, files = _read(image, ChipOptions(max_read=max_read), c)
    assert files == _expected(image)
    if max_read < 0xDF:
        assert session.apdus > normal.apdus


def test_6700_above_a_size_makes_the_reader_step_down(card: tuple[Citizen, CardImage]) -> None:
    c, image = card
    session, files = _read(image, ChipOptions(wrong_length_above=128), c)
    assert files == _expected(image)
    assert session.strategy is not None and session.strategy.step_downs
    assert session.strategy.max_le <= 128


def test_extended_length(card: tuple[Citizen, CardImage]) -> None:
    c, image = card
    short, _ = _read(image, ChipOptions(), c)
    ext, files = _read(image, ChipOptions(extended_length=True), c, extended=True)
    assert files == _expected(image) and ext.apdus < short.apdus
    # The reader asks extended length only when the ATR advertises it (ISO 7816-4 §8.1.1.2.7).
    assert supports_extended_length(CccdChip(image, ChipOptions(extended_length=True)).atr)
    assert not supports_extended_length(CccdChip(image).atr)
    # A chip without extended length refuses an extended READ BINARY with 6700.
    chip = CccdChip(image)
    _, channel = _channel(chip, c)
    select_application(channel)
    channel.transmit(bytes.fromhex("00A4020C020102"))
    assert channel.transmit(bytes.fromhex("00B00000000400"))[-2:] == b"\x67\x00"


@pytest.mark.parametrize("fault", ["garbage", "truncate", "wrong_length", "mute"])
def test_broken_answers_give_typed_errors(card: tuple[Citizen, CardImage], fault: str) -> None:
    c, image = card
    for index in (2, 9, 14):  # access control, first file, a later file
        chip = CccdChip(image, ChipOptions(faults={index: fault}))  # type: ignore[dict-item]
        try:
            read = ChipSession(AccessKey.can(c.can), FILES).read(Direct(chip))
        except StationError:
            continue  # typed: ProtocolError / StatusWordError / AuthFailed / LdsFormatError
        # A fault the reader absorbed (a short plain answer is read on) must still give the
        # genuine files, never corrupted ones.
        assert read.files == _expected(image), f"fault {fault} at APDU {index}"


def test_wrong_length_fault_is_a_status_word_error(card: tuple[Citizen, CardImage]) -> None:
    c, image = card
    # APDU 2 reads the rest of EF.CardAccess (well under the maximum size): 6700 there is the
    # chip's error, not a size to step down from.
    chip = CccdChip(image, ChipOptions(faults={2: "wrong_length"}))
    with pytest.raises(StatusWordError):
        ChipSession(AccessKey.can(c.can), FILES).read(Direct(chip))


def test_wrong_length_to_the_sfi_read_falls_back_to_select(
        card: tuple[Citizen, CardImage]) -> None:
    c, image = card
    # APDU 1 reads EF.CardAccess's header by short EF identifier: a chip answering 6700 there
    # does not offer SFI addressing, and the reader goes on with SELECT.
    chip = CccdChip(image, ChipOptions(faults={1: "wrong_length"}))
    read = ChipSession(AccessKey.can(c.can), FILES).read(Direct(chip))
    assert read.files == _expected(image)


# --- through pcscd: tag loss and latency --------------------------------------------------------


def test_drop_after_n_apdus_then_resume(pcscd: PcscdTestbed,
                                        card: tuple[Citizen, CardImage]) -> None:
    c, image = card
    session = ChipSession(AccessKey.can(c.can), FILES)
    chip = CccdChip(image)
    link = VpcdLink(chip, pcscd.slot_port(1))
    link.drop_after = 30
    link.insert()
    conn = PcscReader(pcscd.readers[1]).wait_for_card(10)
    try:
        with pytest.raises(TagLost):
            session.read(conn)
    finally:
        conn.close()
        link.remove()
    assert not session.complete
    time.sleep(1.0)  # let pcscd's vpcd driver notice the card has gone before the next tap
    link = VpcdLink(chip, pcscd.slot_port(1))
    link.insert()
    conn = PcscReader(pcscd.readers[1]).wait_for_card(10)
    try:
        read = session.read(conn)
    finally:
        conn.close()
        link.remove()
    assert read.taps == 2 and read.files == _expected(image)


def test_latency_model_is_paid_per_apdu(pcscd: PcscdTestbed,
                                        card: tuple[Citizen, CardImage]) -> None:
    c, image = card
    latency = Latency(per_apdu_ms=10, bit_rate=106_000)
    link = VpcdLink(CccdChip(image), pcscd.slot_port(1), latency=latency)
    link.insert()
    conn = PcscReader(pcscd.readers[1]).wait_for_card(10)
    try:
        started = time.monotonic()
        read = ChipSession(AccessKey.can(c.can), ("DG1", "DG13")).read(conn)
        elapsed = time.monotonic() - started
    finally:
        conn.close()
        link.remove()
    assert elapsed >= read.apdus * 0.010  # at least the modelled round trips
    assert latency.delay_s(100, 200) == pytest.approx(0.010 + 300 * 10 / 106_000)


def test_lds_encoders_name_their_curve() -> None:
    assert lds.ec_curve("brainpoolP256r1").name == "brainpoolP256r1"
    with pytest.raises(ValueError):
        lds.ec_curve("curve25519")
