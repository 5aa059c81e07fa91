"""What real chips do that the specification leaves open, each as a chip knob, read through real
pcscd + vpcd: EF.COM tag lists that disagree with the files, 6282 / 6B00 at the end of a file,
protected answers without DO'99', answers shorter than Le — never accepting a bad MAC or a
truncated file."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest

from station.drivers.reader.pcsc import PcscConnection, PcscReader
from station.errors import LdsFormatError, ProtocolError, StatusWordError
from station.nfc import sm
from station.nfc.access import establish
from station.nfc.apdu import ResponseApdu
from station.nfc.crypto import SessionKeys
from station.nfc.files import read_binary, read_file, select_application, select_file
from station.nfc.lds.chip import ChipData
from station.nfc.password import AccessKey
from station.nfc.session import ChipSession
from station.sim import passport
from station.sim.chip import CccdChip, ChipOptions
from station.sim.vpcd import VpcdLink
from station.testing.pcscd import PcscdTestbed

FILES = ("COM", "DG1", "DG2", "DG11", "DG12", "DG15", "SOD")
DG12 = 0x010C


@contextmanager
def _card(pcscd: PcscdTestbed, p: passport.Passport,
          options: ChipOptions) -> Iterator[PcscConnection]:
    link = VpcdLink(CccdChip(p.image, options), pcscd.slot_port(1))
    link.insert()
    conn = PcscReader(pcscd.readers[1]).wait_for_card(10)
    try:
        yield conn
    finally:
        conn.close()
        link.remove()


@pytest.mark.parametrize("access", ["BAC", "PACE-MRZ"])
@pytest.mark.parametrize("knobs", [
    {"end_of_file": "6282"},
    {"past_end": "6B00"},
    {"past_end": "6282", "end_of_file": "6282"},
    {"omit_do99": True},
    {"omit_do99": True, "end_of_file": "6282", "max_read": 100},
], ids=["eof-6282", "past-6B00", "past-6282", "no-do99", "no-do99-short-answers"])
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


# --- DO'99' omitted: the MAC is still checked, and only success trailers are believed ---------

KEYS = SessionKeys.derive(b"\x11" * 16, "AES", 128)


def test_response_without_do99_verifies() -> None:
    raw = sm.protect_response(KEYS, 8, b"file bytes", 0x9000, do99=False)
    assert sm.unprotect_response(KEYS, 8, raw) == ResponseApdu(b"file bytes", 0x9000)
    raw = sm.protect_response(KEYS, 8, b"last bytes", 0x6282, do99=False)
    assert sm.unprotect_response(KEYS, 8, raw) == ResponseApdu(b"last bytes", 0x6282)


def test_response_without_do99_and_a_bad_mac_is_refused() -> None:
    raw = bytearray(sm.protect_response(KEYS, 8, b"file bytes", 0x9000, do99=False))
    raw[4] ^= 0x01  # inside the cryptogram
    with pytest.raises(ProtocolError, match="MAC"):
        sm.unprotect_response(KEYS, 8, bytes(raw))
    good = sm.protect_response(KEYS, 8, b"file bytes", 0x9000, do99=False)
    with pytest.raises(ProtocolError, match="MAC"):
        sm.unprotect_response(KEYS, 9, good)  # replayed under another SSC


@pytest.mark.parametrize("data, sw", [(b"file bytes", 0x6A82), (b"", 0x9000),
                                      (b"file bytes", 0x6982)])
def test_response_without_do99_needs_data_and_a_success_trailer(data: bytes, sw: int) -> None:
    raw = sm.protect_response(KEYS, 8, data, sw, do99=False)
    with pytest.raises(ProtocolError, match="DO'99'"):
        sm.unprotect_response(KEYS, 8, raw)
