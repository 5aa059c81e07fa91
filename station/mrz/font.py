"""The OCR-B typeface ICAO 9303-3 prescribes for the MRZ: the reader's glyph templates are drawn
from it (:mod:`station.mrz.ocr`), and so are the simulator's synthetic MRZs."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

OCR_B = Path("/usr/share/fonts/opentype/ocr-b/OCRB.otf")
"""Debian ``fonts-ocr-b``."""


class FontMissing(RuntimeError):
    """The OCR-B font is not installed (Debian package ``fonts-ocr-b``)."""


@lru_cache(maxsize=8)
def ocr_b(size: int) -> ImageFont.FreeTypeFont:
    if not OCR_B.exists():
        raise FontMissing(f"{OCR_B} not found: install the Debian package fonts-ocr-b")
    return ImageFont.truetype(str(OCR_B), size)


def ocr_b_size(pitch: float) -> int:
    """Font size whose advance width is ``pitch`` pixels (OCR-B is monospaced)."""
    return max(4, round(pitch / (ocr_b(100).getlength("M") / 100)))
