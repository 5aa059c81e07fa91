"""The vicc ePass (vsmartcard, Debian) at a lodging desk on real parts: its MRZ (the ICAO
specimen, ERIKSSON ANNA MARIA) photographed by the replay camera, its chip read through pcscd +
vpcd, the foreign guest's record signed, published over Mosquitto and stored by ingest.

The card carries no EF.SOD, so nothing on it can be verified: the record is ``unverified``
(the standing of a passport whose state's CSCA the store lacks), never authentic; its fields
come from the chip's DG1."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from station.ingest.outputs import Form, OpenedRecord, render
from station.service import machine as m
from station.testing import vicc
from station.testing.mosquitto import MosquittoBroker
from station.testing.pcscd import PcscdTestbed
from tests.service.desk_bed import Bed, ingest_token, running, settled, wait

pytestmark = pytest.mark.skipif(vicc.available() is not None,
                                reason=vicc.available() or "")

SPECIMEN_LINES = "\n".join((vicc.ICAO_SPECIMEN_MRZ[:44], vicc.ICAO_SPECIMEN_MRZ[44:]))


def test_a_foreign_guest_with_the_vicc_epass_reaches_ingest(
        tmp_path: Path, pcscd: PcscdTestbed, desk_broker: MosquittoBroker) -> None:
    from station.sim import mrzimage

    bed = Bed(tmp_path, pcscd, desk_broker, "lodging", session="card_wait_s = 6\n")
    with running(bed):
        png = tmp_path / "mrz-specimen.png"
        mrzimage.render_frame(SPECIMEN_LINES, seed=3).save(png)
        bed.camera.show(png)
        assert wait(lambda: bed.session.phase is m.Phase.WAITING
                     and bed.session.source is m.KeySource.MRZ), bed.session
        with vicc.ViccEpass(pcscd.slot_port(0)) as card:
            done = settled(bed)
            assert done.phase is m.Phase.SUCCESS, (done, card.log_tail())
        assert wait(lambda: len(bed.received) == 1, 15), bed.phases[-1]
    got = bed.received[0]
    assert got.record.outcome == "unverified" and got.record.protocol.startswith("BAC")
    checks = {c.name: c.ok for c in got.record.checks}
    assert checks["sod"] is False
    assert got.citizen is not None
    assert got.citizen["source"] == "chip" and got.citizen["nationality"] == "UTO"
    assert got.citizen["passport_number"] == "L898902C3"
    assert "ERIKSSON" in got.citizen["full_name"]
    # The immigration declaration's row, from what ingest stored.
    key = bed.ingest.verifier.backend_key
    assert key is not None
    out = render([OpenedRecord.from_token(ingest_token(bed, got), key)], Form.FOREIGNERS_CSV)
    head, row = csv.reader(io.StringIO(out.body.decode("utf-8-sig"), newline=""))
    declared = dict(zip(head, row, strict=True))
    assert (declared["Số hộ chiếu"], declared["Quốc tịch"], declared["Quốc gia cấp"]) == (
        "L898902C3", "UTO", "UTO")
    assert declared["Họ tên"] == got.citizen["full_name"]
    assert declared["Giới tính"] == "Nữ" and declared["Ngày sinh"] == "12/08/1974"
    assert declared["Kết quả xác thực"] == "unverified" and declared["Nguồn dữ liệu"] == "chip"
    assert declared["Số thị thực / thẻ tạm trú"] == ""  # the desk entered none
