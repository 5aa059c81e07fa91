"""The virtual chip against the published ICAO 9303-11 vectors (card side), and read end to end
by the station's own reader code (``station.nfc``) for every access-control variant."""

from __future__ import annotations

import pytest

from station.errors import AuthFailed
from station.nfc import pace
from station.nfc.lds.dg13 import parse_dg13
from station.nfc.lds.secinfo import parse_security_infos
from station.nfc.password import AccessKey
from station.nfc.session import ChipSession
from station.sim import issuer, lds
from station.sim.chip import CardImage, CccdChip, ChipOptions, Randomness
from station.sim.citizens import generate
from tests.fakes import Direct
from tests.nfc.icao_vectors import (
    C_EPH_PRIV,
    C_EPH_PUB,
    C_MAP_PRIV,
    C_MAP_PUB,
    CARD_ACCESS_G,
    CURVE_G,
    EF_COM_D,
    T_EPH_PRIV,
    T_EPH_PUB,
    T_MAP_PRIV,
    T_MAP_PUB,
    TRANSCRIPT_D,
)

H = bytes.fromhex
SELECT_EMRTD = "00A4040C07A0000002471001"


def _ask(chip: CccdChip, apdu: str) -> str:
    return chip.process(H(apdu)).hex().upper()


# --- ICAO 9303-11 worked examples, card side --------------------------------------------------


def _vector_g_chip() -> CccdChip:
    image = CardImage({0x011C: CARD_ACCESS_G}, {}, can="000000",
                      mrz_information="T22000129364081251010318")
    options = ChipOptions(pace=(lds.PaceOption("brainpoolP256r1", "AES-128"),), aa=None)
    randomness = Randomness(nonces=[H("3F00C4D39D153F2B2A214A078D899B22")],
                            scalars=[C_MAP_PRIV, C_EPH_PRIV])
    return CccdChip(image, options, randomness=randomness)


def test_ef_card_access_encoder_gives_the_vector() -> None:
    assert lds.ef_card_access([lds.PaceOption()], ca_cipher=None, ta=False) == CARD_ACCESS_G


def test_pace_appendix_g_chip_answers_the_vector() -> None:
    chip = _vector_g_chip()
    enc = CURVE_G.encode
    assert _ask(chip, "0022C1A412800A04007F00070202040202830101" "84010D") == "9000"
    assert _ask(chip, "10860000027C0000") == "7C128010" "95A3A016522EE98D01E76CB6B98B42C3" "9000"
    assert _ask(chip, "10860000457C438141" + enc(T_MAP_PUB).hex() + "00") == (
        "7C438241" + enc(C_MAP_PUB).hex().upper() + "9000")
    assert _ask(chip, "10860000457C438341" + enc(T_EPH_PUB).hex() + "00") == (
        "7C438441" + enc(C_EPH_PUB).hex().upper() + "9000")
    assert _ask(chip, "008600000C7C0A8508C2B0BD78D94BA86600") == (
        "7C0A8608" "3ABB9674BCE93C08" "9000")
    assert chip.keys is not None and chip.ssc == 0
    assert chip.keys.k_enc == H("F5F0E35C0D7161EE6724EE513A0D9A7F")
    assert chip.keys.k_mac == H("FE251C7858B356B24514B3BD5F4297D1")


def test_pace_appendix_g_terminal_and_chip_agree() -> None:
    chip = _vector_g_chip()
    info = parse_security_infos(CARD_ACCESS_G).best_pace()
    assert info is not None
    keys = iter((T_MAP_PRIV, T_EPH_PRIV))
    channel, _ = pace.authenticate(Direct(chip), AccessKey.mrz("T22000129", "640812", "101031"),
                                   info, scalars=lambda c: next(keys))
    assert channel.keys.k_enc == H("F5F0E35C0D7161EE6724EE513A0D9A7F")


def test_bac_appendix_d_chip_answers_the_vector_then_the_sm_transcript() -> None:
    image = CardImage({0x011C: CARD_ACCESS_G}, {0x011E: EF_COM_D}, can="000000",
                      mrz_information="L898902C<369080619406236")
    chip = CccdChip(image, ChipOptions(pace=()), randomness=Randomness(nonces=[
        H("4608F91988702212"), H("0B4F80323EB3191CB04970CB4052790B")]))
    assert _ask(chip, SELECT_EMRTD) == "9000"
    assert _ask(chip, "0084000008") == "4608F919887022129000"
    assert _ask(chip, "0082000028" "72C29C2371CC9BDB65B779B8E8D37B29ECC154AA56A8799FAE2F498F"
                "76ED92F25F1448EEA8AD90A728") == (
        "46B9342A41396CD7386BF5803104D7CEDC122B9132139BAF2EEDC94EE178534F"
        "2F2D235D074D74499000")
    assert chip.keys is not None
    assert chip.keys.k_enc == H("979EC13B1CBFE9DCD01AB0FED307EAE5")
    assert chip.ssc == 0x887022120C06C226
    # Appendix D.4: the chip's protected answers to SELECT EF.COM and both READ BINARYs.
    for _, protected, response in TRANSCRIPT_D:
        assert _ask(chip, protected) == response


# --- read by the station's reader code ---------------------------------------------------------

ALL = ("COM", "DG1", "DG2", "DG3", "DG13", "DG14", "DG15", "SOD")


@pytest.fixture(scope="module")
def citizen_image() -> tuple[object, CardImage]:
    c = generate(11)
    return c, issuer.issue(c)


@pytest.mark.parametrize("password", ["CAN", "MRZ"])
def test_pace_read_everything(citizen_image: tuple[object, CardImage], password: str) -> None:
    c, image = citizen_image
    key = AccessKey.can(image.can) if password == "CAN" else AccessKey("MRZ",
                                                                       image.mrz_information)
    session = ChipSession(key, ALL)
    read = session.read(Direct(CccdChip(image)))
    assert read.protocol == "PACE"
    assert read.detail.endswith(f"AES-128 brainpoolP256r1 {password}")
    assert read.skipped == ("DG3",)  # 6982: terminal authentication needed
    assert read.files == {n: image.app_files[fid] for n, fid in (
        ("COM", 0x011E), ("DG1", 0x0101), ("DG2", 0x0102), ("DG13", 0x010D), ("DG14", 0x010E),
        ("DG15", 0x010F), ("SOD", 0x011D))}
    dg13 = parse_dg13(read.files["DG13"])
    assert dg13.full_name == c.full_name  # type: ignore[attr-defined]


@pytest.mark.parametrize(("curve", "cipher"), [
    ("brainpoolP256r1", "3DES"), ("brainpoolP384r1", "AES-192"), ("brainpoolP512r1", "AES-256"),
    ("secp256r1", "AES-128"), ("secp384r1", "AES-256"), ("secp521r1", "AES-256"),
])
def test_pace_other_curves_and_ciphers(curve: str, cipher: lds.CipherName) -> None:
    c = generate(12)
    options = ChipOptions(pace=(lds.PaceOption(curve, cipher),), aa=None, ca_cipher=None)
    image = issuer.issue(c, options)
    read = ChipSession(AccessKey.can(c.can), ("COM", "DG1")).read(
        Direct(CccdChip(image, options)))
    name = "3DES-128" if cipher == "3DES" else cipher
    assert read.detail == f"PACE ECDH-GM {name} {curve} CAN"
    assert read.files["DG1"] == image.app_files[0x0101]


def test_bac_only_card() -> None:
    c = generate(13)
    options = ChipOptions(pace=())
    image = issuer.issue(c, options)
    read = ChipSession(AccessKey("MRZ", c.mrz_information), ("DG1", "DG13")).read(
        Direct(CccdChip(image, options)))
    assert read.protocol == "BAC"
    assert read.files["DG13"] == image.app_files[0x010D]


def test_wrong_can_counts_down_then_blocks(citizen_image: tuple[object, CardImage]) -> None:
    _, image = citizen_image
    chip = CccdChip(image, ChipOptions(password_tries=3))
    wrong = AccessKey.can("000000" if image.can != "000000" else "111111")
    for left in (2, 1, 0):
        with pytest.raises(AuthFailed) as exc:
            ChipSession(wrong, ("DG1",)).read(Direct(chip))
        assert exc.value.tries_left == left
    with pytest.raises(AuthFailed, match="blocked"):
        ChipSession(AccessKey.can(image.can), ("DG1",)).read(Direct(chip))
    # The MRZ password has its own counter and still opens the card.
    read = ChipSession(AccessKey("MRZ", image.mrz_information), ("DG1",)).read(Direct(chip))
    assert read.protocol == "PACE"


def test_files_are_closed_before_access_control(citizen_image: tuple[object, CardImage]) -> None:
    _, image = citizen_image
    chip = CccdChip(image)
    assert _ask(chip, "00A4000C023F00") == "6D00"  # SELECT MF, as the real card
    assert _ask(chip, "00A4020C02011C") == "9000"
    assert _ask(chip, "00B0000004")[-4:] == "9000"  # EF.CardAccess is public
    assert _ask(chip, SELECT_EMRTD) == "9000"
    assert _ask(chip, "00A4020C020101") == "9000"
    assert _ask(chip, "00B0000004") == "6982"
    assert _ask(chip, "00A4020C020111") == "6A82"
    assert _ask(chip, "0CB0000004") == "6985"  # SM without a session
    assert _ask(chip, "00FE000000") == "6D00"


def test_bad_mac_ends_the_session(citizen_image: tuple[object, CardImage]) -> None:
    _, image = citizen_image
    chip = CccdChip(image)
    session = ChipSession(AccessKey.can(image.can), ("DG1",))
    session.read(Direct(chip))
    assert chip.keys is not None
    assert _ask(chip, "0CB000000D9701048E080000000000000000" "00") == "6988"
    assert chip.keys is None and chip.authenticated is None
