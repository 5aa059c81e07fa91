"""Decoding the CCCD QR from a camera's luma (Y) plane.

The default engine is zxing-cpp, restricted to QR codes. A frame is never read worse than the
library reads it with its defaults, so that comes first; the extra passes run only when it
finds nothing, cheapest first, so the common case costs one pass:

1. the whole frame with zxing-cpp's default options (QR only; any rotation, inverted and
   mirrored symbols, downscaled copies of a large image) — on real photographs from elsewhere
   this alone beats the guide-box-first cascade we had (a QR near the frame's edge, a crop
   that is all QR);
2. when that finds nothing: the densest-edged patch of the guide box (the QR is the busiest
   thing on the card), sharpened and upscaled ×2 when small — at 1280×720 a card filling half
   the frame gives ~2.5 px per QR module, too few for a blurred finder pattern — read with
   the global-histogram binarizer, which copes with glare gradients and low contrast and reads
   the most patches per millisecond;
3. the same patch once more with the local-average binarizer (the library's default).

The frames that no pass decodes pay for every pass and set the p95, so the extra passes are
kept to ~1.5–2 ms beside the library's ~4.5–5 ms on 1280×720 (x86). Pass 1 also asks for the
symbols the library found but could not decode (two in three of the desk frames it fails on
hold one): the patch is then searched only around the largest of them, a third of the guide
box. The edge map's 2×2 means are summed in uint16 numpy straight from the frame; the
sharpening and upscaling are Pillow's, as shifted adds in numpy; every array of passes 2–3 is
a buffer the decoder keeps (:class:`Scratch`; fresh ones cost ~450 page faults a frame).
Passes 2 and 3 skip the inverted-symbol retry (pass 1 had it on the whole frame) to keep the
frame budget.

Where the process may use more than one CPU (``overlap``, the default there), passes 2–3 run on a
helper thread while this one is in pass 1 (zxing-cpp lets go of the GIL), on the patch of the
whole guide box, and their result is used only when pass 1 decoded nothing: the same reads, a
frame's wall time about the library's pass alone, its CPU time about the same on the frames
pass 1 cannot decode and the extra passes' ~1.5 ms more on those it does (they ran for
nothing). Images under 640×480 are read on one thread (the library's pass is then shorter than
the patch's).

A frame can hold more than one symbol (the card's and a sticker on the desk; a "double QR"
printed inside another): :meth:`QrDecoder.decode_all` returns every symbol the first pass that
found any returned, as zxing-cpp's ``read_barcodes`` and zbar do, so the one the caller wants
is never hidden behind another one read first.

pyzbar (zbar) is the alternative engine. Both engines are asked for the symbol's *bytes*
(zbar ≥ 0.23 with ZBAR_CFG_BINARY; zbar otherwise guesses a legacy character set and mangles
Vietnamese UTF-8) and we decode UTF-8 ourselves: :meth:`Decoded.text`.
"""

from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from station.errors import QrFormatError, StationError

Engine = Literal["zxing", "zbar", "zxing-default"]
ENGINES: tuple[Engine, ...] = ("zxing", "zbar", "zxing-default")
Luma = NDArray[np.uint8]


class DecoderUnavailable(StationError):
    """The requested decoding engine is not installed (names the package)."""


@dataclass(frozen=True, repr=False)
class Decoded:
    """One decoded QR symbol: its exact bytes and which pass found it."""

    data: bytes
    engine: Engine
    attempt: str
    """'frame' (the library's defaults on the whole frame; engines without passes),
    'patch' or 'patch-histogram'."""
    ms: float

    def text(self) -> str:
        """The payload as text (strict UTF-8, as the cards encode it)."""
        try:
            return self.data.decode("utf-8")
        except UnicodeDecodeError:
            raise QrFormatError("payload", "is not valid UTF-8") from None

    def __repr__(self) -> str:  # the data is a citizen's: keep it out of logs
        return f"Decoded(engine={self.engine}, attempt={self.attempt}, bytes={len(self.data)})"


@dataclass(frozen=True)
class GuideBox:
    """The region of the frame the card is held in, as fractions of width and height."""

    # The card is held in the middle, but a card turned upside down puts its QR corner near the
    # top or bottom edge of a 16:9 frame: keep the full height, trim only the sides.
    left: float = 0.1
    top: float = 0.0
    right: float = 0.9
    bottom: float = 1.0

    def __post_init__(self) -> None:
        if not (0 <= self.left < self.right <= 1 and 0 <= self.top < self.bottom <= 1):
            raise ValueError("guide box fractions must satisfy 0 <= left < right <= 1 "
                             "and 0 <= top < bottom <= 1")

    def crop(self, y: Luma) -> Luma:
        h, w = y.shape
        # A view: no copy of the camera's buffer.
        return y[round(h * self.top):round(h * self.bottom),
                 round(w * self.left):round(w * self.right)]


_BLOCK = 8
"""Edge-density cells, in half-resolution pixels (16 frame pixels)."""
_EDGE_STEP = 24
"""A luma step this large between neighbours (at half resolution) counts as an edge."""
_MAX_PATCH = 20
"""At most 20×20 cells (320 frame pixels) around the densest cell: a QR bigger than that decodes
in the first pass anyway."""
_SMALL = 360
"""Patches narrower than this are upscaled ×2 before decoding."""
_SHARPEN = 2.0
"""Unsharp-mask amount of :func:`_prepare` (the edge is pushed out by twice its blur)."""


class Scratch:
    """Work buffers kept from frame to frame (one per :class:`QrDecoder`; not thread-safe).

    The extra passes' arrays are a few hundred KB each; allocated afresh per frame, glibc hands
    them out from pages it has just given back, and a frame took ~450 page faults beside the
    library's ~80 (most of the extra passes' cost on the frames no pass decodes, which set the
    p95). Reused buffers fault once.
    """

    def __init__(self) -> None:
        self._buffers: dict[str, NDArray[Any]] = {}

    def take(self, name: str, shape: tuple[int, int], dtype: type[Any]) -> NDArray[Any]:
        """A C-contiguous ``shape`` array of ``dtype`` (contents undefined) under ``name``;
        when too small it at least doubles (a patch larger than any before costs a few
        growths, not one per size)."""
        size = shape[0] * shape[1]
        buf = self._buffers.get(name)
        if buf is None or buf.size < size or buf.dtype != dtype:
            grown = size if buf is None or buf.dtype != dtype else max(size, 2 * buf.size)
            buf = self._buffers[name] = np.empty(grown, dtype)
        return buf[:size].reshape(shape)


def edge_density(y: Luma, scratch: Scratch | None = None) -> NDArray[np.uint8] | None:
    """Edges per ``_BLOCK``×``_BLOCK`` cell of ``y`` at half resolution (0–128: a horizontal and
    a vertical step per pixel), or None when ``y`` holds fewer than 2×2 cells.

    Half resolution is the 2×2 means, summed in uint16 straight from the strided view (no
    copy of the frame); the cells are summed by strided adds. Every array is a ``scratch``
    buffer (the frames that decode on no pass pay this on top of the library's full-frame
    pass, and set the p95).
    """
    h, w = y.shape
    hb, wb = h // (2 * _BLOCK), w // (2 * _BLOCK)
    if hb < 2 or wb < 2:
        return None
    s = scratch or Scratch()
    rows, cols = hb * 2 * _BLOCK, wb * 2 * _BLOCK
    pairs = s.take("pairs", (rows // 2, cols), np.uint16)
    np.add(y[0:rows:2, :cols], y[1:rows:2, :cols], out=pairs, dtype=np.uint16)
    half = s.take("half", (rows // 2, cols // 2), np.uint16)
    np.add(pairs[:, 0::2], pairs[:, 1::2], out=half)
    half += 2
    half >>= 2  # the 2×2 means, rounded (as Pillow's reduce(2))
    sums = half.view(np.int16)
    step = _EDGE_STEP
    diff = s.take("diff", sums.shape, np.int16)
    edges = s.take("edges", sums.shape, np.uint8)
    edges[:, 0] = 0
    np.subtract(sums[:, 1:], sums[:, :-1], out=diff[:, 1:])
    np.abs(diff[:, 1:], out=diff[:, 1:])
    np.greater(diff[:, 1:], step, out=edges[:, 1:].view(np.bool_))
    np.subtract(sums[1:], sums[:-1], out=diff[1:])
    np.abs(diff[1:], out=diff[1:])
    flags = s.take("flags", (sums.shape[0] - 1, sums.shape[1]), np.bool_)
    np.greater(diff[1:], step, out=flags)
    np.add(edges[1:], flags, out=edges[1:])
    band = s.take("band", (hb, cols // 2), np.uint8)  # ≤ 2 × 8 × 8 = 128 a cell: uint8 holds it
    np.add(edges[0::_BLOCK], edges[1::_BLOCK], out=band)
    for k in range(2, _BLOCK):
        band += edges[k::_BLOCK]
    cells: NDArray[np.uint8] = np.add(band[:, 0::_BLOCK], band[:, 1::_BLOCK])
    for k in range(2, _BLOCK):
        cells += band[:, k::_BLOCK]
    return cells


def locate(y: Luma, scratch: Scratch | None = None) -> tuple[int, int, int, int] | None:
    """The patch most likely to hold the QR: (top, bottom, left, right) in ``y``'s pixels, or
    None when nothing in the image has QR-like edge density.

    Works at half resolution (averaging 2×2 also tames sensor noise) on cells of 8×8; the patch
    is the cells whose edge density is at least half the densest cell's, connected to it, plus a
    one-cell margin, capped at ``_MAX_PATCH`` cells.
    """
    density = edge_density(y, scratch)
    if density is None:
        return None
    hb, wb = density.shape
    peak = int(density.max())
    if peak < _BLOCK * _BLOCK // 4:
        return None
    i0, j0 = (int(v) for v in np.unravel_index(int(density.argmax()), density.shape))
    # The dense cells 8-connected to the peak, at most _MAX_PATCH/2 cells from it: a depth-first
    # fill over Python lists of that window (numpy's per-element indexing costs ~3× as much).
    r = _MAX_PATCH // 2
    t0, l0 = max(0, i0 - r), max(0, j0 - r)
    window = (density[t0:i0 + r + 1, l0:j0 + r + 1] >= peak // 2).tolist()
    h, w = len(window), len(window[0])
    top = bottom = i0 - t0
    left = right = j0 - l0
    window[top][left] = False
    stack = [(top, left)]
    while stack:
        i, j = stack.pop()
        top, bottom, left, right = min(top, i), max(bottom, i), min(left, j), max(right, j)
        for ii in range(max(0, i - 1), min(h, i + 2)):
            row = window[ii]
            for jj in range(max(0, j - 1), min(w, j + 2)):
                if row[jj]:
                    row[jj] = False  # taken
                    stack.append((ii, jj))
    top, bottom, left, right = t0 + top, t0 + bottom, l0 + left, l0 + right
    cell = 2 * _BLOCK
    return (max(0, top - 1) * cell, min(hb, bottom + 2) * cell,
            max(0, left - 1) * cell, min(wb, right + 2) * cell)


class QrDecoder:
    """Decodes one luma frame; safe to reuse, not to share between threads."""

    def __init__(self, engine: Engine = "zxing", guide: GuideBox = GuideBox(), *,
                 overlap: bool | None = None) -> None:
        """``overlap`` (engine "zxing"): run the extra passes on a second thread beside the
        library's pass (the default where this process may run on more than one CPU)."""
        self.engine = engine
        self.guide = guide
        self._passes: Callable[[Luma], tuple[tuple[bytes, ...], str] | None]
        if engine == "zxing":
            self._zx = _zxing()
            self._patch_passes = _patch_passes(self._zx)
            self._scratch = Scratch()
            self.overlap = _cpus() > 1 if overlap is None else overlap
            self._passes = self._zxing_overlapped if self.overlap else self._zxing_passes
            self._helper: ThreadPoolExecutor | None = None
        elif engine == "zxing-default":
            self._zx = _zxing()
            self._passes = self._zxing_default
        elif engine == "zbar":
            self._zbar = _Zbar()
            self._passes = self._zbar_pass
        else:
            raise ValueError(f"unknown engine {engine!r}")

    def decode_all(self, y: Luma) -> tuple[Decoded, ...]:
        """Every QR symbol found in ``y`` (2-D uint8, may be a strided view) by the first pass
        that found any, each once, in the engine's order; empty when none."""
        if y.ndim != 2 or y.dtype != np.uint8:
            raise ValueError("expected a 2-D uint8 luma plane")
        t0 = time.perf_counter()
        found = self._passes(y)
        if found is None:
            return ()
        ms = (time.perf_counter() - t0) * 1000
        return tuple(Decoded(data, self.engine, found[1], ms) for data in found[0])

    def decode(self, y: Luma) -> Decoded | None:
        """The first of :meth:`decode_all`'s symbols, or None."""
        found = self.decode_all(y)
        return found[0] if found else None

    # zxing-cpp ------------------------------------------------------------------------------

    def _read(self, image: Luma, **options: Any) -> tuple[bytes, ...] | None:
        zx = self._zx
        found = zx.read_barcodes(image, formats=zx.BarcodeFormat.QRCode, **options)
        return _distinct(bytes(barcode.bytes) for barcode in found)

    def _zxing_passes(self, y: Luma) -> tuple[tuple[bytes, ...], str] | None:
        zx = self._zx
        # return_errors adds the symbols found but not decoded and changes nothing else (the
        # library drops an errored symbol where a decoded one overlaps it): where one is, the
        # patch is searched near it instead of across the guide box.
        found = zx.read_barcodes(y, formats=zx.BarcodeFormat.QRCode, return_errors=True)
        data = _distinct(bytes(b.bytes) for b in found if b.valid)
        if data is not None:
            return data, "frame"
        return self._patch_read(y, _largest(b.position for b in found))

    def _zxing_overlapped(self, y: Luma) -> tuple[tuple[bytes, ...], str] | None:
        # The patch passes run on the helper thread while this one is in the library's pass
        # (zxing-cpp lets go of the GIL; this thread takes the library's pass because the
        # helper, started first, then finds the GIL free): a frame costs about the library's
        # pass in wall time, and the patch is searched across the whole guide box, since the
        # symbols pass 1 could not decode are not known yet (the same patch as near them on
        # every desk-camera frame that held one). The patch's result is used only when pass 1
        # decoded nothing, so the reads are the serial cascade's.
        if y.size < _OVERLAP_PIXELS:
            return self._zxing_passes(y)
        if self._helper is None:
            self._helper = ThreadPoolExecutor(1, thread_name_prefix="qr-patch")
        patch = self._helper.submit(self._patch_read, y, None)
        try:
            data = self._read(y)
        finally:
            found = patch.result()
        return (data, "frame") if data is not None else found

    def _patch_read(self, y: Luma, near: tuple[int, int, int, int] | None,
                    ) -> tuple[tuple[bytes, ...], str] | None:
        """Passes 2–3: the patch of the guide box (searched ``near`` a symbol pass 1 found but
        could not decode, when given), prepared and read with each patch binarizer."""
        box = self.guide.crop(y)
        where = None
        if near is not None:
            origin = (round(y.shape[1] * self.guide.left), round(y.shape[0] * self.guide.top))
            top, bottom, left, right = _around(near, origin, box.shape)
            where = locate(box[top:bottom, left:right], self._scratch)
            if where is not None:
                where = (where[0] + top, where[1] + top, where[2] + left, where[3] + left)
        if where is None:
            where = locate(box, self._scratch)
        if where is None:
            return None
        top, bottom, left, right = where
        patch = _prepare(box[top:bottom, left:right], self._scratch)
        for attempt, binarizer in self._patch_passes:
            data = self._read(patch, try_downscale=False, try_invert=False, binarizer=binarizer)
            if data is not None:
                return data, attempt
        return None

    def _zxing_default(self, y: Luma) -> tuple[tuple[bytes, ...], str] | None:
        # The library's defaults on the whole frame, QR only: the benchmark's peer (the same
        # call as our first pass, so "never worse than the defaults" is checkable).
        data = self._read(y)
        return None if data is None else (data, "frame")

    # zbar ------------------------------------------------------------------------------------

    def _zbar_pass(self, y: Luma) -> tuple[tuple[bytes, ...], str] | None:
        data = self._zbar.decode(y)
        return None if data is None else (data, "frame")


_OVERLAP_PIXELS = 640 * 480
"""Smaller images are read on one thread: the library's pass costs about its pixels (~1.2 ms at
this size on x86, ~3.5 ms at 1280×720), the patch passes ~1–1.5 ms whatever the size, and a
frame the library reads would wait for the patch (a crop of a few hundred pixels a side: ~0.2 ms
alone, ~1.3 ms beside the patch)."""
_NEAR = 12
"""Cells (16 frame pixels) searched on each side of a symbol the first pass found but could not
decode: more than the patch reaches from its densest cell (``_MAX_PATCH`` / 2 + 1)."""
_MIN_SYMBOL = 21
"""Pixels: a QR symbol spans at least 21 modules; smaller errored "symbols" are a lone finder
pattern read as one."""


def _largest(quads: Iterable[Any]) -> tuple[int, int, int, int] | None:
    """The bounding box (left, top, right, bottom) of the largest of zxing-cpp's positions, or
    None when none spans ``_MIN_SYMBOL`` pixels each way."""
    best, area = None, 0
    for q in quads:
        xs = (q.top_left.x, q.top_right.x, q.bottom_right.x, q.bottom_left.x)
        ys = (q.top_left.y, q.top_right.y, q.bottom_right.y, q.bottom_left.y)
        w, h = max(xs) - min(xs), max(ys) - min(ys)
        if w >= _MIN_SYMBOL and h >= _MIN_SYMBOL and w * h > area:
            best, area = (min(xs), min(ys), max(xs), max(ys)), w * h
    return best


def _around(quad: tuple[int, int, int, int], origin: tuple[int, int],
            shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) in the guide box (at ``origin`` in the frame, ``shape``) of
    the region ``_NEAR`` cells around ``quad`` (frame pixels), on the box's cell grid so that
    :func:`edge_density` sees the same cells as on the whole box."""
    cell, margin = 2 * _BLOCK, _NEAR * 2 * _BLOCK
    left, top = quad[0] - origin[0] - margin, quad[1] - origin[1] - margin
    right, bottom = quad[2] - origin[0] + margin, quad[3] - origin[1] + margin
    top, left = max(0, top // cell * cell), max(0, left // cell * cell)
    return top, max(top, min(shape[0], bottom)), left, max(left, min(shape[1], right))


def _patch_passes(zx: Any) -> tuple[tuple[str, Any], ...]:
    """The passes over the prepared patch, most reads per millisecond first: on desk-camera
    frames the global histogram reads more of the patches than the local average (which
    zxing-cpp's full-frame pass already used) and costs less."""
    return (("patch-histogram", zx.Binarizer.GlobalHistogram),
            ("patch", zx.Binarizer.LocalAverage))


def _distinct(symbols: Iterable[bytes]) -> tuple[bytes, ...] | None:
    """The symbols in order, each once (a symbol seen twice in one frame is one); None for
    none."""
    out = tuple(dict.fromkeys(symbols))
    return out or None


def _prepare(patch: Luma, scratch: Scratch | None = None) -> Luma:
    """Unsharp-mask (amount 2, Gaussian σ 1 px) at the patch's own resolution, then upscale ×2
    (bicubic) when small: restores the module edges that defocus and motion at ~2 px/module
    smear into grey. The result may be a ``scratch`` buffer, valid until its next use.

    The sharpened patch stays in float until after the upscaling and is clipped to 0–255 once:
    clipping before interpolating flattens the over- and undershoots that mark a module's edge
    (desk-camera frames: more reads than sharpening the upscaled patch, at a quarter of the
    pixels to blur). The blur and the upscaling are Pillow's (``GaussianBlur(1)``, bicubic),
    pixel for pixel, done as shifted adds into ``scratch`` buffers: Pillow's cost ~2× as much
    on these small patches, and each of its images is a fresh allocation.
    """
    s = scratch or Scratch()
    h, w = patch.shape
    sharp = s.take("sharp", (h, w), np.float32)
    sharp[...] = patch
    sharp *= 1 + _SHARPEN
    blur = s.take("blur", (h, w), np.float32)
    np.copyto(blur, _gaussian_blur_1(patch, s), casting="unsafe")
    blur *= _SHARPEN
    sharp -= blur
    if w < _SMALL:
        sharp = _upscale2(sharp, s)
    np.clip(sharp, 0, 255, out=sharp)
    out = s.take("prepared", sharp.shape, np.uint8)
    np.copyto(out, sharp, casting="unsafe")  # truncating, as Pillow's F → L
    return out


_BOX_WW = int(np.float32(1 << 24) / np.float32(1.5))
"""Pillow's ``GaussianBlur(1)`` is three box blurs of radius 1/4 each way (``BoxBlur.c``: the
radius whose three passes have σ = 1), in 8.24 fixed point: the centre's weight ~2/3 (the
division in float32, as there) and each neighbour's ``_BOX_FW`` ~1/6, rounded to 8 bits after
every pass."""
_BOX_FW = ((1 << 24) - _BOX_WW) // 2


def _gaussian_blur_1(patch: Luma, s: Scratch) -> NDArray[np.uint32]:
    """``Image.filter(GaussianBlur(1))`` of an 8-bit ``patch``, exactly, in ``s``'s buffers."""
    h, w = patch.shape
    a, b = s.take("box-a", (h, w), np.uint32), s.take("box-b", (h, w), np.uint32)
    tmp = s.take("box-tmp", (h, w), np.uint32)
    a[...] = patch
    across = s.take("box-across", (h, w + 2), np.uint32)
    for _ in range(3):
        across[:, 1:-1] = a
        across[:, 0], across[:, -1] = a[:, 0], a[:, -1]  # edges repeated
        _box_pass(a, across[:, :-2], across[:, 2:], b, tmp)
        a, b = b, a
    down = s.take("box-down", (h + 2, w), np.uint32)
    for _ in range(3):
        down[1:-1] = a
        down[0], down[-1] = a[0], a[-1]
        _box_pass(a, down[:-2], down[2:], b, tmp)
        a, b = b, a
    return a


def _box_pass(centre: NDArray[np.uint32], before: NDArray[np.uint32],
              after: NDArray[np.uint32], out: NDArray[np.uint32],
              tmp: NDArray[np.uint32]) -> None:
    np.add(before, after, out=out)
    out *= _BOX_FW
    np.multiply(centre, _BOX_WW, out=tmp)
    out += tmp
    out += 1 << 23
    out >>= 24


_KEYS = (-0.0234375, 0.2265625, 0.8671875, -0.0703125)
"""Keys' cubic (a = −0.5, Pillow's BICUBIC) for output pixel 2i of a ×2 upscaling, which sits
at input i − ¼ (pixel centres aligned): the weights of inputs i−2, i−1, i, i+1; pixel 2i+1 at
i + ¼ takes them mirrored (i+2, i+1, i, i−1)."""


def _keys(x: float) -> float:
    x = abs(x)
    return (1.5 * x - 2.5) * x * x + 1 if x < 1 else ((-0.5 * x + 2.5) * x - 4) * x + 2 \
        if x < 2 else 0.0


def _edge_weights() -> NDArray[np.float32]:
    """Pillow's weights for outputs 0, 1, 2 of a ×2 upscaling, over inputs 0–3: the taps past
    the edge dropped and the rest renormalised (``ImagingResample``'s precompute); the last
    three outputs take them mirrored."""
    rows = np.zeros((3, 4), np.float64)
    for j in range(3):
        centre = (j + 0.5) / 2
        first, last = max(int(centre - 2 + 0.5), 0), int(centre + 2 + 0.5)
        for x in range(first, last):
            rows[j, x] = _keys(x - centre + 0.5)
        rows[j] /= rows[j].sum()
    return rows.astype(np.float32)


_EDGE = _edge_weights()


def _upscale2(a: NDArray[np.float32], s: Scratch) -> NDArray[np.float32]:
    """``a`` (at least 4×4) upscaled ×2 as Pillow's bicubic does it, across then down, into
    ``s``.

    Each input pixel's four weighted copies serve two outputs each: output 2i takes inputs
    i−2 … i+1, output 2i+1 inputs i+2 … i−1 (:data:`_KEYS`)."""
    h, w = a.shape
    across = s.take("up-across", (h, 2 * w), np.float32)
    c = [s.take(f"up-{k}", (h, w), np.float32) for k in range(4)]
    for k in range(4):
        np.multiply(a, _KEYS[k], out=c[k])
    even, odd = across[:, 4:2 * w - 2:2], across[:, 3:2 * w - 3:2]
    np.add(c[2][:, 2:w - 1], c[1][:, 1:w - 2], out=even)
    even += c[0][:, :w - 3]
    even += c[3][:, 3:]
    np.add(c[2][:, 1:w - 2], c[1][:, 2:w - 1], out=odd)
    odd += c[0][:, 3:]
    odd += c[3][:, :w - 3]
    across[:, :3] = a[:, :4] @ _EDGE.T
    across[:, -3:] = a[:, -4:] @ _EDGE[::-1, ::-1].T
    out = s.take("up-down", (2 * h, 2 * w), np.float32)
    r = [s.take(f"up-{k}", (h, 2 * w), np.float32) for k in range(4)]
    for k in range(4):
        np.multiply(across, _KEYS[k], out=r[k])
    even, odd = out[4:2 * h - 2:2], out[3:2 * h - 3:2]
    np.add(r[2][2:h - 1], r[1][1:h - 2], out=even)
    even += r[0][:h - 3]
    even += r[3][3:]
    np.add(r[2][1:h - 2], r[1][2:h - 1], out=odd)
    odd += r[0][3:]
    odd += r[3][:h - 3]
    out[:3] = _EDGE @ across[:4]
    out[-3:] = _EDGE[::-1, ::-1] @ across[-4:]
    return out


def _cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _zxing() -> Any:
    try:
        import zxingcpp
    except ImportError as exc:
        raise DecoderUnavailable("zxing-cpp is not installed (pip install 'station[qr]')") \
            from exc
    return zxingcpp


_ZBAR_CFG_ENABLE = 0
_ZBAR_CFG_BINARY = 4
"""zbar.h ≥ 0.23: ZBAR_CFG_BINARY, 'don't convert binary data to text' (pyzbar 0.1.9's enum
predates it)."""
_Y800 = int.from_bytes(b"Y800", "little")


class _Zbar:
    """zbar through pyzbar's ctypes bindings, QR only, in binary mode."""

    def __init__(self) -> None:
        try:
            from pyzbar import wrapper
        except ImportError as exc:
            raise DecoderUnavailable("pyzbar is not installed (pip install 'station[qr]') "
                                     "or libzbar0 is missing") from exc
        self._w = wrapper
        lib = wrapper.load_libzbar()
        version = lib.zbar_version
        # zbar 0.23 added the patch number; declared here because pyzbar declares two.
        version.argtypes = [ctypes.POINTER(ctypes.c_uint)] * 3
        version.restype = ctypes.c_int
        major, minor, patch = ctypes.c_uint(), ctypes.c_uint(), ctypes.c_uint()
        version(ctypes.byref(major), ctypes.byref(minor), ctypes.byref(patch))
        if (major.value, minor.value) < (0, 23):
            raise DecoderUnavailable("zbar >= 0.23 is needed for binary QR output")
        self._scanner = wrapper.zbar_image_scanner_create()
        symbols = wrapper.ZBarSymbol
        wrapper.zbar_image_scanner_set_config(self._scanner, symbols.NONE, _ZBAR_CFG_ENABLE, 0)
        wrapper.zbar_image_scanner_set_config(self._scanner, symbols.QRCODE, _ZBAR_CFG_ENABLE, 1)
        wrapper.zbar_image_scanner_set_config(self._scanner, symbols.QRCODE, _ZBAR_CFG_BINARY, 1)

    def decode(self, y: Luma) -> tuple[bytes, ...] | None:
        """Every QR symbol zbar finds in ``y``, or None."""
        w = self._w
        h, width = y.shape
        pixels = np.ascontiguousarray(y)  # zbar needs a packed buffer (copies only if strided)
        image = w.zbar_image_create()
        try:
            w.zbar_image_set_format(image, _Y800)
            w.zbar_image_set_size(image, width, h)
            w.zbar_image_set_data(image, pixels.ctypes.data_as(ctypes.c_void_p), pixels.size,
                                  None)
            if w.zbar_scan_image(self._scanner, image) <= 0:
                return None
            found = []
            symbol = w.zbar_image_first_symbol(image)
            while symbol:
                found.append(ctypes.string_at(w.zbar_symbol_get_data(symbol),
                                              w.zbar_symbol_get_data_length(symbol)))
                symbol = w.zbar_symbol_next(symbol)
            return _distinct(found)
        finally:
            w.zbar_image_destroy(image)

    def __del__(self) -> None:
        scanner = getattr(self, "_scanner", None)
        if scanner:
            self._w.zbar_image_scanner_destroy(scanner)
