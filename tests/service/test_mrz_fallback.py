"""A CCCD's MRZ as the key when its QR is damaged or missing (``[profile] mrz_fallback``): a
reception desk whose camera sees only the card's TD1 MRZ opens the chip with PACE-MRZ and sends
the same ``genuine`` record as by QR (real pcscd + vpcd, replay camera, Mosquitto, ingest); a
foreign document's MRZ is refused there without a read; the key turns the fallback off."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from station import config
from station.config import ProfileSection
from station.mrz.ocr import read_mrz
from station.service import machine as m
from station.service.desk import build as build_desk
from station.service.profiles import build
from station.service.qrwatch import MrzLookout, QrWatch, is_cccd
from station.sim import mrzimage, passport
from station.sim.citizens import generate
from station.testing.desk import DeskCamera, prepare_state
from station.testing.mosquitto import MosquittoBroker
from station.testing.pcscd import PcscdTestbed
from tests.service.desk_bed import Bed, running, tap, wait


def _frame(text: str, seed: int) -> np.ndarray:
    return np.asarray(mrzimage.render_frame(text, seed=seed).convert("L"), dtype=np.uint8)


def test_the_fallback_is_on_by_default_and_the_key_turns_it_off() -> None:
    for name in ("reception", "hospital", "bank"):
        on = build(name, ProfileSection())
        assert on.reads_mrz and not on.mrz_foreign
        assert not build(name, ProfileSection(mrz_fallback=False)).reads_mrz
    # Lodging keeps reading foreign guests' passports whatever the key says.
    lodging = build("lodging", ProfileSection(establishment_id="LT-1", mrz_fallback=False))
    assert lodging.reads_mrz and lodging.mrz_foreign


def test_a_desk_built_with_the_fallback_off_has_no_mrz_lookout(tmp_path: Path) -> None:
    prepare_state(tmp_path / "state")
    watches = {}
    for flag in ("true", "false"):
        (tmp_path / "station.toml").write_text(
            f"[station]\nid = 'd1'\nprofile = 'reception'\nstate_dir = '{tmp_path / 'state'}'\n"
            f"[camera]\nsource = 'none'\n[trust]\npath = '{tmp_path / 'state' / 'trust'}'\n"
            f"[mqtt]\nhost = '127.0.0.1'\nport = 1\ntls = false\n"
            f"[feedback]\nenabled = false\n[profile]\nmrz_fallback = {flag}\n")
        desk = build_desk(config.load(tmp_path / "station.toml"), camera=DeskCamera().open)
        watches[flag] = next(sv.watch for sv in desk.service._watches
                             if isinstance(sv.watch, QrWatch))
        desk.store.close()  # type: ignore[attr-defined]
    assert watches["true"].mrz and not watches["true"].mrz_foreign
    assert not watches["false"].mrz


def test_a_reception_desk_refuses_a_foreign_mrz_and_takes_a_cccds(
        caplog: pytest.LogCaptureFixture) -> None:
    posted: list[m.Event] = []
    now = [0.0]
    lookout = MrzLookout(posted.append, foreign=False, clock=lambda: now[0])
    traveller = passport.generate(71, state="FRA")
    foreign_id = passport.generate(72, state="FRA", kind="id")
    citizen = generate(73)
    with caplog.at_level(logging.INFO, logger="station.service.qrwatch"):
        for i, text in enumerate((traveller.mrz(), foreign_id.mrz())):
            frame = _frame(text, 70 + i)
            assert not is_cccd(read_mrz(frame))  # read fine: refused for what it is
            now[0] += 10  # past the lookout's rate limit
            assert lookout.decode(frame) is None
        assert posted == []
        refused = [r for r in caplog.records if r.getMessage() == "mrz.not_cccd"]
        assert [r.kv for r in refused] == [{"format": "TD3"}, {"format": "TD1"}]  # type: ignore[attr-defined]
        for r in caplog.records:  # no document data in any line
            assert traveller.document_number not in str(getattr(r, "kv", ""))

        now[0] += 10
        lookout.decode(_frame(citizen.mrz(), 73))
    assert len(posted) == 1 and isinstance(posted[0], m.MrzSeen)
    seen = posted[0]
    assert seen.keys.can is None and seen.keys.mrz is not None
    assert seen.keys.mrz.value == citizen.mrz_information  # type: ignore[union-attr]
    # A lodging desk's lookout takes the foreign passport.
    lodging: list[m.Event] = []
    MrzLookout(lodging.append).decode(_frame(traveller.mrz(), 70))
    assert len(lodging) == 1 and isinstance(lodging[0], m.MrzSeen)


def test_a_reception_desk_reads_a_cccd_by_its_mrz_when_there_is_no_qr(
        tmp_path: Path, pcscd: PcscdTestbed, desk_broker: MosquittoBroker) -> None:
    citizen = generate(74)
    bed = Bed(tmp_path, pcscd, desk_broker, "reception")
    png = tmp_path / "mrz.png"
    mrzimage.render_frame(citizen.mrz(), seed=74).save(png)
    with running(bed):
        bed.camera.show(png)
        assert wait(lambda: bed.session.phase is m.Phase.WAITING
                     and bed.session.source is m.KeySource.MRZ), bed.session
        tap(bed, citizen)
        assert wait(lambda: len(bed.received) == 1, 15), bed.phases[-1]
    (got,) = bed.received
    assert got.record.outcome == "genuine"
    assert got.record.protocol.startswith("PACE")
    assert got.citizen is not None and got.citizen["id_number"] == citizen.id_number
    assert set(got.citizen) == set(bed.desk.profile.fields)


def test_a_repaired_mrz_is_taken_only_when_a_second_frame_agrees() -> None:
    # A passport whose document number is printed with the letter O for its zero: it passes
    # its check digits only after repair (O→0), so one frame is not enough.
    text = mrzimage.random_td3(3)
    assert text.split("\n")[1].startswith("J07EA7TRN")
    printed = text.replace("\nJ07EA7TRN", "\nJO7EA7TRN")
    frame = _frame(printed, 75)
    assert read_mrz(frame).corrected
    posted: list[m.Event] = []
    now = [0.0]
    lookout = MrzLookout(posted.append, clock=lambda: now[0])
    assert lookout.decode(frame) is None and posted == []
    now[0] += 0.6  # the next attempt, within the vote's window
    lookout.decode(frame)
    assert len(posted) == 1 and isinstance(posted[0], m.MrzSeen)
    # A reading that passed as read is taken at once.
    clean: list[m.Event] = []
    MrzLookout(clean.append).decode(_frame(mrzimage.TD3_SPECIMEN, 75))
    assert len(clean) == 1
