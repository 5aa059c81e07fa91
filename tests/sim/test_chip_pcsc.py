"""The virtual CCCD through real pcscd + vpcd, read by the station's reader code: PACE-CAN,
PACE-MRZ and BAC."""

from __future__ import annotations

import pytest

from station.drivers.reader.pcsc import PcscReader
from station.nfc.lds.dg13 import parse_dg13
from station.nfc.password import AccessKey
from station.nfc.session import ChipSession
from station.sim import issuer
from station.sim.chip import CccdChip, ChipOptions
from station.sim.citizens import generate
from station.sim.vpcd import VpcdLink
from station.testing.pcscd import PcscdTestbed


@pytest.mark.parametrize("password", ["CAN", "MRZ", "BAC"])
def test_read_through_pcscd(pcscd: PcscdTestbed, password: str) -> None:
    c = generate(31)
    options = ChipOptions(pace=()) if password == "BAC" else ChipOptions()
    image = issuer.issue(c, options)
    link = VpcdLink(CccdChip(image, options), pcscd.slot_port(0))
    link.insert()
    conn = PcscReader(pcscd.readers[0]).wait_for_card(10)
    try:
        key = AccessKey.can(c.can) if password == "CAN" else AccessKey("MRZ", c.mrz_information)
        read = ChipSession(key, ("COM", "DG1", "DG2", "DG13", "DG14", "DG15", "SOD")).read(conn)
    finally:
        conn.close()
        link.remove()
    assert read.protocol == ("BAC" if password == "BAC" else "PACE")
    assert read.files["DG2"] == image.app_files[0x0102]
    assert parse_dg13(read.files["DG13"]).id_number == c.id_number
