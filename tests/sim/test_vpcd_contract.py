"""Contract: the file card answers the same whether called directly or through pcscd + vpcd,
and the station's reading code gets the same files both ways."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from station.drivers.reader import Transport
from station.drivers.reader.pcsc import PcscReader
from station.nfc.session import read_plain
from station.sim.citizens import skeleton_citizen, skeleton_files, td1_mrz
from station.sim.filecard import FileCard
from station.sim.vpcd import Latency, VpcdLink, contactless_atr
from station.testing.pcscd import PcscdTestbed
from tests.fakes import Direct
from tests.taps import on_reader


@pytest.fixture(params=["direct", "pcsc"])
def transport(request: pytest.FixtureRequest) -> Iterator[Transport]:
    card = FileCard(skeleton_files(7))
    if request.param == "direct":
        yield Direct(card)
        return
    testbed: PcscdTestbed = request.getfixturevalue("pcscd")
    with on_reader(testbed, card) as conn:
        yield conn


def test_read_plain_files(transport: Transport) -> None:
    chip = read_plain(transport)
    assert chip.files == {"COM": skeleton_files(7)[0x011E], "DG1": skeleton_files(7)[0x0101]}
    assert td1_mrz(skeleton_citizen(7)).encode() in chip.files["DG1"]


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("00A4020C020101", "6A82"),        # file before the application: not found
        ("00A4040C07A0000002471001", "9000"),
        ("00B0000004", "6986"),            # no current EF
        ("00A4020C02DEAD", "6A82"),
        ("00FF000000", "6D00"),
        ("0CB0000004", "6E00"),            # secure messaging not offered by this card
    ],
)
def test_status_words(transport: Transport, apdu: str, sw: str) -> None:
    if apdu.startswith("00B0"):
        transport.transmit(bytes.fromhex("00A4040C07A0000002471001"))
    if apdu.startswith("00A4020C02DEAD"):
        transport.transmit(bytes.fromhex("00A4040C07A0000002471001"))
    assert transport.transmit(bytes.fromhex(apdu))[-2:].hex().upper() == sw


def test_atr_is_contactless_pcsc_part3() -> None:
    atr = contactless_atr()
    assert atr[:4] == bytes.fromhex("3B808001")
    x = 0
    for b in atr[1:]:
        x ^= b
    assert x == 0  # TCK makes the XOR of T0..TCK zero


def test_atr_through_pcscd(pcscd: PcscdTestbed) -> None:
    link = VpcdLink(FileCard({}), pcscd.slot_port(1))
    link.insert()
    try:
        conn = PcscReader(pcscd.readers[1]).wait_for_card(10)
        assert conn.atr == contactless_atr()
        conn.close()
    finally:
        link.remove()


def test_latency_model() -> None:
    lat = Latency(per_apdu_ms=25, bit_rate=106_000)
    assert lat.delay_s(0, 0) == pytest.approx(0.025)
    assert lat.delay_s(5, 233) == pytest.approx(0.025 + 238 * 10 / 106_000)
