"""Decoding the CCCD QR from a camera's luma (Y) plane.

The default engine is zxing-cpp, restricted to QR codes. A frame is never read worse than the
library reads it with its defaults, so that comes first; the extra passes run only when it
finds nothing, cheapest first, so the common case costs one pass:

1. the whole frame with zxing-cpp's default options (QR only; any rotation, inverted and
   mirrored symbols, downscaled copies of a large image) — on real photographs from elsewhere
   this alone beats the guide-box-first cascade we had (a QR near the frame's edge, a crop
   that is all QR);
2. when that finds nothing: the densest-edged patch of the guide box (the QR is the busiest
   thing on the card), upscaled ×2 when small and sharpened — at 1280×720 a card filling half
   the frame gives ~2.5 px per QR module, too few for a blurred finder pattern;
3. the same patch once more with a different binarizer (global histogram instead of local
   average), which copes better with glare gradients and low contrast.

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


def locate(y: Luma) -> tuple[int, int, int, int] | None:
    """The patch most likely to hold the QR: (top, bottom, left, right) in ``y``'s pixels, or
    None when nothing in the image has QR-like edge density.

    Works at half resolution (averaging 2×2 also tames sensor noise) on cells of 8×8; the patch
    is the cells whose edge density is at least half the densest cell's, connected to it, plus a
    one-cell margin, capped at ``_MAX_PATCH`` cells.
    """
    h, w = y.shape
    hb, wb = h // (2 * _BLOCK), w // (2 * _BLOCK)
    if hb < 2 or wb < 2:
        return None
    a = y[:hb * 2 * _BLOCK, :wb * 2 * _BLOCK].astype(np.int16)
    half = (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2]) >> 2
    edges = np.zeros(half.shape, np.int16)
    edges[:, 1:] += np.abs(half[:, 1:] - half[:, :-1]) > _EDGE_STEP
    edges[1:, :] += np.abs(half[1:, :] - half[:-1, :]) > _EDGE_STEP
    density = edges.reshape(hb, _BLOCK, wb, _BLOCK).sum(axis=(1, 3))
    peak = int(density.max())
    if peak < _BLOCK * _BLOCK // 4:
        return None
    i0, j0 = (int(v) for v in np.unravel_index(int(density.argmax()), density.shape))
    mask = density >= peak // 2
    r = _MAX_PATCH // 2
    top, bottom, left, right = i0, i0, j0, j0
    stack, seen = [(i0, j0)], {(i0, j0)}
    while stack:
        i, j = stack.pop()
        top, bottom, left, right = min(top, i), max(bottom, i), min(left, j), max(right, j)
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                k = (i + di, j + dj)
                if (k not in seen and 0 <= k[0] < hb and 0 <= k[1] < wb
                        and abs(k[0] - i0) <= r and abs(k[1] - j0) <= r and mask[k]):
                    seen.add(k)
                    stack.append(k)
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
        data = self._read(y)
        if data is not None:
            return data, "frame"
        box = self.guide.crop(y)
        where = locate(box)
        if where is None:
            return None
        top, bottom, left, right = where
        patch = _prepare(box[top:bottom, left:right])
        data = self._read(patch, try_downscale=False, try_invert=False)
        if data is not None:
            return data, "patch"
        data = self._read(patch, try_downscale=False, try_invert=False,
                          binarizer=zx.Binarizer.GlobalHistogram)
        if data is not None:
            return data, "patch-histogram"
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


def _distinct(symbols: Iterable[bytes]) -> tuple[bytes, ...] | None:
    """The symbols in order, each once (a symbol seen twice in one frame is one); None for
    none."""
    out = tuple(dict.fromkeys(symbols))
    return out or None


def _prepare(patch: Luma) -> Luma:
    """Upscale ×2 (bicubic) when small, then unsharp-mask: restores the module edges that
    defocus and motion at ~2 px/module smear into grey."""
    from PIL import Image, ImageFilter

    img = Image.fromarray(np.ascontiguousarray(patch))
    if img.width < _SMALL:
        img = img.resize((img.width * 2, img.height * 2), Image.Resampling.BICUBIC)
    img = img.filter(ImageFilter.UnsharpMask(radius=2, percent=150, threshold=0))
    return np.asarray(img, dtype=np.uint8)


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
