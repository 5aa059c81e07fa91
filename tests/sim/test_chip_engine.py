"""The virtual chip's protocol engine, in-process: answer sizes (short, extended, odd INS,
quirks), PACE command chaining, secure-messaging aborts, Chip and Active Authentication
checked with independent terminal-side computations, and tag loss at every APDU of a full
secure-messaging read."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from station.errors import ProtocolError, TagLost
from station.nfc import crypto, sm, tlv
from station.nfc.access import establish
from station.nfc.apdu import CommandApdu, transceive
from station.nfc.files import read_binary, read_file, select_application
from station.nfc.password import AccessKey
from station.nfc.session import DEFAULT_FILES, FILE_IDS, ChipSession
from station.sim import issuer, lds
from station.sim.chip import CardImage, CccdChip, ChipOptions
from station.sim.citizens import generate
from tests.fakes import Direct

H = bytes.fromhex


@pytest.fixture(scope="module")
def image() -> CardImage:
    return issuer.issue(generate(41))


def _expected(image: CardImage, names: tuple[str, ...] = DEFAULT_FILES) -> dict[str, bytes]:
    return {n: image.app_files[FILE_IDS[n]] for n in names}


def _channel(chip: CccdChip, image: CardImage) -> sm.SecureMessaging:
    channel = establish(Direct(chip), AccessKey.can(image.can)).channel
    select_application(channel)
    return channel


def _select(channel: sm.SecureMessaging, fid: int) -> None:
    transceive(channel, CommandApdu(0, 0xA4, 2, 0x0C, fid.to_bytes(2, "big"))).check()


def test_answers_fit_the_response_apdu(image: CardImage) -> None:
    chip = CccdChip(image, ChipOptions(extended_length=True))
    channel = _channel(chip, image)
    dg2 = image.app_files[0x0102]
    assert len(dg2) > 8000
    _select(channel, 0x0102)
    # Le 00 in a short APDU under AES SM: 223 plaintext bytes fill the 256-byte answer.
    assert read_binary(channel, 0, 256) == dg2[:223]
    # Extended length: one APDU carries thousands of bytes.
    assert read_binary(channel, 100, 5000, extended=True) == dg2[100:5100]
    # Odd INS (the form for offsets past 32767, usable at any offset): DO'85' (no padding
    # indicator) around DO'53' { data }: 220 bytes fit a short answer.
    for le, extended, n in ((256, False, 220), (300, True, 300)):
        cmd = CommandApdu(0, 0xB1, 0, 0, tlv.encode(0x54, (7000).to_bytes(2, "big")), le=le,
                          extended=extended)
        resp = transceive(channel, cmd).check()
        assert tlv.decode(resp.data).value == dg2[7000 : 7000 + n]


def test_3des_answers_fit_too() -> None:
    c = generate(42)
    options = ChipOptions(pace=(lds.PaceOption("brainpoolP256r1", "3DES"),), aa=None)
    image = issuer.issue(c, options)
    channel = _channel(CccdChip(image, options), image)
    _select(channel, 0x0102)
    assert read_binary(channel, 0, 256) == image.app_files[0x0102][:231]


def test_extended_apdus_refused_unless_offered(image: CardImage) -> None:
    channel = _channel(CccdChip(image), image)
    _select(channel, 0x011D)
    assert transceive(channel, CommandApdu(0, 0xB0, 0, 0, le=1000, extended=True)).sw == 0x6700


@pytest.mark.parametrize("options", [ChipOptions(max_read=0x80),
                                     ChipOptions(wrong_length_above=0x80)])
def test_read_quirks_and_the_reader_steps_down(image: CardImage, options: ChipOptions) -> None:
    chip = CccdChip(image, options)
    channel = _channel(chip, image)
    _select(channel, 0x011D)
    if options.max_read:
        assert read_binary(channel, 0, 200) == image.app_files[0x011D][:0x80]
    else:
        assert transceive(channel, CommandApdu(0, 0xB0, 0, 0, le=200)).sw == 0x6700
    assert ChipSession(AccessKey.can(image.can)).read(Direct(chip)).files == _expected(image)


def test_pace_without_command_chaining_is_refused(image: CardImage) -> None:
    chip = CccdChip(image)
    card = Direct(chip)
    set_at = ("0022C1A412800A04007F00070202040202830102" "84010D")
    assert card.transmit(H(set_at)).hex().upper() == "9000"
    assert card.transmit(H("00860000027C0000")) == H("6985")  # step 1 must be chained


def test_plain_command_ends_secure_messaging(image: CardImage) -> None:
    chip = CccdChip(image)
    _channel(chip, image)
    assert chip.process(H("00A4040C07A0000002471001")) == H("9000")
    assert chip.keys is None
    assert chip.process(H("00A4020C020101")) == H("9000")
    assert chip.process(H("00B0000004")) == H("6982")


def test_wrong_mac_drops_the_keys_and_the_old_channel_is_dead(image: CardImage) -> None:
    chip = CccdChip(image)
    channel = _channel(chip, image)
    channel.ssc += 1
    protected = sm.protect_command(channel.keys, channel.ssc, CommandApdu(0, 0xB0, 0, 0, le=4))
    raw = bytearray(protected.encode())
    raw[-2] ^= 0x01  # inside DO'8E'
    assert chip.process(bytes(raw)) == H("6988")
    assert chip.process(protected.encode()) == H("6985")


@pytest.mark.parametrize("cipher", ["AES-128", "AES-256", "3DES"])
def test_chip_authentication_switches_to_new_keys(cipher: lds.CipherName) -> None:
    options = ChipOptions(ca_cipher=cipher, aa=None)
    image = issuer.issue(generate(43), options)
    chip = CccdChip(image, options)
    channel = _channel(chip, image)
    assert image.ca_key is not None
    curve = crypto.CURVES[image.ca_key.curve.name]
    priv = curve.random_scalar()
    pub = curve.encode(curve.public_key(priv))
    if cipher == "3DES":
        # MSE:Set KAT, the one-step form for 3DES (ICAO 9303-11 §6.2.4.1).
        resp = transceive(channel, CommandApdu(0, 0x22, 0x41, 0xA6, tlv.encode(0x91, pub)))
        kind, bits = "3DES", 128
    else:
        oid = crypto.encode_oid(f"0.4.0.127.0.7.2.2.3.2.{lds.CIPHER_ARC[cipher]}")
        transceive(channel, CommandApdu(0, 0x22, 0x41, 0xA4, tlv.encode(0x80, oid))).check()
        resp = transceive(channel, CommandApdu(0, 0x86, 0, 0, tlv.encode(0x7C, tlv.encode(
            0x80, pub)), le=256))
        assert resp.data == H("7C00")
        kind, bits = "AES", int(cipher[4:])
    resp.check()
    chip_pub = image.ca_key.public_key().public_numbers()
    secret = curve.shared_x(priv, (chip_pub.x, chip_pub.y))
    new_keys = crypto.SessionKeys.derive(secret, kind, bits)  # type: ignore[arg-type]
    new = sm.SecureMessaging(channel.inner, new_keys, 0)
    assert read_file(new, 0x0101) == image.app_files[0x0101]
    with pytest.raises(ProtocolError):  # the PACE keys are gone
        read_file(channel, 0x0101)


def test_active_authentication_rsa_iso9796_2(image: CardImage) -> None:
    chip = CccdChip(image)
    assert Direct(chip).transmit(H("0088000008" "0102030405060708" "00")) == H("6982")
    channel = _channel(chip, image)
    challenge = H("1122334455667788")
    sig = transceive(channel, CommandApdu(0, 0x88, 0, 0, challenge, le=256)).check().data
    assert image.aa_key is not None and not isinstance(image.aa_key, ec.EllipticCurvePrivateKey)
    n = image.aa_key.public_key().public_numbers()
    k = (n.n.bit_length() + 7) // 8
    rep = pow(int.from_bytes(sig, "big"), n.e, n.n).to_bytes(k, "big")
    assert rep[0] == 0x6A and rep[-1] == 0xBC  # scheme 1, partial recovery, SHA-1 trailer
    assert rep[-21:-1] == hashlib.sha1(rep[1:-21] + challenge).digest()


def test_active_authentication_ecdsa_plain_signature() -> None:
    options = ChipOptions(aa="ecdsa")
    image = issuer.issue(generate(44), options)
    channel = _channel(CccdChip(image, options), image)
    challenge = H("A1A2A3A4A5A6A7A8")
    sig = transceive(channel, CommandApdu(0, 0x88, 0, 0, challenge, le=256)).check().data
    assert isinstance(image.aa_key, ec.EllipticCurvePrivateKey) and len(sig) == 64
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    image.aa_key.public_key().verify(der, challenge, ec.ECDSA(hashes.SHA256()))


def test_tag_loss_at_every_apdu_resumes_with_identical_data(image: CardImage) -> None:
    chip = CccdChip(image)
    full = Direct(chip)
    ChipSession(AccessKey.can(image.can)).read(full)
    assert full.count > 20
    for index in range(full.count):
        session = ChipSession(AccessKey.can(image.can))
        with pytest.raises(TagLost):
            session.read(Direct(chip, drop_after=index))
        result = session.read(Direct(chip))
        assert result.files == _expected(image), index
        assert result.taps == 2
