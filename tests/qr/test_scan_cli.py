"""`station scan` on image files and a replayed camera; `station bench qr` on a tiny set."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import segno
from PIL import Image

from station import cli
from station.bench import qr as bench_qr
from station.sim import qrimage

A = qrimage.synthetic_payload(4)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("scan")
    out = {"good": root / "good.png", "bad": root / "bad.png", "noqr": root / "noqr.png",
           "notcccd": root / "notcccd.png"}
    Image.fromarray(qrimage.render(A, "clean", seed=4)).save(out["good"])
    out["bad"].write_bytes(b"not a png")
    Image.new("L", (640, 360), 128).save(out["noqr"])
    Image.fromarray(qrimage.render("https://example.invalid/x", "clean", seed=4)).save(
        out["notcccd"])
    return out


def test_scan_json_one_object_per_image(files: dict[str, Path],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["scan", "--json", str(files["good"])]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    r = json.loads(line)
    assert set(r) == {"path", "ok", "raw", "cccd", "error", "ms"}
    assert r["ok"] is True and r["raw"] == A and r["error"] is None and r["ms"] > 0
    assert r["cccd"]["id_number"] == A[:12]


def test_scan_exit_1_unless_every_image_decodes(files: dict[str, Path],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    paths = [str(files[k]) for k in ("good", "bad", "noqr", "notcccd")]
    assert cli.main(["scan", "--json", *paths]) == 1
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["ok"] for r in results] == [True, False, False, False]
    assert "not a readable image" in results[1]["error"]
    assert results[2]["error"] == "no QR code found" and results[2]["raw"] is None
    assert results[3]["raw"] == "https://example.invalid/x"
    assert results[3]["cccd"] is None and "QrFormatError" in results[3]["error"]


def test_scan_with_zbar_engine(files: dict[str, Path],
                               capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["scan", "--json", "--engine", "zbar", str(files["good"])]) == 0
    assert json.loads(capsys.readouterr().out)["raw"] == A


def test_scan_replay_prints_one_event_per_card(files: dict[str, Path], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    for i in range(3):
        (tmp_path / f"{i}.png").write_bytes(files["good"].read_bytes())
    assert cli.main(["scan", "--json", "--replay", str(tmp_path), "--fps", "0"]) == 0
    out = capsys.readouterr()
    (line,) = out.out.splitlines()
    assert json.loads(line)["raw"] == A
    assert "3 frames" in out.err


def test_scan_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["scan"]) == 2
    assert cli.main(["scan", "--replay", "x", "a.png"]) == 2


def test_bench_qr_reports_each_source_with_all_three_engines_in_one_run(tmp_path: Path) -> None:
    # A photo directory in the layout of zxing-cpp's samples: name.png + name.txt (text, CR LF
    # kept) or name.bin (bytes); an image without a truth is skipped.
    payload = "079123456789|Nguyễn Văn An\r\nline two"
    segno.make_qr(payload.encode(), error="m", mode="byte").save(str(tmp_path / "a.png"),
                                                                    scale=4)
    (tmp_path / "a.txt").write_bytes(payload.encode())
    segno.make_qr(b"\x00\xffbytes", error="m", mode="byte").save(str(tmp_path / "b.png"),
                                                                  scale=4)
    (tmp_path / "b.bin").write_bytes(b"\x00\xffbytes")
    segno.make_qr("other", error="m").save(str(tmp_path / "c.png"), scale=4)
    (tmp_path / "c.txt").write_bytes(b"not what it says")
    segno.make_qr("no truth", error="m").save(str(tmp_path / "d.png"), scale=4)
    result = bench_qr.run(argparse.Namespace(photos=str(tmp_path), photo_variants="0,90",
                                             frames=2, count=1, seed=1), lambda msg: None)
    assert [r[:2] for r in result.rows] == [
        (source, engine) for source in ("photos", "deskcam", "generator")
        for engine in ("ours", "ours, one thread", "zxing-cpp default", "pyzbar")]
    by = {(r[0], r[1]): r for r in result.rows}
    assert by["photos", "ours"][2:6] == (6, 4, 66.7, 2)  # c.png is 'wrong' at 0° and 90°
    for source in ("photos", "deskcam", "generator"):  # the helper thread changes no read
        assert by[source, "ours, one thread"][2:7] == by[source, "ours"][2:7]
    assert result.figures["one_thread_count_difference"] == 0
    assert result.figures["wrong_decodes"] == 2
    assert by["deskcam", "ours"][2] == 2 and by["generator", "ours"][2] == 11
    for key in ("wrong_decodes", "p95_vs_pyzbar", "deskcam_gain_pp", "generator_gain_pp",
                "photos_gain_vs_best_peer_pp", "cpu_p95_vs_pyzbar", "one_thread_p95_vs_pyzbar",
                "deskcam_zxing_cpu_p95_ms"):
        assert key in result.figures
    assert result.figures["generator_zxing_wrong"] == 0
    assert result.figures["deskcam_zxing_wrong"] == 0


def test_bench_qr_refuses_a_photo_directory_without_truths(tmp_path: Path) -> None:
    segno.make_qr("x").save(str(tmp_path / "x.png"))
    with pytest.raises(ValueError, match="truth"):
        bench_qr.run(argparse.Namespace(photos=str(tmp_path), sources="photos"),
                     lambda msg: None)


def test_sim_qr_writes_a_labelled_set_that_scan_decodes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["sim", "qr", "--out", str(tmp_path), "--count", "2",
                     "--distortion", "clean"]) == 0
    labels = [json.loads(line) for line in
              (tmp_path / "labels.jsonl").read_text("utf-8").splitlines()]
    assert [lab["seed"] for lab in labels] == [1, 2]
    capsys.readouterr()
    assert cli.main(["scan", "--json", *(str(tmp_path / lab["file"]) for lab in labels)]) == 0
    raws = [json.loads(line)["raw"] for line in capsys.readouterr().out.splitlines()]
    assert raws == [lab["payload"] for lab in labels]
    assert cli.main(["sim", "qr", "--out", str(tmp_path), "--distortion", "nope"]) == 2


def test_photo_variants_turn_mirror_and_invert_the_image(tmp_path: Path) -> None:
    img = np.zeros((4, 6), np.uint8)
    img[0, 0] = 200
    Image.fromarray(img).save(tmp_path / "a.png")
    (tmp_path / "a.bin").write_bytes(b"x")
    got = {s.group: s.y for s in bench_qr.photo_samples(tmp_path, bench_qr.PHOTO_VARIANTS)}
    name = tmp_path.name
    assert got[name][0, 0] == 200
    assert got[f"{name} 90°"].shape == (6, 4) and got[f"{name} 90°"][0, 3] == 200  # clockwise
    assert got[f"{name} 180°"][3, 5] == 200
    assert got[f"{name} mirrored"][0, 5] == 200
    assert got[f"{name} inverted"][0, 0] == 55 and got[f"{name} inverted"][1, 1] == 255
    with pytest.raises(ValueError, match="variant"):
        list(bench_qr.photo_samples(tmp_path, ("45",)))
