"""The read strategy at the floor (issue #18): each file's first chunk by short EF identifier
with the largest Le, no separate header read — a basic CCCD read in 24 APDUs where the
header-first strategy needed 31 — while chips that answer such reads otherwise still read
completely: 6282 with the bytes left, 6B00, 6Cxx (xx = the bytes left), the bytes left padded
to Le (a wrong length), fewer bytes than asked, 6700 above a size."""

from __future__ import annotations

from typing import Any

import pytest

from station.nfc.access import AccessKey
from station.nfc.session import DEFAULT_FILES, FILE_IDS, ChipSession
from station.sim import issuer
from station.sim.chip import CccdChip, ChipOptions
from station.sim.citizens import generate

IMAGE = issuer.issue(generate(11))


class Counter:
    def __init__(self, chip: CccdChip) -> None:
        self.chip = chip
        self.count = 0
        self.atr = chip.atr

    def transmit(self, apdu: bytes) -> bytes:
        self.count += 1
        return self.chip.process(apdu)


def _read(**knobs: Any) -> tuple[ChipSession, int, dict[str, bytes]]:
    chip = CccdChip(IMAGE, ChipOptions(**knobs))
    chip.power_on()
    link = Counter(chip)
    session = ChipSession(AccessKey.can(IMAGE.can), DEFAULT_FILES)
    read = session.read(link)
    return session, link.count, dict(read.files)


def test_basic_cccd_read_is_24_apdus() -> None:
    session, count, files = _read()
    assert files == {n: IMAGE.app_files[FILE_IDS[n]] for n in DEFAULT_FILES}
    assert count == 24
    assert session.strategy is not None and not session.strategy.header_first


@pytest.mark.parametrize("knobs, header_first", [
    ({"end_of_file": "6282"}, False),
    ({"beyond_end": "6Cxx"}, False),
    ({"beyond_end": "pad"}, False),
    ({"max_read": 100}, False),
    ({"wrong_length_above": 128}, False),
    ({"beyond_end": "6B00"}, True),
], ids=["6282", "6Cxx", "padded", "short-answers", "6700-above-128", "6B00"])
def test_chips_answering_large_first_reads_otherwise_read_completely(
        knobs: dict[str, Any], header_first: bool) -> None:
    session, count, files = _read(**knobs)
    assert files == {n: IMAGE.app_files[FILE_IDS[n]] for n in DEFAULT_FILES}
    assert session.strategy is not None and session.strategy.header_first is header_first
    assert count >= 24
