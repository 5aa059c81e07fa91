"""Read strategy on the plain file card (in process): sizing from the header, never past the end,
step-down on 6700, remembered for the session, resume after tag loss at every APDU."""

from __future__ import annotations

import random

import pytest

from station.errors import StatusWordError, TagLost
from station.nfc import files
from station.nfc.files import ReadStrategy, read_file, select_application
from station.sim.filecard import FileCard
from station.sim.vpcd import contactless_atr


def _file(size: int, seed: int = 1) -> bytes:
    body = random.Random(seed).randbytes(size - 4)
    return b"\x75\x82" + len(body).to_bytes(2, "big") + body


class Watch:
    """In-process link to the card: records READ BINARY ranges, refuses Le above ``max_le``
    with 6700, and drops the card after ``drop_after`` APDUs."""

    def __init__(self, card: FileCard, *, max_le: int = 256, drop_after: int | None = None):
        self.card = card
        self.max_le = max_le
        self.drop_after = drop_after
        self.count = 0
        self.reads: list[tuple[int, int]] = []
        self.sent_p1: list[int] = []

    def transmit(self, apdu: bytes) -> bytes:
        if self.drop_after is not None and self.count >= self.drop_after:
            raise TagLost("dropped")
        self.count += 1
        self.sent_p1.append(apdu[2])
        if apdu[1] == 0xB0:
            le = apdu[4] or 256
            if le > self.max_le:
                return b"\x67\x00"
            # P1 bit 8: short EF identifier in P1, offset in P2.
            offset = apdu[3] if apdu[2] & 0x80 else (apdu[2] << 8) | apdu[3]
            self.reads.append((offset, le))
        return self.card.process(apdu)


def _card(**content: bytes) -> FileCard:
    card = FileCard({0x0102: content.get("dg2", _file(2000)), 0x010D: content.get("dg13",
                     _file(700, 2))})
    card.power_on()
    return card


def test_reads_in_fewest_apdus_and_never_past_the_end() -> None:
    dg2 = _file(2000)
    link = Watch(_card(dg2=dg2))
    select_application(link)
    link.count = 0
    link.sent_p1.clear()
    got: list[tuple[str, int, int]] = []
    assert read_file(link, 0x0102, "DG2", strategy=ReadStrategy(223),
                     progress=lambda *a: got.append(a)) == dg2
    # The first read addresses DG2 by its SFI (selects it too) with the largest Le, its TLV
    # header sizes the rest: ⌈2000 / 223⌉ APDUs, no SELECT, no separate header read.
    assert link.count == -(-2000 // 223)
    assert link.sent_p1[0] == 0x80 | 0x02
    assert all(off + le <= len(dg2) for off, le in link.reads)
    assert got[-1] == ("DG2", 2000, 2000)
    assert [g[1] for g in got] == sorted(g[1] for g in got)


def test_step_down_is_remembered_for_the_session() -> None:
    link = Watch(_card(), max_le=128)
    select_application(link)
    strategy = ReadStrategy(223, ladder=(223, 192, 128, 64))
    read_file(link, 0x0102, "DG2", strategy=strategy)
    assert strategy.max_le == 128 and strategy.step_downs == [223, 192]
    before = link.count
    read_file(link, 0x010D, "DG13", strategy=strategy)
    assert link.count - before == -(-700 // 128)  # by SFI at 128 at once; no 6700 paid again


def test_step_down_gives_up_at_the_floor() -> None:
    link = Watch(_card(), max_le=32)
    select_application(link)
    with pytest.raises(StatusWordError) as exc:
        read_file(link, 0x0102, "DG2", strategy=ReadStrategy(223, ladder=(223, 64)))
    assert exc.value.sw == 0x6700


def test_resume_after_tag_loss_at_every_apdu() -> None:
    dg2 = _file(900)
    clean = Watch(_card(dg2=dg2))
    select_application(clean)
    read_file(clean, 0x0102, "DG2", strategy=ReadStrategy(223))
    total = clean.count  # SELECT AID + SELECT + header + chunks
    for drop in range(total):
        buf = bytearray()
        link = Watch(_card(dg2=dg2), drop_after=drop)
        with pytest.raises(TagLost):
            select_application(link)
            read_file(link, 0x0102, "DG2", strategy=ReadStrategy(223), into=buf)
        assert dg2.startswith(bytes(buf))
        before = len(buf)
        again = Watch(_card(dg2=dg2))
        select_application(again)
        assert read_file(again, 0x0102, "DG2", strategy=ReadStrategy(223), into=buf) == dg2
        # Only the missing bytes are read again.
        assert sum(le for _, le in again.reads) == len(dg2) - before


def test_extended_length_from_historical_bytes() -> None:
    # Card capabilities 73 xx xx C0: bit 7 of the third byte = extended Lc/Le.
    assert files.supports_extended_length(contactless_atr(bytes.fromhex("807300C0C0")))
    assert not files.supports_extended_length(contactless_atr(bytes.fromhex("8073000080")))
    assert not files.supports_extended_length(contactless_atr())
    assert not files.supports_extended_length(b"\x3b")


class NoSfiCard(Watch):
    """A chip that refuses short-EF-identifier addressing (6B00), like some older ones."""

    def transmit(self, apdu: bytes) -> bytes:
        if apdu[1] == 0xB0 and apdu[2] & 0x80:
            self.count += 1
            self.sent_p1.append(apdu[2])
            return b"\x6b\x00"
        return super().transmit(apdu)


def test_chip_without_sfi_gets_select_for_the_rest_of_the_session() -> None:
    link = NoSfiCard(_card())
    select_application(link)
    strategy = ReadStrategy(223)
    dg2 = read_file(link, 0x0102, "DG2", strategy=strategy)
    assert dg2 == _card().files[0x0102]
    assert strategy.sfi is False
    before = link.count
    read_file(link, 0x010D, "DG13", strategy=strategy)
    # SELECT, header, body: the refused SFI read is not paid again.
    assert link.count - before == 1 + 1 + -(-696 // 223)
    assert all(not p1 & 0x80 for p1 in link.sent_p1[-(link.count - before):])


def test_sfi_not_found_is_the_files_own_answer() -> None:
    link = Watch(_card())
    select_application(link)
    strategy = ReadStrategy(223)
    with pytest.raises(StatusWordError) as exc:
        read_file(link, 0x010B, "DG11", strategy=strategy)  # no DG11 on a CCCD
    assert exc.value.sw == 0x6A82
    assert strategy.sfi is True  # a missing file says nothing about SFI support
