"""Reading a machine-readable zone from a grey camera frame.

ICAO 9303-3 §4.2 fixes what a general OCR engine has to guess: the MRZ is OCR-B at a constant
pitch (10 characters per inch), in 3 lines of 30 (TD1) or 2 lines of 36 (TD2) or 44 (TD3), with a
small known alphabet (A-Z, 0-9, '<'). So instead of asking an engine to find words, we

1. deskew: the angle that makes the dark pixels' row projection sharpest (text lines);
2. find the MRZ: horizontally smeared ink forms long thin bands; 2 or 3 aligned, evenly spaced
   bands of the same length are the zone;
3. cut each line into its N character cells: pitch and offset come from the line's ink extent,
   then a least-squares fit of where the glyphs actually matched;
4. classify each cell by normalised correlation against OCR-B glyphs rendered from the font,
   restricted to the characters the field allows at that position (digits in dates and check
   digits, letters in names and states);
5. hand the text to :func:`station.mrz.parse.parse_mrz` with OCR repair, which verifies every
   check digit: nothing that fails one comes out of :func:`read_mrz`.

numpy only; no model is downloaded: the glyph templates are rendered from the installed font.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFilter

from station.errors import MrzError, MrzNotFound
from station.mrz import locate
from station.mrz.font import ocr_b, ocr_b_size
from station.mrz.parse import Mrz, parse_mrz

Array = NDArray[np.float32]

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<"
_DIGITS = "0123456789"
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ<"
_GRID_W, _GRID_H = 16, 24
_CELL_TOP, _CELL_BOTTOM = 1.25, 0.25
"""A character cell spans from 1.25 pitches above the baseline to 0.25 below (OCR-B capitals and
digits are about one pitch tall)."""
_INK_MARGIN = 0.34
"""OCR-B glyphs are centred in their advance; their ink starts about 0.16 pitch in."""
_WORK_WIDTH = 640
_MIN_SCORE = 0.55
"""Below this correlation a cell is unreadable: refuse rather than guess."""
_KEY_SCORE = 0.7
"""The floor for the cells of the BAC/PACE key (:func:`_key_cells_ok`)."""
_KEY_CELLS: dict[str, tuple[int, tuple[tuple[int, int], ...]]] = {
    # line, [start, end) spans: document number + check (TD2/TD3), birth + check, expiry +
    # check, composite. TD1's document number is on its first line (checked apart).
    "TD1": (1, ((0, 7), (8, 15), (29, 30))),
    "TD2": (1, ((0, 10), (13, 20), (21, 28), (35, 36))),
    "TD3": (1, ((0, 10), (13, 20), (21, 28), (43, 44))),
}
_LOCATE_ZONES = 2
"""Located zones tried (each in both orientations) before the frame is read as it is."""

# Which characters each position may hold (ICAO 9303-4/5/6 field layouts). 'a' alphanumeric
# with filler, 'l' letters or filler, 'd' digits, 'D' digits or filler, 's' sex.
_LAYOUT: dict[str, tuple[str, ...]] = {
    "TD1": ("ll" + "lll" + "a" * 9 + "D" + "a" * 15,
            "DDDDDD" + "d" + "s" + "dddddd" + "d" + "lll" + "a" * 11 + "d",
            "l" * 30),
    "TD2": ("ll" + "lll" + "l" * 31,
            "a" * 9 + "D" + "lll" + "DDDDDD" + "d" + "s" + "dddddd" + "d" + "a" * 7 + "d"),
    "TD3": ("ll" + "lll" + "l" * 39,
            "a" * 9 + "D" + "lll" + "DDDDDD" + "d" + "s" + "dddddd" + "d" + "a" * 14 + "D" + "d"),
}
_ALLOWED = {"a": ALPHABET, "l": _LETTERS, "d": _DIGITS, "D": _DIGITS + "<", "s": "MFX<"}


@dataclass(frozen=True)
class _Line:
    """One MRZ line in the deskewed full-resolution frame."""

    y0: int
    y1: int
    x0: int
    x1: int


@lru_cache(maxsize=1)
def _templates() -> tuple[Array, Array]:
    """Normalised OCR-B glyph templates, sharp and defocused: arrays (2, 37, GRID_H*GRID_W)."""
    pitch = 96
    font = ocr_b(ocr_b_size(pitch))
    top, bottom = round(_CELL_TOP * pitch), round(_CELL_BOTTOM * pitch)
    sets = []
    for sigma in (0.0, 0.14 * pitch):
        rows = []
        for c in ALPHABET:
            canvas = Image.new("L", (pitch * 3, top + bottom + pitch * 2), 0)
            ImageDraw.Draw(canvas).text((pitch, pitch + top), c, fill=255, font=font,
                                        anchor="ls")
            if sigma:
                canvas = canvas.filter(ImageFilter.GaussianBlur(sigma))
            cell = canvas.crop((pitch, pitch, 2 * pitch, pitch + top + bottom))
            rows.append(np.asarray(cell.resize((_GRID_W, _GRID_H), Image.Resampling.BOX),
                                   np.float32).ravel())
        sets.append(_normalise(np.stack(rows)))
    return sets[0], sets[1]


@lru_cache(maxsize=1)
def _template_matrix() -> Array:
    sharp, soft = _templates()
    return np.ascontiguousarray(np.concatenate([sharp, soft]).T)


def _normalise(v: Array) -> Array:
    v = v - v.mean(axis=-1, keepdims=True)
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    out: Array = (v / np.maximum(n, 1e-6)).astype(np.float32)
    return out


def _correlate(patches: Array) -> Array:
    """Normalised correlation of each patch (a row) with every template, sharp and soft: one
    GEMM, (patches, 2 × classes). The templates are zero-mean with unit norm, so a patch's mean
    drops out of the product and only its norm about the mean divides it: no normalised copy
    of the patches is made."""
    dot: Array = patches @ _template_matrix()
    k = patches.shape[1]
    s1 = patches.sum(axis=1, dtype=np.float64)
    s2 = np.einsum("ij,ij->i", patches, patches, dtype=np.float64)
    norm = np.sqrt(np.maximum(s2 - s1 * s1 / k, 1e-12)).astype(np.float32)
    dot /= np.maximum(norm, 1e-6)[:, None]
    return dot


def _as_grey(image: Any) -> Array:
    if isinstance(image, Image.Image):
        image = image.convert("L")
    a = np.asarray(image)
    if a.ndim == 3:
        a = a[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    if a.ndim != 2 or a.shape[0] < 32 or a.shape[1] < 64:
        raise MrzNotFound("image", "is not a grey image of a usable size")
    return a.astype(np.float32)


def _box_mean(a: Array, r: int) -> Array:
    """Mean over a (2r+1)² window with edge padding: separable running sums in float32 (a
    float64 integral image of the whole frame cost ~10× more; the rounding here is < 0.01
    grey level)."""
    k = 2 * r + 1
    p = np.pad(a.astype(np.float32, copy=False), r, mode="edge")
    if r <= 2:  # a few shifted views beat running sums
        rows = p[:, : a.shape[1]].copy()
        for i in range(1, k):
            rows += p[:, i: i + a.shape[1]]
        box = rows[: a.shape[0]].copy()
        for i in range(1, k):
            box += rows[i: i + a.shape[0]]
    else:
        c = np.cumsum(np.pad(p, ((0, 0), (1, 0))), axis=1, dtype=np.float32)
        rows = c[:, k:] - c[:, :-k]
        c = np.cumsum(np.pad(rows, ((1, 0), (0, 0))), axis=0, dtype=np.float32)
        box = c[k:] - c[:-k]
    mean: Array = (box * np.float32(1 / (k * k))).astype(np.float32, copy=False)
    return mean


def _rank(a: Array, q: float, axis: int | None = None) -> Array:
    """The ``q``-th percentile by nearest rank (``np.partition``; ``np.percentile``'s
    interpolation machinery cost ~7× more on these small crops)."""
    if axis is None:
        a = a.ravel()
        axis = 0
    k = min(a.shape[axis] - 1, max(0, round(q / 100 * (a.shape[axis] - 1))))
    out: Array = np.take(np.partition(a, k, axis=axis), k, axis=axis)
    return out


def _dark(a: Array, r: int) -> NDArray[np.bool_]:
    """Pixels clearly darker than their neighbourhood (ink), whatever the lighting."""
    mean = _box_mean(a, r)
    dark: NDArray[np.bool_] = (mean - a) > np.maximum(12.0, 0.15 * mean)
    return dark


def _skew(dark: NDArray[np.bool_]) -> float:
    """Angle (degrees) of the text lines: the shear that makes the row projection sharpest."""
    ys, xs = np.nonzero(dark)
    if len(ys) < 50:
        raise MrzNotFound("zone", "no ink in the image")
    ys = ys.astype(np.float32)
    xs = xs.astype(np.float32) - dark.shape[1] / 2

    def score(deg: float) -> float:
        rows = ys - xs * math.tan(math.radians(deg))
        h = np.bincount((rows - rows.min()).astype(np.int64))
        return float((h.astype(np.float64) ** 2).sum())

    best = max(np.arange(-10.0, 10.01, 0.5), key=lambda d: score(float(d)))
    return max((float(best) + d for d in np.arange(-0.4, 0.41, 0.1)), key=score)


def _bands(dark: NDArray[np.bool_], min_len: int) -> list[_Line]:
    """Long horizontal runs of smeared ink, joined across rows: candidate MRZ lines."""
    # Join glyphs into a bar: a stroke in a 3-row, 15-column window (the gap between lines is
    # over half a pitch, so lines stay apart down to ~6 px pitch).
    d = dark.astype(np.int32)
    d = d + np.pad(d[1:], ((0, 1), (0, 0))) + np.pad(d[:-1], ((1, 0), (0, 0)))
    w = 15
    c = np.cumsum(np.pad(d, ((0, 0), (w // 2 + 1, w // 2))), axis=1)
    on = (c[:, w:] - c[:, :-w]) > 0
    edges = np.diff(np.pad(on.astype(np.int8), ((0, 0), (1, 1))), axis=1)
    open_: list[list[int]] = []  # [y0, y1, x0, x1]
    done: list[list[int]] = []
    for y in range(on.shape[0]):
        starts = np.nonzero(edges[y] == 1)[0]
        ends = np.nonzero(edges[y] == -1)[0]
        runs = [(int(s), int(e)) for s, e in zip(starts, ends, strict=True) if e - s >= min_len]
        still = []
        for band in open_:
            hit = [r for r in runs if r[0] < band[3] and r[1] > band[2]]
            if hit:
                band[1] = y
                band[2] = min(band[2], *(r[0] for r in hit))
                band[3] = max(band[3], *(r[1] for r in hit))
                runs = [r for r in runs if r not in hit]
                still.append(band)
            else:
                done.append(band)
        still += [[y, y, s, e] for s, e in runs]
        open_ = still
    done += open_
    # A row where blur or a thin stroke broke the bar splits a line in two: join them again.
    done.sort(key=lambda b: b[0])
    merged: list[list[int]] = []
    for b in done:
        m = next((m for m in merged if 0 <= b[0] - m[1] <= 2
                  and min(b[3], m[3]) - max(b[2], m[2]) > 0.8 * (b[3] - b[2])), None)
        if m is None:
            merged.append(b)
        else:
            m[1], m[2], m[3] = max(m[1], b[1]), min(m[2], b[2]), max(m[3], b[3])
    return [_Line(b[0], b[1] + 1, b[2], b[3]) for b in merged if b[1] - b[0] >= 2]


def _groups(bands: list[_Line]) -> list[tuple[str, list[_Line]]]:
    """Sets of 3 (TD1) or 2 (TD2, TD3) aligned, evenly spaced bands, best first."""
    bands = sorted((b for b in bands if (b.x1 - b.x0) >= 8 * (b.y1 - b.y0)),
                   key=lambda b: b.y0)
    found: list[tuple[float, str, list[_Line]]] = []

    def aligned(a: _Line, b: _Line) -> bool:
        width = max(a.x1 - a.x0, b.x1 - b.x0)
        gap = b.y0 - a.y0
        h = max(a.y1 - a.y0, b.y1 - b.y0)
        return (abs(a.x0 - b.x0) < 0.035 * width and abs(a.x1 - b.x1) < 0.035 * width
                and 0.9 * h < gap < 3.0 * h)

    for i, a in enumerate(bands):
        for j in range(i + 1, len(bands)):
            b = bands[j]
            if not aligned(a, b):
                continue
            k_match = [c for c in bands[j + 1:] if aligned(b, c)
                       and abs((c.y0 - b.y0) - (b.y0 - a.y0)) < 0.35 * (b.y0 - a.y0)]
            width = a.x1 - a.x0
            if k_match:
                found.append((width * 3, "TD1", [a, b, k_match[0]]))
            found.append((width * 2, "TD2/TD3", [a, b]))
    found.sort(key=lambda t: -t[0])
    return [(fmt, lines) for _, fmt, lines in found]


_sample = locate.sample


@dataclass(frozen=True)
class _Read:
    text: str
    scores: Array
    """Best correlation per cell."""


@dataclass
class _Measured:
    """A line's crop (ink is bright), its ink extent and baseline, in crop coordinates."""

    crop: Array
    left: float
    right: float
    baseline: float
    height: float


def _measure(img: Array, line: _Line, n: int) -> _Measured | None:
    """The ink extent and baseline of one MRZ line; None if it does not look like one."""
    h = line.y1 - line.y0
    pad = max(3, h)
    y0, y1 = max(0, line.y0 - pad), min(img.shape[0], line.y1 + pad)
    x0, x1 = max(0, line.x0 - pad), min(img.shape[1], line.x1 + pad)
    crop = img[y0:y1, x0:x1]
    top_pad = line.y0 - y0
    if crop.shape[0] < 6 or crop.shape[1] < n * 3:
        return None
    # Ink relative to the paper just around it (glare and shading vary along a line).
    paper = _rank(crop, 90, axis=0)
    k = max(1, crop.shape[1] // (n * 2))
    paper = np.convolve(np.pad(paper, k, mode="edge"), np.ones(2 * k + 1) / (2 * k + 1),
                        mode="same")[k:-k]
    darkest = float(_rank(crop, 2))
    ink = np.clip((paper[None, :] - crop) / max(8.0, float(paper.mean()) - darkest), 0, 1)
    inner = ink[max(0, top_pad - 1): top_pad + h + 1]
    # Solid dark columns through the margins too are a document edge, not glyphs.
    m = max(1, pad // 2)
    solid = (ink[:m].mean(axis=0) > 0.5) & (ink[-m:].mean(axis=0) > 0.5)
    cols = np.where(solid, 0, inner.sum(axis=0))
    # Sensor noise puts a little "ink" in every column (the paper level is an upper percentile):
    # measure from the floor of the margins and the gaps between glyphs, not from zero.
    floor = float(_rank(cols, 10))
    on = np.nonzero(cols > floor + 0.12 * (cols.max() - floor))[0]
    if len(on) < n:
        return None
    left, right = float(on[0]), float(on[-1] + 1)
    # The line's ink rows: grow from the band's middle while rows carry ink (the band from the
    # smeared map is only roughly placed); the baseline is the lowest of them (capitals and
    # digits sit on it; '<' and a residual tilt are absorbed by the per-cell refit).
    prof = ink[:, int(left): int(right)].sum(axis=1)
    mid = min(len(prof) - 2, top_pad + h // 2)
    lo = mid - 1 + int(np.argmax(prof[mid - 1: mid + 2]))
    thresh = 0.3 * prof[lo]
    bottom = lo
    while bottom + 1 < len(prof) and prof[bottom + 1] > thresh:
        bottom += 1
    top = lo
    while top > 0 and prof[top - 1] > thresh:
        top -= 1
    # A 3×3 mean takes the edge off sensor noise before sampling (templates have a soft set).
    smooth = _box_mean(crop, 1)
    return _Measured(-smooth, left + x0, right + x0, float(bottom) + 0.5, float(bottom - top + 1))


def _classify(m: _Measured, x_origin: float, left: float, right: float, n: int,
              layout: str) -> _Read | None:
    """Cut a measured line into ``n`` cells between ``left`` and ``right`` (frame x) and
    classify each against the OCR-B templates the layout allows at that position."""
    pitch = (right - left) / (n - 1 + 2 * _INK_MARGIN)
    if pitch < 4 or not 0.6 * pitch < m.height < 1.7 * pitch:
        return None
    # Sample each cell once on a grid with a margin of `mx`/`my` grid steps, then take every
    # shifted window out of it (shifts in steps of 1/16 pitch, ±0.25 pitch across, ±1/8 up).
    mx, my = 4, 2
    step_x = 1.0 / _GRID_W
    step_y = (_CELL_TOP + _CELL_BOTTOM) / _GRID_H
    gx = (np.arange(-mx, _GRID_W + mx, dtype=np.float32) + 0.5) * step_x - 0.5
    gy = (np.arange(-my, _GRID_H + my, dtype=np.float32) + 0.5) * step_y - _CELL_TOP
    centres = left - x_origin + pitch * (_INK_MARGIN + np.arange(n, dtype=np.float32))
    base = np.full(n, m.baseline, np.float32)
    best_char = np.zeros((n, len(ALPHABET)), np.float32)
    for round_ in range(3):
        xs = centres[:, None, None] + gx[None, None, :] * pitch
        ys = base[:, None, None] + gy[None, :, None] * pitch
        xs, ys = np.broadcast_arrays(xs, ys)
        big = _sample(m.crop, xs, ys)  # (n, H + 2my, W + 2mx)
        win = np.lib.stride_tricks.sliding_window_view(big, (_GRID_H, _GRID_W), axis=(1, 2))
        win = win[:, :, ::2] if round_ == 0 else win  # coarse horizontal steps first
        ny, nx = win.shape[1], win.shape[2]
        both = _correlate(win.reshape(n * ny * nx, _GRID_H * _GRID_W))
        k = len(ALPHABET)
        corr = np.maximum(both[:, :k], both[:, k:]).reshape(n, ny * nx, k)
        best_char = corr.max(axis=1)
        if round_ == 2:
            break
        # Refit pitch, offset and baseline to where the glyphs matched best.
        where = corr.max(axis=2).argmax(axis=1)
        score = corr.max(axis=(1, 2))
        good = score > 0.6
        if good.sum() < n // 2:
            return None
        dy = (where // nx - my).astype(np.float32) * step_y * pitch
        dx = (where % nx).astype(np.float32) * (2 if round_ == 0 else 1) - mx
        i = np.arange(n, dtype=np.float32)
        b, a = np.polyfit(i[good], (centres + dx * step_x * pitch)[good], 1)
        bb, ba = np.polyfit(i[good], (base + dy)[good], 1)
        centres = (a + b * i).astype(np.float32)
        base = (ba + bb * i).astype(np.float32)
        pitch = float(b)
    chars = []
    scores = np.zeros(n, np.float32)
    for k in range(n):
        idx = [ALPHABET.index(c) for c in _ALLOWED[layout[k]]]
        j = idx[int(np.argmax(best_char[k, idx]))]
        chars.append(ALPHABET[j])
        scores[k] = best_char[k, j]
    return _Read("".join(chars), scores)


_EXTENT_SHIFTS = ((0, 0), (1, 0), (0, -1), (-1, 0), (0, 1))
"""Where a zone's first reading fails, the ink extent is most often one cell off at one end
(a dark mark just before the first glyph, noise, a glyph lost in glare): retry with the left or
right end moved by one pitch, in or out. Check digits still decide every reading."""


def _read_zone(grey: Array, lines: list[_Line], fmt: str,
               shifts: tuple[tuple[int, int], ...] = ((0, 0),)) -> list[list[_Read]]:
    """The zone's readings, one per extent hypothesis in ``shifts`` that could be cut."""
    n = {"TD1": 30, "TD2": 36, "TD3": 44}[fmt]
    measured = [_measure(grey, line, n) for line in lines]
    if any(m is None for m in measured):
        return []
    ms = [m for m in measured if m is not None]
    # ICAO 9303-3: the lines start and end at the same pitch positions. Something dark next to
    # one line can only widen its ink extent, so take the median (3 lines) or the narrower.
    lefts = sorted(m.left for m in ms)
    rights = sorted(m.right for m in ms)
    left, right = (lefts[1], rights[1]) if len(ms) == 3 else (lefts[-1], rights[0])
    pitch = (right - left) / (n - 1 + 2 * _INK_MARGIN)
    out = []
    for dl, dr in shifts:
        reads = []
        for line, m, layout in zip(lines, ms, _LAYOUT[fmt], strict=True):
            x_origin = float(max(0, line.x0 - max(3, line.y1 - line.y0)))
            r = _classify(m, x_origin, left + dl * pitch, right + dr * pitch, n, layout)
            if r is None:
                break
            reads.append(r)
            if not _line_ok(fmt, len(reads) - 1, r):
                # :func:`_accept` refuses this reading whatever the other lines say: keep it
                # (so the failure is told as an unreadable cell) without reading them.
                out.append(reads)
                break
        else:
            out.append(reads)
    return out


def _line_ok(fmt: str, index: int, read: _Read) -> bool:
    """Whether line ``index`` of a ``fmt`` zone clears the floors :func:`_accept` applies."""
    if float(read.scores.min()) < _MIN_SCORE:
        return False
    if fmt == "TD1" and index == 0 and float(read.scores[5:15].min()) < _KEY_SCORE:
        return False
    row, spans = _KEY_CELLS[fmt]
    return index != row or all(float(read.scores[a:b].min()) >= _KEY_SCORE for a, b in spans)


def prepare() -> None:
    """Render the glyph templates now (about 0.1-0.3 s) rather than on the first frame."""
    _template_matrix()
    _blas_controller()


@lru_cache(maxsize=1)
def _blas_controller() -> Any:
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # the mrz extra brings it; without it, set OPENBLAS_NUM_THREADS=1
        return None
    return ThreadpoolController()


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    """Our matrix products are small (a few thousand patches × 384 × 74): BLAS worker threads
    cost more in wake-ups than they save, and on a loaded machine (a Pi running the chip
    session, the publisher and the camera) their spinning multiplied frame times by 3-5."""
    controller = _blas_controller()
    if controller is None:
        yield
        return
    with controller.limit(limits=1, user_api="blas"):
        yield


def read_mrz(image: Any) -> Mrz:
    """Find and read the MRZ in a grey (or colour) frame: a numpy array or a PIL image.

    Raises :class:`MrzNotFound` when no zone is seen, :class:`MrzError` when a zone is seen but
    its text does not pass every check digit. A returned :class:`Mrz` passed them all.
    BLAS runs on one thread for the call (threadpoolctl)."""
    with _one_blas_thread():
        return _read_mrz(image)


def _read_mrz(image: Any) -> Mrz:
    grey = _as_grey(image)
    last: MrzError | None = None
    # A zone found and straightened first (any rotation, tilt); then the frame as it is, for
    # what the localisation missed (an axis-aligned scan reads either way).
    zones = locate.find_zones(grey, limit=_LOCATE_ZONES)
    for crop in _straightened(grey, zones):
        try:
            return _read_straightened(crop)
        except MrzError as exc:
            last = _telling(last, exc)
    if zones and abs(zones[0].angle) > _LEVEL_MAX_ANGLE:
        # The frame's text runs at an angle the level reader's deskew (±10°) cannot take out:
        # reading it as it is only costs time (on the desk camera, the frames that fail).
        raise last or MrzNotFound("zone", "no machine-readable zone could be read")
    try:
        return _read_level(grey)
    except MrzError as exc:
        raise _telling(last, exc) from None


_LEVEL_MAX_ANGLE = 12.0
"""Frames whose text lines the localisation found turned further than this are not also read
as they are (:func:`_read_level` deskews by at most 10°)."""


def _straightened(grey: Array, zones: list[locate.Zone]) -> Iterator[locate.Straightened]:
    """The located zones, straightened, each in its likelier orientation first."""
    for zone in zones:
        s = locate.straighten(grey, zone)
        if s.image.shape[0] < 32 or s.image.shape[1] < 64:
            continue
        yield from (s, s.turned()) if _upright(s.image) else (s.turned(), s)


def _read_straightened(s: locate.Straightened) -> Mrz:
    """A straightened zone: its lines are where the localisation put them (their own ink
    decides extent and baseline); a single bar is searched for lines like any image."""
    if len(s.rows) == 1:
        return _read_level(s.image, zones=1, reshape=False)
    half = s.thickness / 2
    lines = [_Line(max(0, round(r - half)), round(r + half), round(s.x0), round(s.x1))
             for r in s.rows]
    formats = ("TD1",) if len(lines) == 3 else ("TD3", "TD2")
    try:
        return _read_level(s.image, zones=1, reshape=False)
    except MrzError as exc:
        last = exc
    # Lines the crop's own band search missed (glare washing out one end): where the
    # localisation put them.
    for fmt in formats:
        reads = [(float(np.mean([r.scores.mean() for r in got])), fmt, got)
                 for got in _read_zone(s.image, lines, fmt)]
        try:
            return _accept(reads, last)
        except MrzError as exc:
            last = _telling(last, exc)
    raise last


def _upright(crop: Array) -> bool:
    """Whether a straightened zone reads left to right as it is: MRZ lines end in '<' fillers
    (names, optional data), which carry less ink than the letters and digits they follow."""
    h, w = crop.shape
    mid = crop[h // 4: h - h // 4]
    # Ink against the paper of its own columns, relative to it: shading and a lamp's glare
    # brighten one end of a zone, and ink measured against one paper level for the whole zone
    # then reads the dimmer end as the inkier one (a quarter of the desk-camera frames).
    paper = _rank(mid, 90, axis=0)
    k = max(1, w // 60)
    paper = np.convolve(np.pad(paper, k, mode="edge"), np.ones(2 * k + 1) / (2 * k + 1),
                        mode="same")[k:-k]
    ink = np.clip(paper[None, :] - mid, 0, None) / np.maximum(paper[None, :], 1.0)
    left, right = ink[:, w // 8: w * 3 // 8].mean(), ink[:, w * 5 // 8: w * 7 // 8].mean()
    return bool(left >= right)


def _telling(old: MrzError | None, new: MrzError) -> MrzError:
    """Of two failures, the more telling: a zone that read but failed a check digit, then a
    zone with an unreadable cell, then no zone."""
    def rank(e: MrzError) -> int:
        return 0 if isinstance(e, MrzNotFound) else 1 if e.field == "zone" else 2
    return new if old is None or rank(new) > rank(old) else old


def _key_cells_ok(fmt: str, lines: list[_Read]) -> bool:
    """The cells that make the BAC/PACE key (document number, dates, their check digits, the
    composite) must each match clearly: a check digit passes a misread by chance one time in
    ten, and a straightened zone at low resolution has glyphs that look alike."""
    row, spans = _KEY_CELLS[fmt]
    scores = lines[row].scores
    return all(float(scores[a:b].min()) >= _KEY_SCORE for a, b in spans) and \
        (fmt != "TD1" or float(lines[0].scores[5:15].min()) >= _KEY_SCORE)


def _read_level(grey: Array, zones: int = 4, reshape: bool = True) -> Mrz:
    """Read an image whose MRZ lines are about horizontal (±10°): deskew, find bands, cut and
    classify. ``zones``: how many candidate line groups to try; ``reshape``: whether the
    first group is worth re-cutting with moved ends (a straightened crop holds one zone)."""
    f = max(1, round(grey.shape[1] / _WORK_WIDTH))
    small = locate.shrink(grey, f)
    angle = _skew(_dark(small, 12))
    if abs(angle) > 0.05:
        fill = float(np.median(grey))
        pil = Image.fromarray(grey.astype(np.float32), "F")
        grey = np.asarray(pil.rotate(angle, Image.Resampling.BILINEAR, fillcolor=fill),
                          np.float32)
        small = locate.shrink(grey, f)
    bands = _bands(_dark(small, 12), min_len=max(40, small.shape[1] // 6))
    groups = _groups(bands)
    if not groups:
        raise MrzNotFound("zone", "no machine-readable zone found")
    last: MrzError | None = None
    for g, (fmt_hint, lines) in enumerate(groups[:zones]):
        full = [_Line(b.y0 * f, b.y1 * f, b.x0 * f, b.x1 * f) for b in lines]
        formats = ("TD1",) if fmt_hint == "TD1" else ("TD3", "TD2")
        # Extent hypotheses only for the most likely zone: each costs a full classification.
        for shifts in ((_EXTENT_SHIFTS[0],), _EXTENT_SHIFTS[1:] if g == 0 and reshape else ()):
            if not shifts:
                continue
            # TD3 before TD2: a zone cut at the other format's pitch does not pass its score
            # floors, let alone its check digits, so the first accepted format is the one.
            for fmt in formats:
                reads = [(float(np.mean([r.scores.mean() for r in got])), fmt, got)
                         for got in _read_zone(grey, full, fmt, shifts)]
                try:
                    return _accept(reads, last)
                except MrzError as exc:
                    last = _telling(last, exc)
    raise last or MrzNotFound("zone", "no machine-readable zone could be read")


def _accept(reads: list[tuple[float, str, list[_Read]]], last: MrzError | None,
            none: str = "no machine-readable zone could be read") -> Mrz:
    """The best of a zone's readings that clears every score floor and passes every check
    digit; else the most telling failure."""
    for _mean, fmt, got_lines in sorted(reads, key=lambda r: -r[0]):
        if len(got_lines) < len(_LAYOUT[fmt]) \
                or min(float(r.scores.min()) for r in got_lines) < _MIN_SCORE \
                or not _key_cells_ok(fmt, got_lines):
            last = _telling(last, MrzError("zone", "a character cell is unreadable"))
            continue
        if got_lines[0].text[0] == "<":
            # ICAO 9303-3 §4.2.2: every document code starts with a letter; a filler there
            # is a cut one cell off.
            continue
        try:
            return parse_mrz("\n".join(r.text for r in got_lines), correct=True)
        except MrzError as exc:
            last = _telling(last, exc)
    raise last or MrzNotFound("zone", none)
