"""`station bench mrz`: MRZ reading against Tesseract and PassportEye, per source of frames.

Sources, each reported on its own (the same frames for every engine, in the same run):

- ``camera``: documents drawn by :mod:`station.bench.mrzdocs` (a CCCD-like TD1 back, a TD3 page)
  photographed by the desk camera model :mod:`station.bench.deskcam` — a 3-D pose held 15-35 cm
  from a Pi camera, lens distortion, defocus and shake PSFs, glare, fingers, Bayer noise, white
  balance, JPEG. Neither shares code with the generator the reader was tuned on. Poses that put
  part of the zone out of the frame are drawn again, and a finger over the zone is taken
  away. A lamp's glare is left where it falls: over the zone (3 of 40 frames with seed 0, 16 of
  100 with seed 1) it can wash characters out to white, and such a frame is not one anybody
  reads (the frames are grouped by it, and by the zone's line pitch, in the notes).
- ``dir``: image files given with ``--dir DIR`` (e.g. another project's specimen scans, used
  locally); with ``DIR/truth.json`` (file name → MRZ text) results are scored against it,
  without it a result counts as read when every check digit passed, and "disagree" counts
  frames where two engines read different keys.
- ``generated``: ``station.sim.mrzimage.generated_set``, our own generator (for regressions).

Engines: ours (:func:`station.mrz.ocr.read_mrz`); Tesseract 5 with default settings through
the same ``parse_mrz``; PassportEye (``passporteye.read_mrz``) as its users call it, its own
validity verdict and fields. "wrong" counts results whose BAC/PACE key differs from the printed
one — it must be 0.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from station.bench import BenchResult, Goal, Progress

DESCRIPTION = ("MRZ reading on camera-model frames, a directory and generated frames: "
               "success, wrong keys, p50/p95 ms vs Tesseract and PassportEye")
SOURCES = ("camera", "dir", "generated")


@dataclass(frozen=True)
class Sample:
    label: str
    grey: NDArray[np.uint8]
    key: str | None
    """The printed MRZ's key information; None when the source has no ground truth."""
    line_px: float | None = None
    """Camera frames: the zone's line pitch in the frame (the mean of its two ends)."""
    glare: bool = False
    """Camera frames: a lamp's glare lobe reaches the zone."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--camera-frames", type=int, default=40,
                        help="desk-camera-model frames (default 40; 0: none)")
    parser.add_argument("--dir", metavar="DIR", default=None,
                        help="also read the images in DIR (scored against DIR/truth.json "
                             "when present, else by check digits)")
    parser.add_argument("--per-distortion", type=int, default=4,
                        help="generated documents per distortion (default 4; 0: none)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the frames")
    parser.add_argument("--no-tesseract", action="store_true",
                        help="skip the Tesseract baseline")
    parser.add_argument("--no-passporteye", action="store_true",
                        help="skip the PassportEye baseline")


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def camera_samples(n: int, seed: int) -> list[Sample]:
    """``n`` desk-camera-model frames: CCCD TD1 backs and passport TD3 pages, in turn."""
    from station.bench import deskcam
    from station.mrz.parse import parse_mrz

    out = []
    for i in range(n):
        rng = np.random.default_rng(seed * 100_003 + i)
        shot = camera_shot(rng, seed * 1000 + i, "td1" if i % 2 == 0 else "td3")
        frame = deskcam.render(shot.document, size_mm=shot.size_mm, pose=shot.pose,
                               capture=shot.capture, rng=rng)
        out.append(Sample(f"camera-{i:03d}-{shot.kind}", deskcam.luma(frame.rgb),
                          parse_mrz(shot.text).key_information(), shot.line_px(),
                          shot.glare_on_zone()))
    return out


@dataclass(frozen=True, repr=False)
class Shot:
    """A document and how it is held under the desk camera (``deskcam.render``'s inputs)."""

    kind: str
    text: str
    document: NDArray[np.uint8]
    size_mm: tuple[float, float]
    pose: Any
    """``deskcam.Pose``."""
    capture: Any
    """``deskcam.Capture``."""

    def line_px(self) -> float:
        """The zone's line pitch in the frame, in pixels (the mean of its left and right
        ends: a tilt makes one end's lines smaller)."""
        from station.bench import deskcam, mrzdocs

        corners = mrzdocs.mrz_corners_mm(self.text, self.size_mm)
        at = deskcam.project(corners, self.pose, deskcam.Camera())
        left, right = np.linalg.norm(at[3] - at[0]), np.linalg.norm(at[2] - at[1])
        height_mm = float(corners[2, 1] - corners[1, 1])
        return float(left + right) / 2 * mrzdocs.LINE_MM / height_mm

    def glare_on_zone(self) -> bool:
        """Whether the lamp's glare lobe (``deskcam.render``: σ = 8 % of the width) reaches
        the zone: its centre within 1.5 σ of the zone's rectangle."""
        from station.bench import mrzdocs

        if self.capture.glare is None:
            return False
        gu, gv, _strength = self.capture.glare
        w, h = self.size_mm
        x, y = (gu - 0.5) * w, (gv - 0.5) * h
        corners = mrzdocs.mrz_corners_mm(self.text, self.size_mm)
        dx = max(float(corners[0, 0]) - x, 0.0, x - float(corners[1, 0]))
        dy = max(float(corners[0, 1]) - y, 0.0, y - float(corners[2, 1]))
        return bool(math.hypot(dx, dy) < 1.5 * 0.08 * w)


def camera_shot(rng: np.random.Generator, citizen: int, kind: str) -> Shot:
    """A CCCD's back (``kind`` td1) or a passport's data page (td3) held by hand, in a pose a
    person can read: the whole zone in view, no finger over it."""
    from station.bench import deskcam, mrzdocs
    from station.sim import citizens, passport

    if kind == "td1":
        text, size = citizens.generate(citizen).mrz(), mrzdocs.ID1_MM
        doc = mrzdocs.td1_back(text, rng)
    else:
        text, size = passport.generate(citizen).mrz(), mrzdocs.TD3_MM
        doc = mrzdocs.td3_page(text, rng)
    camera = deskcam.Camera()
    corners = mrzdocs.mrz_corners_mm(text, size)
    for _ in range(50):
        pose, capture = deskcam.hand_held(rng, size_mm=size, camera=camera)
        # Frames a person can read: the whole zone in view, no finger on the edge under it.
        at = deskcam.project(corners, pose, camera)
        if (at.min() >= 8 and at[:, 0].max() < camera.width - 8
                and at[:, 1].max() < camera.height - 8):
            break
    zone_top = float(corners[0, 1]) + size[1] / 2  # mm from the document's top edge
    capture = replace(capture, fingers=tuple(
        f for f in capture.fingers if not _covers(f, zone_top, size[1])))
    return Shot(kind, text, doc, size, pose, capture)


def _covers(finger: Any, zone_top: float, height: float) -> bool:
    """Whether a finger (``deskcam.Finger``) reaches over the zone (``zone_top`` mm from the
    document's top edge, the zone running to the bottom edge)."""
    if finger.edge == 2:
        return True
    if finger.edge == 0:
        return bool(finger.depth_mm > zone_top)
    return bool(finger.at * height + finger.width_mm / 2 > zone_top)


def dir_samples(directory: Path) -> list[Sample]:
    from station.drivers.camera.replay import load_luma
    from station.mrz.parse import parse_mrz

    truth_file = directory / "truth.json"
    truth: dict[str, str] = json.loads(truth_file.read_text()) if truth_file.exists() else {}
    out = []
    for path in sorted(directory.iterdir()):
        if path.suffix.lower() not in (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"):
            continue
        text = truth.get(path.name)
        out.append(Sample(path.name, np.asarray(load_luma(str(path)), np.uint8),
                          parse_mrz(text).key_information() if text else None))
    return out


def generated_samples(per: int, seed: int) -> list[Sample]:
    from station.mrz.parse import parse_mrz
    from station.sim.mrzimage import generated_set

    return [Sample(s.name, np.asarray(s.image.convert("L"), np.uint8),
                   parse_mrz(s.text).key_information()) for s in generated_set(per, seed=seed)]


Engine = Callable[[NDArray[np.uint8]], str | None]
"""A frame → the key information of an MRZ that passed every check digit, or None."""


def _ours() -> Engine:
    from station.errors import MrzError
    from station.mrz.ocr import prepare, read_mrz

    prepare()

    def read(grey: NDArray[np.uint8]) -> str | None:
        try:
            return read_mrz(grey).key_information()
        except MrzError:
            return None
    return read


def _tesseract() -> Engine:
    from station.errors import MrzError
    from station.mrz.tesseract import TesseractReader

    reader = TesseractReader()

    def read(grey: NDArray[np.uint8]) -> str | None:
        try:
            return reader.read_mrz(grey).key_information()
        except MrzError:
            return None
    return read


def _passporteye() -> Engine:
    """PassportEye 2 as its README calls it: ``read_mrz(file)``; a result counts when its own
    ``valid`` says every check digit passed."""
    from passporteye import read_mrz
    from PIL import Image

    from station.mrz import mrz_information

    def read(grey: NDArray[np.uint8]) -> str | None:
        buf = io.BytesIO()
        Image.fromarray(grey).save(buf, "PNG")
        buf.seek(0)
        try:
            with warnings.catch_warnings():  # its scikit-image calls are deprecated there
                warnings.simplefilter("ignore")
                found: Any = read_mrz(buf)
        except Exception:  # a peer's crash on a frame is a frame it did not read
            return None
        if found is None or not found.valid:
            return None
        return mrz_information(str(found.number).rstrip("<"), str(found.date_of_birth),
                               str(found.expiration_date))
    return read


_CAMERA_GROUPS: tuple[tuple[str, Callable[[Sample], bool]], ...] = (
    # ICAO 9303's line pitch is 4.23 mm, its glyphs about 2.4 mm tall: glyph height in the
    # frame is ~0.57 of these figures.
    ("line pitch < 18 px", lambda s: s.line_px is not None and s.line_px < 18),
    ("18-24 px", lambda s: s.line_px is not None and 18 <= s.line_px < 24),
    (">= 24 px", lambda s: s.line_px is not None and s.line_px >= 24),
    ("glare over the zone", lambda s: s.glare),
    ("no glare there", lambda s: not s.glare),
)


def run(args: argparse.Namespace, progress: Progress) -> BenchResult:
    seed = getattr(args, "seed", 0)
    notes: list[str] = []
    sources: dict[str, list[Sample]] = {}
    n_camera = getattr(args, "camera_frames", 40)
    if n_camera:
        progress(f"rendering {n_camera} desk-camera frames")
        try:
            sources["camera"] = camera_samples(n_camera, seed)
        except (ImportError, RuntimeError) as exc:
            notes.append(f"camera source skipped: {exc}")
    directory = getattr(args, "dir", None)
    if directory:
        sources["dir"] = dir_samples(Path(directory))
        if not any(s.key for s in sources["dir"]):
            notes.append(f"dir: {directory}, no truth.json: 'ok' = every check digit passed")
    per = getattr(args, "per_distortion", 4)
    if per:
        progress("rendering the generated set")
        sources["generated"] = generated_samples(per, seed)

    engines: dict[str, Engine] = {"station": _ours()}
    if not getattr(args, "no_tesseract", False):
        from station.errors import MrzError

        try:
            engines["tesseract"] = _tesseract()
        except MrzError as exc:
            notes.append(f"tesseract baseline skipped: {exc}")
    if not getattr(args, "no_passporteye", False):
        try:
            engines["passporteye"] = _passporteye()
        except ImportError:
            notes.append("passporteye baseline skipped: not installed (the dev extra has it)")

    columns = ["source", "engine", "frames", "ok", "wrong", "disagree", "p50 ms", "p95 ms",
               "cpu p50 ms", "cpu p95 ms"]
    rows: list[list[object]] = []
    figures: dict[str, float] = {}
    wrong_total = 0
    for source, samples in sources.items():
        keys: dict[str, list[str | None]] = {e: [] for e in engines}
        times: dict[str, list[float]] = {e: [] for e in engines}
        cpu: dict[str, list[float]] = {e: [] for e in engines}
        for k, sample in enumerate(samples):
            if k % 10 == 0:
                progress(f"{source}: {k}/{len(samples)} frames")
            for name, read in engines.items():
                t0, c0 = time.perf_counter(), time.process_time()
                keys[name].append(read(sample.grey))
                times[name].append((time.perf_counter() - t0) * 1000)
                cpu[name].append((time.process_time() - c0) * 1000)
        for name in engines:
            got = keys[name]
            if any(s.key for s in samples):
                ok = sum(g is not None and g == s.key for g, s in zip(got, samples, strict=True))
                wrong = sum(g is not None and s.key is not None and g != s.key
                            for g, s in zip(got, samples, strict=True))
            else:
                ok, wrong = sum(g is not None for g in got), 0
            disagree = sum(
                g is not None and any(o is not None and o != g
                                      for e, ks in keys.items() if e != name for o in [ks[i]])
                for i, g in enumerate(got))
            wrong_total += wrong if name == "station" else 0
            p50, p95 = statistics.median(times[name]), _pct(times[name], 0.95)
            c50, c95 = statistics.median(cpu[name]), _pct(cpu[name], 0.95)
            rows.append([source, name, len(samples), ok, wrong, disagree, f"{p50:.0f}",
                         f"{p95:.0f}", f"{c50:.0f}", f"{c95:.0f}"])
            prefix = f"{source}_{name}"
            figures |= {f"{prefix}_success_rate": ok / max(1, len(samples)),
                        f"{prefix}_wrong_keys": float(wrong), f"{prefix}_p50_ms": p50,
                        f"{prefix}_p95_ms": p95, f"{prefix}_cpu_p50_ms": c50,
                        f"{prefix}_cpu_p95_ms": c95}
        if source == "camera":
            notes.append("camera by line pitch and light (" + "/".join(engines) + " read, of "
                         "frames): " + "; ".join(
                             f"{label} " + "/".join(
                                 str(sum(keys[e][i] == s.key for i, s in enumerate(samples)
                                         if pick(s))) for e in engines)
                             + f" of {sum(pick(s) for s in samples)}"
                             for label, pick in _CAMERA_GROUPS))
        for peer in ("tesseract", "passporteye"):
            if peer in engines:
                figures[f"{source}_p95_vs_{peer}"] = (figures[f"{source}_station_p95_ms"]
                                                      / figures[f"{source}_{peer}_p95_ms"])
    figures["wrong_keys"] = float(wrong_total)
    notes.append("wrong = a result whose BAC/PACE key differs from the printed MRZ; disagree = "
                 "a read whose key another engine read differently on the same frame; ms = "
                 "wall time per frame, cpu = this process's CPU time per frame (a loaded "
                 "machine inflates it much less than wall time; Tesseract's own threads count)")
    goals = [Goal("wrong_keys", 0)]
    if "camera" in sources:
        goals += [Goal("camera_station_success_rate", 0.8, higher_is_better=True),
                  Goal("camera_station_p95_ms", 250)]
    if "generated" in sources:
        goals.append(Goal("generated_station_success_rate", 0.9, higher_is_better=True))
    return BenchResult(name="mrz", columns=columns, rows=rows, figures=figures, goals=goals,
                       notes=notes)
