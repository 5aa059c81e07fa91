"""Secure messaging: ICAO 9303-11 Appendix D.4 (3DES) byte for byte, both directions, and AES
round trips through the shared pure functions."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from station.errors import ProtocolError, TagLost
from station.nfc import sm
from station.nfc.apdu import CommandApdu
from station.nfc.crypto import SessionKeys
from station.nfc.files import ReadStrategy, read_file
from tests.fakes import Script
from tests.nfc.icao_vectors import EF_COM_D, KEYS_D, SSC_D, TRANSCRIPT_D

H = bytes.fromhex


def test_appendix_d_protect_each_command() -> None:
    ssc = SSC_D
    for plain, protected, _ in TRANSCRIPT_D:
        ssc += 1
        wrapped = sm.protect_command(KEYS_D, ssc, CommandApdu.decode(H(plain)))
        assert wrapped.encode() == H(protected)
        ssc += 1


def test_appendix_d_card_side_round_trip() -> None:
    """The card side unwraps the vector commands and reproduces the vector responses."""
    ssc = SSC_D
    answers = [b"", EF_COM_D[:4], EF_COM_D[4:]]
    for (plain, protected, response), data in zip(TRANSCRIPT_D, answers, strict=True):
        ssc += 1
        assert sm.unprotect_command(KEYS_D, ssc, H(protected)) == CommandApdu.decode(H(plain))
        ssc += 1
        assert sm.protect_response(KEYS_D, ssc, data, 0x9000) == H(response)
        r = sm.unprotect_response(KEYS_D, ssc, H(response))
        assert (r.data, r.sw) == (data, 0x9000)


def test_appendix_d_secure_messaging_transport_reads_ef_com() -> None:
    script = Script([(p, r) for _, p, r in TRANSCRIPT_D])
    channel = sm.SecureMessaging(script, KEYS_D, SSC_D)
    # read_file sizes EF.COM from its 4-byte header and reads the remaining 18 bytes: exactly
    # the appendix's three protected APDUs.
    # The spec's worked example selects EF.COM by FID (no SFI addressing) and reads the 4-byte
    # header first (the strategy of a chip that refuses reads past the end of a file).
    strategy = ReadStrategy(sfi=False, header_first=True)
    assert read_file(channel, 0x011E, "COM", strategy=strategy) == EF_COM_D
    assert channel.ssc == SSC_D + 6
    assert not script.pairs


def test_bad_response_mac_breaks_the_channel() -> None:
    resp = bytearray(H(TRANSCRIPT_D[0][2]))
    resp[-3] ^= 1
    channel = sm.SecureMessaging(Script([(TRANSCRIPT_D[0][1], resp.hex())]), KEYS_D, SSC_D)
    with pytest.raises(ProtocolError, match="MAC"):
        channel.transmit(H("00A4020C02011E"))
    with pytest.raises(ProtocolError, match="aborted"):
        channel.transmit(H("00A4020C02011E"))


def test_plain_error_status_passes_and_keeps_ssc_in_step() -> None:
    channel = sm.SecureMessaging(Script([(TRANSCRIPT_D[0][1], "6982")]), KEYS_D, SSC_D)
    assert channel.transmit(H("00A4020C02011E")) == H("6982")
    assert channel.ssc == SSC_D + 2 and not channel.broken


@pytest.mark.parametrize("sw", ["6987", "6988"])
def test_sm_abort_status_is_an_error(sw: str) -> None:
    channel = sm.SecureMessaging(Script([(TRANSCRIPT_D[0][1], sw)]), KEYS_D, SSC_D)
    with pytest.raises(ProtocolError, match=sw):
        channel.transmit(H("00A4020C02011E"))
    assert channel.broken


def test_unprotected_9000_is_rejected() -> None:
    with pytest.raises(ProtocolError):
        sm.unprotect_response(KEYS_D, 1, H("9000"))


def test_tag_lost_marks_channel_broken() -> None:
    class Gone:
        def transmit(self, apdu: bytes) -> bytes:
            raise TagLost("gone")

    channel = sm.SecureMessaging(Gone(), KEYS_D, 0)
    with pytest.raises(TagLost):
        channel.transmit(H("00B0000004"))
    assert channel.broken


def test_max_plain_read() -> None:
    aes = SessionKeys("AES", bytes(16), bytes(16))
    assert sm.max_plain_read(aes) == 223
    assert sm.max_plain_read(KEYS_D) == 231
    big = sm.max_plain_read(aes, extended=True)
    assert 65000 < big < 65536
    wrapped = sm.protect_response(aes, 5, bytes(223), 0x9000)
    assert len(wrapped) - 2 <= 256
    assert len(sm.protect_response(aes, 5, bytes(224), 0x9000)) - 2 > 256


def test_get_response_chaining_of_protected_answers() -> None:
    resp = H(TRANSCRIPT_D[1][2])
    first, rest = resp[:10], resp[10:]
    script = Script([(TRANSCRIPT_D[1][1], first.hex() + "61" + f"{len(rest) - 2:02X}"),
                     ("0CC00000" + f"{len(rest) - 2:02X}", rest.hex())])
    # GET RESPONSE keeps CLA's channel bits only (0C & 03 = 00).
    script.pairs[1] = (H("00C00000" + f"{len(rest) - 2:02X}"), rest)
    channel = sm.SecureMessaging(script, KEYS_D, SSC_D + 2)
    assert channel.transmit(H("00B0000004")) == EF_COM_D[:4] + H("9000")


@settings(max_examples=60, deadline=None)
@given(cipher=st.sampled_from(["3DES", "AES"]), ssc=st.integers(0, 2**64 - 1),
       ins=st.sampled_from([0xB0, 0xB1, 0xA4, 0x86]), data=st.binary(max_size=300),
       le=st.one_of(st.none(), st.integers(1, 65536)), reply=st.binary(max_size=300))
def test_round_trip_any_command(cipher: str, ssc: int, ins: int, data: bytes, le: int | None,
                                reply: bytes) -> None:
    keys = SessionKeys(cipher, bytes(range(16)), bytes(range(16, 32)))  # type: ignore[arg-type]
    cmd = CommandApdu(0x00, ins, 0x01, 0x02, data, le=le)
    raw = sm.protect_command(keys, ssc, cmd).encode()
    back = sm.unprotect_command(keys, ssc, raw)
    assert (back.ins, back.p1, back.p2, back.data, back.le) == (ins, 1, 2, data, le)
    wrapped = sm.protect_response(keys, ssc + 1, reply, 0x9000, odd_ins=bool(ins & 1))
    r = sm.unprotect_response(keys, ssc + 1, wrapped)
    assert (r.data, r.sw) == (reply, 0x9000)
    with pytest.raises(ProtocolError):
        sm.unprotect_response(keys, ssc + 2, wrapped)  # an SSC out of step never verifies


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=80))
def test_garbage_responses_give_typed_errors(raw: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        sm.unprotect_response(KEYS_D, 3, raw)


# --- unprotected error answers and the SSC (vsmartcard's vicc ePass) ----------------------------


class _NakedErrorCard:
    """Answers every command with a bare 6A82 (no DO'8E'), as vicc does for a missing file."""

    def transmit(self, apdu: bytes) -> bytes:
        return b"\x6A\x82"


@pytest.mark.parametrize("step, expected", [(True, 2), (False, 1)],
                         ids=["counted (our chip)", "not counted (vicc)"])
def test_an_unprotected_error_answer_and_the_ssc(step: bool, expected: int) -> None:
    channel = sm.SecureMessaging(_NakedErrorCard(), SessionKeys.derive(b"\x33" * 16, "3DES"),
                                 100, naked_error_step=step)
    assert channel.transmit(CommandApdu(0x00, 0xB0, 0x9E, 0, le=4).encode()) == b"\x6A\x82"
    assert channel.ssc == 100 + expected and channel.naked_errors == 1
    assert not channel.broken
