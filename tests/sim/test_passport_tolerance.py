"""What real chips do that the specification leaves open, each as a chip knob, read through real
pcscd + vpcd: EF.COM tag lists that disagree with the files, 6282 / 6B00 at the end of a file,
protected answers without DO'99', answers shorter than Le — never accepting a bad MAC or a
truncated file."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any

import pytest

from station.drivers.reader.pcsc import PcscConnection, PcscReader
from station.errors import LdsFormatError, ProtocolError, StatusWordError
from station.nfc import sm
from station.nfc.access import establish
from station.nfc.apdu import ResponseApdu
from station.nfc.crypto import SessionKeys, pad
from station.nfc.files import read_binary, read_file, select_application, select_file
from station.nfc.lds.chip import ChipData
from station.nfc.password import AccessKey
from station.nfc.session import ChipSession
from station.sim import passport
from station.sim.chip import CccdChip, ChipOptions
from station.sim.vpcd import VpcdLink
from station.testing.pcscd import PcscdTestbed
from tests.taps import on_reader

FILES = ("COM", "DG1", "DG2", "DG11", "DG12", "DG15", "SOD")
DG12 = 0x010C


def _card(pcscd: PcscdTestbed, p: passport.Passport,
          options: ChipOptions) -> AbstractContextManager[PcscConnection]:
    return on_reader(pcscd, CccdChip(p.image, options), slot=1)


@pytest.mark.parametrize("access", ["BAC", "PACE-MRZ"])
@pytest.mark.parametrize("knobs", [
    {"end_of_file": "6282"},
    {"past_end": "6B00"},
    {"past_end": "6282", "end_of_file": "6282"},
    {"omit_do99": True},
    {"omit_do99": True, "end_of_file": "6282", "max_read": 100},
    {"beyond_end": "6B00"},
    {"beyond_end": "6Cxx"},
    {"beyond_end": "pad"},
], ids=["eof-6282", "past-6B00", "past-6282", "no-do99", "no-do99-short-answers",
        "beyond-end-6B00", "beyond-end-6Cxx", "beyond-end-pad"])
def test_quirky_chip_reads_identically(pcscd: PcscdTestbed, access: str,
                                       knobs: dict[str, Any]) -> None:
    p = passport.issue(passport.generate(21, state="KOR"),
                       passport.PassportOptions(access=access))  # type: ignore[arg-type]
    with _card(pcscd, p, replace(p.options, **knobs)) as conn:
        read = ChipSession(AccessKey.parse_mrz_key(p.traveller.mrz_key), FILES).read(conn)
    for n in p.data_groups:
        assert read.files[f"DG{n}"] == p.image.app_files[0x0100 + n]
    assert read.skipped == ("DG15",)


def test_com_tag_list_not_matching_the_files(pcscd: PcscdTestbed) -> None:
    """EF.COM lists DG15 (absent) and omits DG12 (present): the caller's list is read, the
    disagreement recorded."""
    p = passport.issue(passport.generate(22, state="AUS"),
                       passport.PassportOptions(com_extra=(15,), com_omit=(12,)))
    with _card(pcscd, p, p.options) as conn:
        read = ChipSession(AccessKey.parse_mrz_key(p.traveller.mrz_key), FILES).read(conn)
    data = ChipData.from_files(read.protocol, read.files, read.skipped)
    assert data.com is not None and 12 not in data.com.data_groups
    assert data.dg12 is not None and data.files["DG12"] == p.image.app_files[DG12]
    assert data.com_mismatch == ("unlisted:DG12", "absent:DG15")


@pytest.mark.parametrize("end_of_file", ["9000", "6282"])
def test_larger_le_than_remains_returns_the_rest(pcscd: PcscdTestbed, end_of_file: str) -> None:
    p = passport.issue(passport.generate(23, state="JPN"))
    content = p.image.app_files[DG12]
    options = replace(p.options, end_of_file=end_of_file)  # type: ignore[arg-type]
    with _card(pcscd, p, options) as conn:
        channel = establish(conn, AccessKey.parse_mrz_key(p.traveller.mrz_key)).channel
        select_application(channel)
        select_file(channel, DG12)
        assert read_binary(channel, len(content) - 10, 50) == content[-10:]
        assert read_binary(channel, 0, len(content) + 30) == content


@pytest.mark.parametrize("past_end", [None, "6B00", "6282"])
def test_at_and_beyond_the_end(pcscd: PcscdTestbed, past_end: str | None) -> None:
    p = passport.issue(passport.generate(24, state="USA"))
    content = p.image.app_files[DG12]
    options = replace(p.options, past_end=past_end)  # type: ignore[arg-type]
    with _card(pcscd, p, options) as conn:
        channel = establish(conn, AccessKey.parse_mrz_key(p.traveller.mrz_key)).channel
        select_application(channel)
        select_file(channel, DG12)
        if past_end == "6B00":
            with pytest.raises(StatusWordError) as exc:
                read_binary(channel, len(content), 16)
            assert exc.value.sw == 0x6B00
        else:
            assert read_binary(channel, len(content), 16) == b""
        if past_end == "6282":
            assert read_binary(channel, len(content) + 5, 16) == b""
        else:
            with pytest.raises(StatusWordError) as beyond:
                read_binary(channel, len(content) + 5, 16)
            assert beyond.value.sw == 0x6B00


@pytest.mark.parametrize("past_end", [None, "6B00", "6282"])
def test_truncated_file_is_a_typed_error_never_a_short_file(pcscd: PcscdTestbed,
                                                            past_end: str | None) -> None:
    p = passport.issue(passport.generate(25, state="FRA"))
    files = dict(p.image.app_files)
    files[DG12] = files[DG12][:-7]  # the TLV header now announces 7 bytes more than exist
    image = replace(p.image, app_files=files)
    options = replace(p.options, past_end=past_end,  # type: ignore[arg-type]
                      end_of_file="6282" if past_end else "9000")
    link = VpcdLink(CccdChip(image, options), pcscd.slot_port(1))
    link.insert()
    conn = PcscReader(pcscd.readers[1]).wait_for_card(10)
    try:
        channel = establish(conn, AccessKey.parse_mrz_key(p.traveller.mrz_key)).channel
        select_application(channel)
        with pytest.raises(LdsFormatError, match="ends at offset"):
            read_file(channel, DG12, "DG12")
    finally:
        conn.close()
        link.remove()


# --- DO'99' omitted: the MAC is still checked, the status word is the trailer's ---------------
# vsmartcard's vicc ePass (Debian python3-virtualsmartcard 3.3) answers every protected command
# without DO'99': SELECT → 8E 08 <MAC> 90 00, READ BINARY → DO'87' ‖ DO'8E' ‖ 90 00. JMRTD takes
# the trailer's status word once the MAC verifies.

KEYS = SessionKeys.derive(b"\x11" * 16, "AES", 128)
KEYS_3DES = SessionKeys.derive(b"\x22" * 16, "3DES", 128)


def _vicc_answer(keys: SessionKeys, ssc: int, data: bytes, sw: int) -> bytes:
    """The vicc ePass's answer, built by hand (not by protect_response): DO'87' if there is
    data, then DO'8E' with the MAC over pad(SSC ‖ DO'87'), then the plain trailer."""
    sscb = sm.ssc_bytes(keys, ssc)
    dos = b""
    if data:
        dos = b"\x87" + bytes((len(data) // keys.block * keys.block + keys.block + 1,)) + b"\x01"
        dos += keys.encrypt(sscb, pad(data, keys.block))
    return dos + b"\x8E\x08" + keys.mac(pad(sscb + dos, keys.block)) + sw.to_bytes(2, "big")


@pytest.mark.parametrize("keys", [KEYS_3DES, KEYS], ids=["3DES", "AES"])
def test_vicc_select_answer_bare_mac_and_trailer(keys: SessionKeys) -> None:
    raw = _vicc_answer(keys, 8, b"", 0x9000)
    assert raw[:2] == b"\x8E\x08" and len(raw) == 12
    assert sm.unprotect_response(keys, 8, raw) == ResponseApdu(b"", 0x9000)


@pytest.mark.parametrize("sw", [0x9000, 0x6282, 0x6A82, 0x6B00])
def test_vicc_answer_without_do99_takes_the_trailer(sw: int) -> None:
    data = b"file bytes" if sw in (0x9000, 0x6282) else b""
    raw = _vicc_answer(KEYS_3DES, 8, data, sw)
    assert raw == sm.protect_response(KEYS_3DES, 8, data, sw, do99=False)
    assert sm.unprotect_response(KEYS_3DES, 8, raw) == ResponseApdu(data, sw)


@pytest.mark.parametrize("data", [b"", b"file bytes"], ids=["bare-mac", "with-data"])
def test_vicc_answer_with_a_bad_mac_is_refused(data: bytes) -> None:
    raw = bytearray(_vicc_answer(KEYS_3DES, 8, data, 0x9000))
    raw[-3] ^= 0x01  # last MAC byte
    with pytest.raises(ProtocolError, match="MAC"):
        sm.unprotect_response(KEYS_3DES, 8, bytes(raw))
    good = _vicc_answer(KEYS_3DES, 8, data, 0x9000)
    with pytest.raises(ProtocolError, match="MAC"):
        sm.unprotect_response(KEYS_3DES, 9, good)  # replayed under another SSC


def test_protected_answer_with_its_mac_stripped_is_refused() -> None:
    raw = _vicc_answer(KEYS_3DES, 8, b"file bytes", 0x9000)
    stripped = raw[:-12] + raw[-2:]  # DO'87' ‖ 9000, no DO'8E'
    with pytest.raises(ProtocolError, match="DO'8E'"):
        sm.unprotect_response(KEYS_3DES, 8, stripped)
    with pytest.raises(ProtocolError, match="unprotected 9000"):
        sm.unprotect_response(KEYS_3DES, 8, b"\x90\x00")


def test_response_without_do99_and_a_bad_mac_is_refused() -> None:
    raw = bytearray(sm.protect_response(KEYS, 8, b"file bytes", 0x9000, do99=False))
    raw[4] ^= 0x01  # inside the cryptogram
    with pytest.raises(ProtocolError, match="MAC"):
        sm.unprotect_response(KEYS, 8, bytes(raw))
    good = sm.protect_response(KEYS, 8, b"file bytes", 0x9000, do99=False)
    with pytest.raises(ProtocolError, match="MAC"):
        sm.unprotect_response(KEYS, 9, good)  # replayed under another SSC
