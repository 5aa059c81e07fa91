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
kept to ~1.5 ms beside the library's ~4.5 ms on 1280×720 (x86): the patch is found on a
half-resolution edge map in Pillow's C and uint8 numpy, and it is sharpened before upscaling.
Passes 2 and 3 skip the inverted-symbol retry (pass 1 had it on the whole frame) to keep the
frame budget.

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
import time
from collections.abc import Callable, Iterable
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


def edge_density(y: Luma) -> NDArray[np.uint8] | None:
    """Edges per ``_BLOCK``×``_BLOCK`` cell of ``y`` at half resolution (0–128: a horizontal and
    a vertical step per pixel), or None when ``y`` holds fewer than 2×2 cells.

    Every step is Pillow's C or one numpy pass over uint8 (no int16 copy of the frame): on a
    1280×720 frame it costs ~0.4 ms where the int16 arithmetic cost ~2.5 ms, and the frames that
    decode on no pass pay it on top of the library's full-frame pass (they set the p95).
    """
    from PIL import Image

    h, w = y.shape
    hb, wb = h // (2 * _BLOCK), w // (2 * _BLOCK)
    if hb < 2 or wb < 2:
        return None
    whole = np.ascontiguousarray(y[:hb * 2 * _BLOCK, :wb * 2 * _BLOCK])
    half = np.asarray(Image.fromarray(whole).reduce(2))  # 2×2 means, rounded
    edges = np.zeros(half.shape, np.uint8)
    a, b = half[:, 1:], half[:, :-1]
    edges[:, 1:] = (np.maximum(a, b) - np.minimum(a, b)) > _EDGE_STEP
    a, b = half[1:, :], half[:-1, :]
    edges[1:, :] += (np.maximum(a, b) - np.minimum(a, b)) > _EDGE_STEP
    # Each pixel scores 0, 64 or 128, so a cell's mean (Pillow's box reduction) is exactly its
    # edge count (at most 2 × 64 = 128): the block sum in C.
    edges *= 64
    return np.asarray(Image.fromarray(edges).reduce(_BLOCK))


def locate(y: Luma) -> tuple[int, int, int, int] | None:
    """The patch most likely to hold the QR: (top, bottom, left, right) in ``y``'s pixels, or
    None when nothing in the image has QR-like edge density.

    Works at half resolution (averaging 2×2 also tames sensor noise) on cells of 8×8; the patch
    is the cells whose edge density is at least half the densest cell's, connected to it, plus a
    one-cell margin, capped at ``_MAX_PATCH`` cells.
    """
    density = edge_density(y)
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

    def __init__(self, engine: Engine = "zxing", guide: GuideBox = GuideBox()) -> None:
        self.engine = engine
        self.guide = guide
        self._passes: Callable[[Luma], tuple[tuple[bytes, ...], str] | None]
        if engine == "zxing":
            self._zx = _zxing()
            self._passes = self._zxing_passes
            self._patch_passes = _patch_passes(self._zx)
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
        data = self._read(y)
        if data is not None:
            return data, "frame"
        box = self.guide.crop(y)
        where = locate(box)
        if where is None:
            return None
        top, bottom, left, right = where
        patch = _prepare(box[top:bottom, left:right])
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


def _prepare(patch: Luma) -> Luma:
    """Unsharp-mask (amount 2, Gaussian σ 1 px) at the patch's own resolution, then upscale ×2
    (bicubic) when small: restores the module edges that defocus and motion at ~2 px/module
    smear into grey.

    The sharpened patch stays in float until after the upscaling and is clipped to 0–255 once:
    clipping before interpolating flattens the over- and undershoots that mark a module's edge
    (desk-camera frames: more reads than sharpening the upscaled patch, at a quarter of the
    pixels to blur).
    """
    from PIL import Image, ImageFilter

    img = Image.fromarray(np.ascontiguousarray(patch))
    sharp = np.asarray(img, np.float32) * (1 + _SHARPEN)
    sharp -= _SHARPEN * np.asarray(img.filter(ImageFilter.GaussianBlur(1)), np.float32)
    out = Image.fromarray(sharp, "F")
    if img.width < _SMALL:
        out = out.resize((img.width * 2, img.height * 2), Image.Resampling.BICUBIC)
    return np.asarray(out.convert("L"))  # clamps to 0–255


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
