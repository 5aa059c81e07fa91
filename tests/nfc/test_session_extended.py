"""Extended length is used when the card's ATR advertises it, and dropped for the rest of the
session when a transmit fails while it is in use (a reader that cannot carry it)."""

from __future__ import annotations

import pytest

from station.errors import TagLost
from station.nfc.apdu import CommandApdu
from station.nfc.files import supports_extended_length
from station.nfc.password import AccessKey
from station.nfc.session import ChipSession
from station.sim import issuer
from station.sim.chip import CccdChip, ChipOptions
from station.sim.citizens import generate

FILES = ("COM", "DG1", "DG2", "DG13", "SOD")


class Reader:
    """A card on a reader: the ATR as PC/SC reports it, APDUs counted, and optionally a reader
    that fails every extended APDU (as some PC/SC readers do)."""

    def __init__(self, chip: CccdChip, *, short_only: bool = False) -> None:
        self.chip = chip
        self.short_only = short_only
        self.sizes: list[int] = []
        chip.power_on()

    @property
    def atr(self) -> bytes:
        return self.chip.atr

    def transmit(self, apdu: bytes) -> bytes:
        if self.short_only and CommandApdu.decode(apdu).extended:
            raise TagLost("reader could not transmit")
        self.sizes.append(len(apdu))
        return self.chip.process(apdu)


@pytest.fixture(scope="module")
def image():  # type: ignore[no-untyped-def]
    return issuer.issue(generate(61))


def test_extended_length_follows_the_atr(image) -> None:  # type: ignore[no-untyped-def]
    advertised = CccdChip(image, ChipOptions(extended_length=True))
    plain = CccdChip(image, ChipOptions(extended_length=False))
    assert supports_extended_length(advertised.atr)
    assert not supports_extended_length(plain.atr)
    long_reads, short_reads = Reader(advertised), Reader(plain)
    a = ChipSession(AccessKey.can(image.can), FILES).read(long_reads)
    b = ChipSession(AccessKey.can(image.can), FILES).read(short_reads)
    assert a.files == b.files
    assert a.apdus < b.apdus  # the face comes in far fewer READ BINARYs


def test_reader_without_extended_support_falls_back_on_the_next_tap(image) -> None:  # type: ignore[no-untyped-def]
    chip = CccdChip(image, ChipOptions(extended_length=True))
    session = ChipSession(AccessKey.can(image.can), FILES)
    with pytest.raises(TagLost):
        session.read(Reader(chip, short_only=True))
    assert session.strategy is not None and not session.strategy.extended
    result = session.read(Reader(chip, short_only=True))
    expected = ChipSession(AccessKey.can(image.can), FILES).read(Reader(chip)).files
    assert result.files == expected
    assert result.taps == 2
