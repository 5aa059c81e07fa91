"""BAC (Appendix D) and PACE ECDH-GM (Appendix G) end to end against the spec's transcripts, with
the terminal's random values replaced by the vector's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from station.errors import AuthFailed, ProtocolError, UnsupportedCard
from station.nfc import access, bac, pace
from station.nfc.files import ReadStrategy, read_file
from station.nfc.lds.secinfo import parse_security_infos
from station.nfc.password import AccessKey
from tests.fakes import Script
from tests.nfc.icao_vectors import (
    C_EPH_PUB,
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


def _randoms(*values: str) -> Iterator[bytes]:
    return iter(H(v) for v in values)


def test_bac_appendix_d_then_read_ef_com() -> None:
    script = Script([
        ("0084000008", "4608F919887022129000"),
        ("0082000028" "72C29C2371CC9BDB65B779B8E8D37B29ECC154AA56A8799FAE2F498F76ED92F2"
         "5F1448EEA8AD90A728",
         "46B9342A41396CD7386BF5803104D7CEDC122B9132139BAF2EEDC94EE178534F"
         "2F2D235D074D74499000"),
        *[(p, r) for _, p, r in TRANSCRIPT_D],
    ])
    rnd = _randoms("781723860C06C226", "0B795240CB7049B01C19B33E32804F0B")
    key = AccessKey.mrz("L898902C", "690806", "940623")
    assert key.value == "L898902C<369080619406236"
    channel = bac.authenticate(script, key, random=lambda n: next(rnd))
    assert channel.ssc == 0x887022120C06C226
    assert channel.keys.k_enc == H("979EC13B1CBFE9DCD01AB0FED307EAE5")
    # The spec's worked example selects EF.COM by FID (no SFI addressing) and reads its 4-byte
    # header before the rest (the strategy a chip that refuses reads past the end gets).
    strategy = ReadStrategy(sfi=False, header_first=True)
    assert read_file(channel, 0x011E, "COM", strategy=strategy) == EF_COM_D
    assert script.done


def test_bac_wrong_key_is_auth_failed() -> None:
    key = AccessKey.mrz("L898902C", "690806", "940623")

    class Refuse(Script):
        def transmit(self, apdu: bytes) -> bytes:
            if apdu[1] == 0x82:
                return H("6300")
            return super().transmit(apdu)

    with pytest.raises(AuthFailed):
        bac.authenticate(Refuse([("0084000008", "4608F919887022129000")]), key)


def _pace_transcript(token_answer: str) -> list[tuple[str, str]]:
    enc = CURVE_G.encode
    return [
        ("0022C1A412" "800A04007F00070202040202" "830101" "84010D", "9000"),
        ("10860000027C0000", "7C12" "8010" "95A3A016522EE98D01E76CB6B98B42C3" "9000"),
        ("1086000045" "7C43" "8141" + enc(T_MAP_PUB).hex() + "00",
         "7C43" "8241" + enc(C_MAP_PUB).hex() + "9000"),
        ("1086000045" "7C43" "8341" + enc(T_EPH_PUB).hex() + "00",
         "7C43" "8441" + enc(C_EPH_PUB).hex() + "9000"),
        ("008600000C" "7C0A" "8508" "C2B0BD78D94BA866" "00", token_answer),
    ]


def _vector_scalars() -> pace.ScalarSource:
    keys = iter((T_MAP_PRIV, T_EPH_PRIV))
    return lambda curve: next(keys)


def test_pace_appendix_g_transcript() -> None:
    info = parse_security_infos(CARD_ACCESS_G).best_pace()
    assert info is not None
    script = Script(_pace_transcript("7C0A" "8608" "3ABB9674BCE93C08" "9000"))
    key = AccessKey.mrz("T22000129", "640812", "101031")
    channel, detail = pace.authenticate(script, key, info, scalars=_vector_scalars())
    assert script.done
    assert channel.keys.k_enc == H("F5F0E35C0D7161EE6724EE513A0D9A7F")
    assert channel.keys.k_mac == H("FE251C7858B356B24514B3BD5F4297D1")
    assert channel.ssc == 0
    assert detail == "PACE ECDH-GM AES-128 brainpoolP256r1 MRZ"


@pytest.mark.parametrize(("sw", "tries"), [("63C2", 2), ("63C0", 0), ("6300", None)])
def test_pace_wrong_password_says_tries_left(sw: str, tries: int | None) -> None:
    info = parse_security_infos(CARD_ACCESS_G).best_pace()
    assert info is not None
    script = Script(_pace_transcript(sw))
    key = AccessKey.mrz("T22000129", "640812", "101031")
    with pytest.raises(AuthFailed) as exc:
        pace.authenticate(script, key, info, scalars=_vector_scalars())
    assert exc.value.tries_left == tries
    if tries is not None:
        assert f"{tries} tries left" in str(exc.value)


def test_pace_bad_chip_token_is_auth_failed() -> None:
    info = parse_security_infos(CARD_ACCESS_G).best_pace()
    assert info is not None
    script = Script(_pace_transcript("7C0A" "8608" "3ABB9674BCE93C09" "9000"))
    with pytest.raises(AuthFailed, match="token"):
        pace.authenticate(script, AccessKey.mrz("T22000129", "640812", "101031"), info,
                          scalars=_vector_scalars())


def test_pace_point_off_curve_is_protocol_error() -> None:
    info = parse_security_infos(CARD_ACCESS_G).best_pace()
    assert info is not None
    pairs = _pace_transcript("9000")[:3]
    bad = bytearray(H(pairs[2][1]))
    bad[-3] ^= 1
    pairs[2] = (pairs[2][0], bad.hex())
    with pytest.raises(ProtocolError, match="not on the curve"):
        pace.authenticate(Script(pairs), AccessKey.mrz("T22000129", "640812", "101031"), info,
                          scalars=_vector_scalars())


def test_security_infos_of_the_vector_and_a_cccd_like_card_access() -> None:
    infos = parse_security_infos(CARD_ACCESS_G)
    (p,) = infos.pace
    assert (p.version, p.parameter_id, p.agreement, p.mapping, p.cipher, p.key_bits) == (
        2, 13, "ECDH", "GM", "AES", 128)
    # PACE (ECDH-GM AES-128, brainpoolP256r1), CA (ECDH AES-128) and TA v1, as a CCCD has.
    raw = H("3134"
            "3012060A04007F0007020204020202010202010D"
            "300F060A04007F00070202030202020101"
            "300D060804007F0007020202020101")
    raw = H("31" + f"{len(raw) - 2:02X}") + raw[2:]
    infos = parse_security_infos(raw)
    assert len(infos.pace) == 1
    (ca,) = infos.chip_authentication
    assert (ca.agreement, ca.cipher, ca.key_bits, ca.version) == ("ECDH", "AES", 128, 1)
    (ta,) = infos.terminal_authentication
    assert ta.version == 1


class FakeCard:
    """Answers EF.CardAccess reads (plain) and records that nothing else is tried."""

    def __init__(self, card_access: bytes | None) -> None:
        self.card_access = card_access
        self.sent: list[bytes] = []

    def transmit(self, apdu: bytes) -> bytes:
        self.sent.append(apdu)
        if apdu[1] == 0xA4:
            return H("9000") if self.card_access is not None else H("6A82")
        if apdu[1] == 0xB0 and self.card_access is not None:
            off = apdu[2] << 8 | apdu[3]
            return self.card_access[off : off + (apdu[4] or 256)] + H("9000")
        return H("6D00")


def test_establish_without_pace_needs_the_mrz_key() -> None:
    with pytest.raises(AuthFailed, match="no PACE"):
        access.establish(FakeCard(None), AccessKey.can("123456"))


def test_establish_refuses_unsupported_pace_instead_of_downgrading() -> None:
    dh_gm = H("31143012060A04007F0007020204010202010202010D")  # DH-GM only
    card = FakeCard(dh_gm)
    with pytest.raises(UnsupportedCard):
        access.establish(card, AccessKey.mrz("T22000129", "640812", "101031"))
    assert all(a[1] in (0xA4, 0xB0) for a in card.sent)  # never tried BAC


def test_access_key_validation_and_repr() -> None:
    assert repr(AccessKey.can("123456")) == "AccessKey(CAN)"
    for bad in ("12345", "1234567", "12a456"):
        with pytest.raises(ValueError):
            AccessKey.can(bad)
    with pytest.raises(ValueError):
        AccessKey.parse_mrz_key("123,456")
    assert AccessKey.parse_mrz_key("200000129, 640812,101031").value.startswith("200000129")
