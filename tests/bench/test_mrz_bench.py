"""`station bench mrz`: each source on its own rows, scored against its ground truth; the
camera-model documents carry a zone a reader can find (whole, in the frame)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from station.bench import deskcam, mrzdocs
from station.bench.mrz import camera_samples, run
from station.sim import citizens, mrzimage, passport


def _args(**kw: object) -> argparse.Namespace:
    base = {"camera_frames": 0, "dir": None, "per_distortion": 0, "seed": 0,
            "no_tesseract": True, "no_passporteye": True}
    return argparse.Namespace(**(base | kw))


def test_a_directory_is_scored_against_its_truth_file(tmp_path: Path) -> None:
    good, other = mrzimage.TD3_SPECIMEN, mrzimage.random_td3(5)
    mrzimage.render_frame(good, seed=1).save(tmp_path / "a.png")
    mrzimage.render_frame(other, seed=2).save(tmp_path / "b.png")
    # b's truth names another document: what the reader gets from b is counted wrong.
    (tmp_path / "truth.json").write_text(json.dumps({"a.png": good, "b.png": good}))
    result = run(_args(dir=str(tmp_path)), lambda _msg: None)
    (row,) = result.rows
    assert row[:6] == ["dir", "station", 2, 1, 1, 0]
    assert result.figures["wrong_keys"] == 1
    assert not dict((g.metric, ok) for g, _v, ok in result.goal_report())["wrong_keys"]


def test_without_truth_a_read_counts_when_its_check_digits_pass(tmp_path: Path) -> None:
    mrzimage.render_frame(mrzimage.TD1_SPECIMEN, seed=1).save(tmp_path / "a.png")
    from PIL import Image

    Image.new("L", (640, 360), 200).save(tmp_path / "blank.png")
    result = run(_args(dir=str(tmp_path)), lambda _msg: None)
    assert [r[:5] for r in result.rows] == [["dir", "station", 2, 1, 0]]


def test_camera_frames_show_the_whole_zone() -> None:
    (sample,) = camera_samples(1, seed=3)
    assert sample.grey.shape == (720, 1280) and sample.key
    for text, size, draw in ((citizens.generate(1).mrz(), mrzdocs.ID1_MM, mrzdocs.td1_back),
                             (passport.generate(1).mrz(), mrzdocs.TD3_MM, mrzdocs.td3_page)):
        doc = draw(text, np.random.default_rng(0))
        assert doc.shape[1] == round(size[0] * mrzdocs.PX_PER_MM)
        # The corners given for the zone enclose its ink and little else.
        c = mrzdocs.mrz_corners_mm(text, size)
        x0, y0 = ((c[0] + np.array(size) / 2) * mrzdocs.PX_PER_MM).astype(int)
        x1, y1 = ((c[2] + np.array(size) / 2) * mrzdocs.PX_PER_MM).astype(int)
        grey = doc.mean(axis=2)
        assert (grey[y0:y1, x0:x1] < 80).sum() > 0.9 * (grey < 80)[int(y0 * 0.9):].sum()
    assert deskcam.ID1_MM == mrzdocs.ID1_MM
