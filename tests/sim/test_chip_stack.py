"""The virtual chip through the real PC/SC stack (pcscd + vpcd + pyscard): every PACE cipher and
curve, tag loss and resume, and `station read` with a wrong and a right CAN.

(PACE-CAN, PACE-MRZ and BAC on the default chip are in test_chip_pcsc.py; tag loss at every
APDU index is in test_chip_engine.py, in-process — here a sample goes through pcscd.)
"""

from __future__ import annotations

import json
import time
from contextlib import AbstractContextManager

import pytest

from station.cli import main
from station.drivers.reader.pcsc import PcscConnection
from station.errors import TagLost
from station.nfc.password import AccessKey
from station.nfc.session import DEFAULT_FILES, FILE_IDS, ChipSession
from station.sim import issuer, lds
from station.sim.chip import CardImage, CccdChip, ChipOptions
from station.sim.citizens import generate
from station.sim.vpcd import VpcdLink
from station.testing.pcscd import PcscdTestbed
from tests.taps import on_reader

POLL_S = 0.6
"""A removed card must stay away for one pcscd presence poll (400 ms): re-inserted at once
after a tag loss, pcscd never reports the new card (measured: NoCard for 20 s)."""


def tapped(testbed: PcscdTestbed, chip: CccdChip,
           drop_after: int | None = None) -> AbstractContextManager[PcscConnection]:
    return on_reader(testbed, chip, drop_after=drop_after)


def _expected(image: CardImage) -> dict[str, bytes]:
    return {n: image.app_files[FILE_IDS[n]] for n in DEFAULT_FILES}


@pytest.mark.parametrize(("curve", "cipher"), [
    ("brainpoolP256r1", "AES-192"), ("brainpoolP256r1", "AES-256"),
    ("brainpoolP256r1", "3DES"), ("brainpoolP384r1", "AES-128"),
    ("brainpoolP512r1", "AES-128"), ("secp256r1", "AES-128"), ("secp384r1", "AES-128"),
    ("secp521r1", "AES-128"),
])
def test_every_cipher_and_curve(pcscd: PcscdTestbed, curve: str,
                                cipher: lds.CipherName) -> None:
    options = ChipOptions(pace=(lds.PaceOption(curve, cipher),))
    c = generate(51)
    image = issuer.issue(c, options)
    with tapped(pcscd, CccdChip(image, options)) as conn:
        result = ChipSession(AccessKey.can(c.can)).read(conn)
    name = "3DES-128" if cipher == "3DES" else cipher
    assert result.detail == f"PACE ECDH-GM {name} {curve} CAN"
    assert result.files == _expected(image)


class _Counting:
    def __init__(self, chip: CccdChip) -> None:
        self.chip = chip
        self.count = 0
        chip.power_on()

    def transmit(self, apdu: bytes) -> bytes:
        self.count += 1
        return self.chip.process(apdu)


def _count_apdus(chip: CccdChip, can: str) -> int:
    """APDUs of one whole read, counted in-process (the drop points are relative to it)."""
    link = _Counting(chip)
    ChipSession(AccessKey.can(can)).read(link)
    return link.count


def test_tag_loss_through_pcscd_resumes(pcscd: PcscdTestbed) -> None:
    c = generate(52)
    image = issuer.issue(c)
    chip = CccdChip(image)
    total = _count_apdus(chip, c.can)
    # During PACE, at the application SELECT, in a file's first chunk, near the end.
    for drop in (3, 8, 12, total - 2):
        session = ChipSession(AccessKey.can(c.can))
        with tapped(pcscd, chip, drop_after=drop) as conn, pytest.raises(TagLost):
            session.read(conn)
        time.sleep(POLL_S)
        with tapped(pcscd, chip) as conn:
            result = session.read(conn)
        assert result.files == _expected(image), drop
        assert result.taps == 2


def test_station_read_wrong_then_right_can(pcscd: PcscdTestbed,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    c = generate(53)
    image = issuer.issue(c)
    link = VpcdLink(CccdChip(image), pcscd.slot_port(0))
    link.insert()
    wrong = "000000" if c.can != "000000" else "111111"
    try:
        assert main(["read", "--reader", pcscd.readers[0], "--can", wrong,
                     "--timeout", "5"]) == 1
        assert "2 tries left" in capsys.readouterr().err
        assert main(["read", "--reader", pcscd.readers[0], "--can", c.can, "--json",
                     "--timeout", "5"]) == 0
    finally:
        link.remove()
    out = json.loads(capsys.readouterr().out)
    assert out["protocol"] == "PACE"
    assert out["dg13"]["id_number"] == c.id_number
    assert set(out["files"]) == set(DEFAULT_FILES)
