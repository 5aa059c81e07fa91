"""Finding the machine-readable zone in a camera frame and straightening it.

A card held under a desk camera is seen turned in plane (any angle, upside down too) and tilted
out of it, so its MRZ lines are neither horizontal nor parallel and their pitch shrinks towards
the far end. The cell reader (:mod:`station.mrz.ocr`) wants the opposite: straight lines at a
constant pitch. Between the two:

1. ink: pixels darker than the grey closing around them (a black-hat), so thin dark strokes
   count and the dark desk beside a bright card does not (a closing leaves a step edge alone);
2. orientation: the angle whose projection of the ink is sharpest (text lines, mod 180°);
3. in that orientation, ink smeared along the lines into bars; connected bars described by
   their moments (direction, length, thickness) and their extreme points along the direction;
4. 2 or 3 nearly parallel, evenly spaced bars of similar length are the zone's lines (or one
   bar is the whole zone when its lines touch at low resolution);
5. the homography that takes the first and last line's ends to a rectangle, sampled from the
   full-resolution frame: the zone, straightened, at about its own resolution.

The same approach as PassportEye's localisation (black-hat, smear, elongated regions), with a
perspective rectification in place of a rotated box. numpy only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image

Array = NDArray[np.float32]

_WORK_WIDTH = 640
_BLACKHAT = 7
"""Closing size at working resolution: wider than an MRZ stroke at every distance we take."""
_MIN_LENGTH = 560
"""Straightened lines are at least this long (px): a pitch of 13-19 px, where the cell
templates tell similar glyphs apart; sampling a far end up beats sampling it twice coarse."""
_SMEAR = 9
"""Bars: ink joined along the line over this many working pixels (the gap between glyphs)."""


@dataclass(frozen=True)
class Zone:
    """A candidate MRZ: the axes of its first and last line in frame pixels."""

    first: tuple[tuple[float, float], tuple[float, float]]
    last: tuple[tuple[float, float], tuple[float, float]]
    lines: int
    """How many bars it was made of (1: a single bar, the lines not told apart)."""
    thickness: float
    """A bar's thickness in frame pixels (about the glyph height)."""
    score: float
    angle: float = 0.0
    """The frame's text lines against the x axis (degrees, [-90, 90): :func:`orientation`)."""


def sample(img: Array, xs: Array, ys: Array) -> Array:
    """Bilinear samples of ``img`` at float coordinates (clamped to the image)."""
    h, w = img.shape
    xs = np.clip(xs, 0, w - 1.001, dtype=np.float32)
    ys = np.clip(ys, 0, h - 1.001, dtype=np.float32)
    fx = xs - np.floor(xs)  # float32 throughout (float32 - int32 would be float64)
    fy = ys - np.floor(ys)
    x0 = xs.astype(np.int32)
    y0 = ys.astype(np.int32)
    flat = np.ascontiguousarray(img, dtype=np.float32).ravel()
    i = y0 * np.int32(w) + x0
    a, b = flat.take(i), flat.take(i + 1)
    c, d = flat.take(i + w), flat.take(i + w + 1)
    top = a + (b - a) * fx
    top += ((c + (d - c) * fx) - top) * fy
    return top


def shrink(grey: Array, f: int) -> Array:
    """``grey`` at 1/``f`` of its resolution, each pixel the mean of an f×f block (a sum of
    strided slices: numpy's mean over the axes of a reshaped block view is ~30× slower)."""
    if f == 1:
        return grey
    g = grey[: grey.shape[0] // f * f, : grey.shape[1] // f * f]
    out: Array = g[0::f, 0::f].astype(np.float32)
    for i in range(f):
        for j in range(f):
            if i or j:
                out += g[i::f, j::f]
    out *= np.float32(1.0 / (f * f))
    return out


def _filter(a: Array, k: int, op: str) -> Array:
    """Separable running max or min over a k×k square (edge padded)."""
    f = np.maximum if op == "max" else np.minimum
    r = k // 2
    p = np.pad(a, ((0, 0), (r, r)), mode="edge")
    out = p[:, : a.shape[1]].copy()
    for i in range(1, k):
        f(out, p[:, i: i + a.shape[1]], out=out)
    p = np.pad(out, ((r, r), (0, 0)), mode="edge")
    out = p[: a.shape[0]].copy()
    for i in range(1, k):
        f(out, p[i: i + a.shape[0]], out=out)
    return out


def ink(small: Array) -> NDArray[np.bool_]:
    """Thin dark strokes: the black-hat (closing minus image) above a contrast floor."""
    closing = _filter(_filter(small, _BLACKHAT, "max"), _BLACKHAT, "min")
    hat = closing - small
    mask: NDArray[np.bool_] = hat > np.maximum(14.0, 0.18 * closing)
    return mask


def orientation(mask: NDArray[np.bool_]) -> float:
    """The angle (degrees, [-90, 90)) that text lines make with the x axis: the direction
    along which the ink's projection is sharpest."""
    ys, xs = np.nonzero(mask)
    if len(ys) < 50:
        return 0.0
    step = max(1, len(ys) // 6000)
    ys = ys[::step].astype(np.float32) - mask.shape[0] / 2
    xs = xs[::step].astype(np.float32) - mask.shape[1] / 2

    def score(deg: float) -> float:
        a = math.radians(deg)
        # Distance of each ink pixel across lines of angle a.
        rows = ys * math.cos(a) - xs * math.sin(a)
        h = np.bincount((rows - rows.min()).astype(np.int64))
        return float((h.astype(np.float64) ** 2).sum())

    best = max(np.arange(-90.0, 90.0, 2.0), key=lambda d: score(float(d)))
    return max((float(best) + d for d in np.arange(-1.5, 1.51, 0.5)), key=score)


@dataclass(frozen=True)
class _Bar:
    cx: float
    cy: float
    ux: float
    uy: float
    t0: float
    """Extreme projections along (ux, uy) from the centre."""
    t1: float
    thickness: float
    area: float

    @property
    def length(self) -> float:
        return self.t1 - self.t0

    def end(self, t: float) -> tuple[float, float]:
        return self.cx + t * self.ux, self.cy + t * self.uy


def _bars(on: NDArray[np.bool_], min_len: float) -> list[_Bar]:
    """Connected runs of ``on`` (8-connected across rows), as elongated bars."""
    edges = np.diff(np.pad(on.astype(np.int8), ((0, 0), (1, 1))), axis=1)
    ry, rs = np.nonzero(edges == 1)
    _, re = np.nonzero(edges == -1)
    if len(ry) == 0:
        return []
    parent = list(range(len(ry)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    # Runs are in row-major order: join each run with the previous row's runs it touches.
    row_start = np.searchsorted(ry, np.arange(on.shape[0] + 1))
    for y in range(1, on.shape[0]):
        a0, a1 = row_start[y - 1], row_start[y]
        b0, b1 = row_start[y], row_start[y + 1]
        if a0 == a1 or b0 == b1:
            continue
        i = a0
        for j in range(b0, b1):
            while i < a1 and re[i] < rs[j]:
                i += 1
            k = i
            while k < a1 and rs[k] <= re[j]:
                pi, pj = find(k), find(j)
                if pi != pj:
                    parent[pi] = pj
                k += 1
    labels = np.array([find(i) for i in range(len(ry))])
    _, lab = np.unique(labels, return_inverse=True)
    n = rs.astype(np.float64)
    m = re.astype(np.float64)  # exclusive end
    cnt = m - n
    ys = ry.astype(np.float64)
    sx = (m - 1 + n) * cnt / 2
    # Σ x² over n..m-1.
    sxx = ((m - 1) * m * (2 * m - 1) - (n - 1) * n * (2 * n - 1)) / 6
    count = int(lab.max()) + 1
    area = np.bincount(lab, cnt, count)
    mx = np.bincount(lab, sx, count) / area
    my = np.bincount(lab, ys * cnt, count) / area
    vxx = np.bincount(lab, sxx, count) / area - mx * mx
    vyy = np.bincount(lab, ys * ys * cnt, count) / area - my * my
    vxy = np.bincount(lab, ys * sx, count) / area - mx * my
    out = []
    for i in np.nonzero(area >= min_len * 2)[0]:
        theta = 0.5 * math.atan2(2 * vxy[i], vxx[i] - vyy[i])
        ux, uy = math.cos(theta), math.sin(theta)
        tr = vxx[i] + vyy[i]
        det = math.sqrt(max(0.0, (vxx[i] - vyy[i]) ** 2 / 4 + vxy[i] ** 2))
        major, minor = tr / 2 + det, max(0.0, tr / 2 - det)
        if math.sqrt(12 * major) < min_len or major < 25 * minor:
            continue
        sel = lab == i
        ts = np.concatenate([(n[sel] - mx[i]) * ux + (ys[sel] - my[i]) * uy,
                             (m[sel] - 1 - mx[i]) * ux + (ys[sel] - my[i]) * uy])
        out.append(_Bar(float(mx[i]), float(my[i]), ux, uy, float(ts.min()), float(ts.max()),
                        math.sqrt(12 * minor), float(area[i])))
    return out


def _zones_of(bars: list[_Bar]) -> list[tuple[float, list[_Bar]]]:
    """Groups of 3, 2 or 1 bars that can be an MRZ, with a score (longest, most lines first)."""
    found: list[tuple[float, list[_Bar]]] = []
    bars = sorted(bars, key=lambda b: b.cy)

    def next_to(a: _Bar, b: _Bar) -> bool:
        if abs(a.ux * b.uy - a.uy * b.ux) > math.sin(math.radians(6)):
            return False
        if not 0.8 < b.length / a.length < 1.25:
            return False
        # b's centre across a's direction, and a's and b's extents along it.
        across = -(b.cx - a.cx) * a.uy + (b.cy - a.cy) * a.ux
        along = (b.cx - a.cx) * a.ux + (b.cy - a.cy) * a.uy
        t = max(a.thickness, b.thickness)
        lo, hi = max(a.t0, along + b.t0), min(a.t1, along + b.t1)
        return 1.1 * t < abs(across) < 3.5 * t and hi - lo > 0.8 * min(a.length, b.length)

    for i, a in enumerate(bars):
        found.append((a.length, [a]))
        for j in range(i + 1, len(bars)):
            b = bars[j]
            if not next_to(a, b):
                continue
            found.append((2.2 * a.length, [a, b]))
            for c in bars[j + 1:]:
                if next_to(b, c):
                    gap_ab = math.hypot(b.cx - a.cx, b.cy - a.cy)
                    gap_bc = math.hypot(c.cx - b.cx, c.cy - b.cy)
                    if abs(gap_ab - gap_bc) < 0.3 * gap_ab:
                        found.append((3.3 * a.length, [a, b, c]))
    found.sort(key=lambda z: -z[0])
    return found


def find_zones(grey: Array, limit: int = 3) -> list[Zone]:
    """Candidate MRZs in a grey frame, most likely first (at most ``limit``)."""
    f = max(1, round(grey.shape[1] / _WORK_WIDTH))
    return _find(grey, f, limit)


def _find(grey: Array, f: int, limit: int) -> list[Zone]:
    """:func:`find_zones` at 1/``f`` of the frame's resolution."""
    small = shrink(grey, f)
    mask = ink(small)
    angle = orientation(mask)
    # Turn the ink so the lines run along x, then smear along x into bars.
    img = Image.fromarray(mask.astype(np.uint8) * 255, "L")
    turned = np.asarray(img.rotate(angle, Image.Resampling.NEAREST, expand=True)) > 0
    w = _SMEAR
    c = np.cumsum(np.pad(turned.astype(np.int32), ((0, 0), (w // 2 + 1, w // 2))), axis=1)
    on = (c[:, w:] - c[:, :-w]) > 0
    bars = _bars(on, min_len=max(40.0, small.shape[1] / 10))
    # Back from the turned image to frame pixels: PIL turned about the centre, counter-clockwise.
    a = math.radians(angle)
    ca, sa = math.cos(a), math.sin(a)
    tcx, tcy = turned.shape[1] / 2, turned.shape[0] / 2
    scx, scy = small.shape[1] / 2, small.shape[0] / 2

    def back(p: tuple[float, float]) -> tuple[float, float]:
        dx, dy = p[0] + 0.5 - tcx, p[1] + 0.5 - tcy
        return ((scx + dx * ca - dy * sa) * f, (scy + dx * sa + dy * ca) * f)

    zones = []
    for score, group in _zones_of(bars)[:limit]:
        first, last = group[0], group[-1]
        # ICAO 9303-3: all lines start and end at the same pitch positions. A line's bar is
        # cut short where glare washes its glyphs out or run long into print beside it: take
        # the median end of three lines, the outer end of two (the reader re-measures ink).
        lefts = sorted(b.end(b.t0)[0] for b in group)
        rights = sorted(b.end(b.t1)[0] for b in group)
        span = (lefts[1], rights[1]) if len(group) == 3 else None
        zones.append(Zone(_ends(first, span, back), _ends(last, span, back), len(group),
                          float(np.mean([b.thickness for b in group])) * f, score * f, angle))
    return zones


def _ends(bar: _Bar, span: tuple[float, float] | None,
          back: Callable[[tuple[float, float]], tuple[float, float]]
          ) -> tuple[tuple[float, float], tuple[float, float]]:
    """A bar's axis ends in frame pixels: its own, or where its axis crosses x = span."""
    if span is None:
        return back(bar.end(bar.t0)), back(bar.end(bar.t1))
    return (back(bar.end((span[0] - bar.cx) / bar.ux)),
            back(bar.end((span[1] - bar.cx) / bar.ux)))


def homography(src: list[tuple[float, float]], dst: list[tuple[float, float]]) -> NDArray[
        np.float64]:
    """The 3×3 projective map taking the 4 points ``src`` to ``dst``."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src, dst, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    h = np.linalg.solve(np.array(rows, np.float64), np.array(rhs, np.float64))
    out: NDArray[np.float64] = np.append(h, 1.0).reshape(3, 3)
    return out


LINE_SPACING = 1.66
"""ICAO 9303 MRZ lines are about 4.2 mm apart at a 2.54 mm character pitch. A tilted card
foreshortens the zone across its lines by an unknown amount; this ratio gives the glyphs their
shape back (the cell templates are OCR-B's own shapes)."""


def glyph_pitch(crop: Array, rows: tuple[int, int], cols: tuple[int, int]) -> float | None:
    """The character pitch of straightened lines: the period of their column ink profile
    (fixed-pitch OCR-B, the '<' fillers included), between 25 and 50 characters a line."""
    band = crop[rows[0]: rows[1], cols[0]: cols[1]]
    if band.size == 0:
        return None
    prof = np.percentile(band, 90) - band.mean(axis=0)
    prof = prof - prof.mean()
    n = len(prof)
    spec = np.fft.rfft(prof, 2 * n)
    ac = np.fft.irfft(spec * np.conj(spec))[:n]
    lo, hi = max(2, int(n / 50)), int(n / 25) + 1
    if hi <= lo + 1 or ac[0] <= 0:
        return None
    lag = lo + int(np.argmax(ac[lo:hi]))
    if ac[lag] < 0.15 * ac[0] or lag in (lo, hi - 1) or lag + 1 >= n:
        return None  # no period, or one outside the range
    # Sub-pixel peak (parabola through the neighbours).
    a, b, c = ac[lag - 1], ac[lag], ac[lag + 1]
    d = a - 2 * b + c
    return float(lag + (0.5 * (a - c) / d if d < 0 else 0.0))


@dataclass(frozen=True)
class Straightened:
    """A zone sampled onto a rectangle: its lines horizontal, at a constant pitch."""

    image: Array
    rows: tuple[float, ...]
    """Each line's centre row, top to bottom (one row for a single-bar zone)."""
    x0: float
    x1: float
    """Where the lines' bars start and end (the reader measures the ink between)."""
    thickness: float

    def turned(self) -> Straightened:
        """The same, rotated by 180° (a document upside down)."""
        h, w = self.image.shape
        return Straightened(np.ascontiguousarray(self.image[::-1, ::-1]),
                            tuple(h - 1 - r for r in reversed(self.rows)), w - self.x1,
                            w - self.x0, self.thickness)


def straighten(grey: Array, zone: Zone) -> Straightened:
    """The zone straightened at about the frame's own resolution (at least ``_MIN_LENGTH``
    a line), with a margin of paper around it."""
    (p0, p1), (q0, q1) = zone.first, zone.last
    length = max(math.dist(p0, p1), math.dist(q0, q1))
    if zone.lines > 1:
        mid = ((p0[0] + p1[0]) / 2, (p0[1] + p1[1]) / 2)
        height = math.dist(mid, ((q0[0] + q1[0]) / 2, (q0[1] + q1[1]) / 2))
        src = [p0, p1, q1, q0]
        top = zone.thickness * 1.6
    else:
        # One bar: its axis, offset half a thickness either way (a parallelogram).
        ux, uy = (p1[0] - p0[0]) / length, (p1[1] - p0[1]) / length
        nx, ny = -uy * zone.thickness / 2, ux * zone.thickness / 2
        src = [(p0[0] - nx, p0[1] - ny), (p1[0] - nx, p1[1] - ny), (p1[0] + nx, p1[1] + ny),
               (p0[0] + nx, p0[1] + ny)]
        height = zone.thickness
        top = zone.thickness * 0.8
    scale = min(1.0, 900 / length) if length > 900 else max(1.0, _MIN_LENGTH / length)
    w, h = length * scale, height * scale
    mx, my = 0.06 * w + 4, top * scale
    out = _warp(grey, src, w, h, mx, my)
    if zone.lines > 1:
        pitch = glyph_pitch(out, (round(my - top * scale * 0.5),
                                  round(my + h + top * scale * 0.5)),
                            (round(mx), round(mx + w)))
        if pitch is not None:
            want = LINE_SPACING * pitch * (zone.lines - 1)
            if abs(want / h - 1) > 0.04:
                my *= want / h
                h = want
                out = _warp(grey, src, w, h, mx, my)
        rows = tuple(my + h * i / (zone.lines - 1) for i in range(zone.lines))
        thick = h / (zone.lines - 1) / LINE_SPACING * 1.1
    else:
        rows = (my + h / 2,)
        thick = h
    shear = slant(out, rows, thick / 2)
    if shear:
        out = _warp(grey, src, w, h, mx, my, shear)
    return Straightened(out, rows, mx, mx + w, thick)


_SHEARS = np.arange(-0.36, 0.361, 0.02)
"""±0.36 (~20°): desk-camera frames of a card tilted hard lean up to ~0.30, which a range of
±0.24 refused as a peak at its end (read upright, unreadable)."""
_SMOOTH = np.exp(-0.5 * (np.arange(-8, 9) / 4.0) ** 2)
_SLANT_GAIN = 1.01


def slant(crop: Array, rows: tuple[float, ...], half: float) -> float:
    """The slant of the glyphs of straightened lines (x shift per row down; 0: upright): the
    shear whose column projection of each line's ink is sharpest. A tilted card's line ends
    are found a little off along the lines, and the homography through them leans the glyphs;
    the cell templates are upright OCR-B."""
    mask = ink(crop)
    h = mask.shape[0]
    pts = []
    for r in rows:
        y0, y1 = max(0, round(r - half)), min(h, round(r + half) + 1)
        ys, xs = np.nonzero(mask[y0:y1])
        if len(xs):
            pts.append((xs.astype(np.float32), ys.astype(np.float32) + (y0 - r)))
    if sum(len(x) for x, _ in pts) < 50:
        return 0.0
    def sharpness(shear: float) -> float:
        score = 0.0
        for xs, dy in pts:
            # Quarter-pixel bins smoothed over about a pixel: a small shear moves the
            # projection by a fraction of a pixel, and whole-pixel bins favour no shear.
            i = np.round((xs - shear * dy) * 4).astype(np.int64)
            hist = np.convolve(np.bincount(i - i.min()).astype(np.float64), _SMOOTH)
            score += float((hist * hist).sum())
        return score

    scores = [sharpness(float(shear)) for shear in _SHEARS]
    k = int(np.argmax(scores))
    # Upright unless leaning is clearly sharper (a zone's own glyph mix makes bumps of ~0.5 %)
    # at a peak inside the range: a projection still rising at the range's end is not glyph
    # strokes lining up (small lines, a document edge or print beside the zone).
    if scores[k] < _SLANT_GAIN * sharpness(0.0) or k in (0, len(_SHEARS) - 1):
        return 0.0
    return float(_SHEARS[k])


def rectify(grey: Array, zone: Zone, upside_down: bool = False) -> Array:
    """The image of :func:`straighten`; ``upside_down`` turns it by 180°."""
    s = straighten(grey, zone)
    return (s.turned() if upside_down else s).image


def _warp(grey: Array, src: list[tuple[float, float]], w: float, h: float, mx: float,
          my: float, shear: float = 0.0) -> Array:
    """Sample the quadrilateral ``src`` of ``grey`` onto a w×h rectangle inside margins;
    ``shear`` (:func:`slant`) is taken out about the rectangle's middle row."""
    dst = [(mx, my), (mx + w, my), (mx + w, my + h), (mx, my + h)]
    inv = homography(dst, src)
    if shear:
        yc = my + h / 2
        inv = inv @ np.array([[1.0, shear, -shear * yc], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    out_w, out_h = round(w + 2 * mx), round(h + 2 * my)
    yy, xx = np.mgrid[0:out_h, 0:out_w].astype(np.float64)
    den = inv[2, 0] * xx + inv[2, 1] * yy + inv[2, 2]
    xs = ((inv[0, 0] * xx + inv[0, 1] * yy + inv[0, 2]) / den).astype(np.float32)
    ys = ((inv[1, 0] * xx + inv[1, 1] * yy + inv[1, 2]) / den).astype(np.float32)
    return sample(grey, xs, ys)
