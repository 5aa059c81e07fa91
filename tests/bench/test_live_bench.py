"""`station bench live`: presentations played through the QR watch's own scanner at 30 fps."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from station.bench import live


def test_a_presentation_is_played_at_the_camera_rate_and_timed_to_its_key(tmp_path: Path) -> None:
    # A clean QR front close to the camera: keyed, the latency counted from the first frame
    # that shows the card (not from the start of the empty desk before it).
    (p,) = live.presentations("qr", 1, seed0=1)
    assert p.desk.shape == (720, 1280) and len(p.held) == live._TREMOR
    assert not np.array_equal(p.held[0], p.held[1])  # the hand's tremor: distinct renders
    out = live.present(p, lead_s=0.5, hold_s=1.0, root=tmp_path)
    assert out.captured == 30
    assert 0 < out.examined <= out.captured
    assert out.latency_s is None or 0 < out.latency_s < 1.0


def test_the_bench_reports_both_card_sides_and_the_per_frame_costs() -> None:
    args = argparse.Namespace(presentations=1, lead_s=0.2, hold_s=1.0, seed=3)
    result = live.run(args, lambda _msg: None)
    assert [r[0] for r in result.rows] == ["qr", "mrz"]
    for kind in ("qr", "mrz"):
        assert 0 < result.figures[f"{kind}_examined_pct"] <= 100
    assert result.figures["mrz_attempt_cpu_p95_ms"] > 0
    assert result.figures["qr_decode_qr_wall_p95_ms"] > 0
    assert {g.metric for g in result.goals} == {"mrz_attempt_wall_p95_ms",
                                                "qr_decode_qr_wall_p95_ms"}


def test_bad_options_are_refused_by_the_parser() -> None:
    parser = argparse.ArgumentParser()
    live.add_arguments(parser)
    for bad in (["--presentations", "0"], ["--hold-s", "0"], ["--lead-s", "-1"],
                ["--lead-s", "x"]):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)
    ok = parser.parse_args(["--presentations", "2", "--lead-s", "0", "--hold-s", "1.5"])
    assert (ok.presentations, ok.lead_s, ok.hold_s) == (2, 0.0, 1.5)
