"""`station scan --mrz` on image files and through the replay camera; the Tesseract baseline;
`station bench mrz` on a tiny set."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from station.mrz.parse import parse_mrz
from station.sim.mrzimage import DISTORTIONS, TD3_SPECIMEN, Distortion, cccd_td1, render_frame


def _station(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "station", *args], capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("mrz")
    render_frame(TD3_SPECIMEN, Distortion(), seed=1).save(d / "a-passport.png")
    render_frame(cccd_td1(5), DISTORTIONS["rotate"], seed=2).save(d / "b-cccd.jpg")
    render_frame(cccd_td1(5), DISTORTIONS["blur"], seed=3).save(d / "c-cccd.png")
    return d


def test_scan_mrz_json_per_image(frames: Path, tmp_path: Path) -> None:
    blank = tmp_path / "blank.png"
    render_frame(TD3_SPECIMEN, Distortion(), seed=1).crop((0, 0, 200, 100)).save(blank)
    out = _station("scan", "--mrz", "--json", str(frames / "a-passport.png"),
                   str(frames / "b-cccd.jpg"), str(blank))
    assert out.returncode == 1  # one image without an MRZ
    results = [json.loads(line) for line in out.stdout.splitlines()]
    assert [set(r) for r in results] == [{"path", "ok", "raw", "mrz", "error", "ms"}] * 3
    a, b, c = results
    assert a["ok"] and a["raw"] == TD3_SPECIMEN and a["mrz"]["document_number"] == "L898902C3"
    assert b["ok"] and b["mrz"]["key_information"] == \
        parse_mrz(cccd_td1(5)).key_information()
    assert not c["ok"] and c["raw"] is None and c["error"].startswith("MrzNotFound")
    assert all(isinstance(r["ms"], float) for r in results)


def test_scan_mrz_replay_reports_each_document_once(frames: Path) -> None:
    out = _station("scan", "--mrz", "--json", "--replay", str(frames), "--fps", "0")
    assert out.returncode == 0, out.stderr
    results = [json.loads(line) for line in out.stdout.splitlines()]
    ok = [r for r in results if r["ok"]]
    # The two frames of the same CCCD are one document (debounced by its key).
    assert sorted(r["mrz"]["format"] for r in ok) == ["TD1", "TD3"]
    assert "3 frames, 2 documents" in out.stderr


def test_tesseract_baseline_reads_or_fails_typed() -> None:
    pytest.importorskip("tesserocr")
    from station.errors import MrzError
    from station.mrz.tesseract import TESSDATA, TesseractReader

    if not (TESSDATA / "eng.traineddata").exists():
        pytest.skip("tesseract-ocr eng model not installed")
    reader = TesseractReader()
    img = render_frame(TD3_SPECIMEN, Distortion(), seed=1)
    assert "UTO" in reader.text(img)
    try:
        m = reader.read_mrz(img)
    except MrzError:
        return
    assert m.key_information() == parse_mrz(TD3_SPECIMEN).key_information()


def test_bench_mrz_small_set() -> None:
    from station.bench import mrz

    args = argparse.Namespace(per_distortion=1, seed=0, no_tesseract=True, camera_frames=0,
                              no_passporteye=True)
    result = mrz.run(args, lambda _msg: None)
    assert result.figures["wrong_keys"] == 0
    assert 0 < result.figures["generated_station_success_rate"] <= 1
    assert result.figures["generated_station_p50_ms"] > 0
    assert [r[:3] for r in result.rows] == [["generated", "station", len(DISTORTIONS)]]


def test_key_vote_confirms_repaired_readings_on_a_second_frame() -> None:
    from station.mrz.scan import KeyVote

    vote = KeyVote(window=2.0)
    # Read as printed (no repair): every check digit passed on its own, reported at once.
    assert vote.offer("A", corrected=False, now=0.0)
    # Repaired: wait for another frame with the same key, within the window.
    assert not vote.offer("B", corrected=True, now=1.0)
    assert not vote.offer("C", corrected=True, now=1.5)
    assert vote.offer("B", corrected=True, now=2.5)
    # Too far apart: the first sighting has expired, so the second does not confirm.
    assert not vote.offer("C", corrected=True, now=4.0)
    assert not vote.offer("D", corrected=True, now=10.0)
    assert vote.offer("D", corrected=False, now=20.0)
