"""Flat documents with a machine-readable zone for :mod:`station.bench.deskcam` to photograph.

Drawn here, not by ``station.sim.mrzimage`` (the generator the MRZ reader was tuned on), so the
camera-model frames share no drawing code with it: the layout is set in millimetres from ICAO
9303 (OCR-B at a 2.54 mm pitch, lines 1/6 inch apart, the zone at the bottom of a TD1 card back
or a TD3 data page), each line drawn as one string at 16 px/mm on a coloured security ground,
with printed fields (and a photo on the passport page) above it. Only the font is shared: OCR-B
from the Debian package ``fonts-ocr-b``, as the documents themselves use it. The MRZ texts are
the synthetic citizens' and travellers' of ``station.sim`` (data, not images).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

OCR_B = Path("/usr/share/fonts/opentype/ocr-b/OCRB.otf")
TEXT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
PX_PER_MM = 16
PITCH_MM = 2.54
"""ICAO 9303-3: ten characters per inch."""
LINE_MM = 25.4 / 6
"""Six lines per inch."""
BOTTOM_MM = 4.0
"""From the document's bottom edge to the last line's baseline."""
ID1_MM = (85.6, 54.0)
TD3_MM = (125.0, 88.0)
RGB = NDArray[np.uint8]


def _ocr_b() -> ImageFont.FreeTypeFont:
    """OCR-B at the size whose advance is one pitch (the font is monospaced)."""
    probe = ImageFont.truetype(str(OCR_B), 100)
    size = PITCH_MM * PX_PER_MM / (probe.getlength("0") / 100)
    return ImageFont.truetype(str(OCR_B), max(4, round(size)))


def _ground(w: int, h: int, rng: np.random.Generator, tint: tuple[float, float, float]
            ) -> Image.Image:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    phase = rng.uniform(0, 2 * math.pi, 2)
    rings = np.sin(np.hypot(xx - w * 0.7, yy - h * 0.4) / 9 + phase[0])
    waves = np.sin(xx / 31 + 4 * np.sin(yy / 53 + phase[1]))
    lum = 0.93 - 0.03 * (rings > 0.85) - 0.025 * (np.abs(waves) < 0.1)
    rgb = np.stack([lum * t for t in tint], axis=-1)
    return Image.fromarray(np.clip(rgb * 255, 0, 255).astype(np.uint8), "RGB")


def _fields(draw: ImageDraw.ImageDraw, x: float, y0: float, y1: float, width: float,
            rng: np.random.Generator) -> None:
    """Printed captions and values (random capitals: no MRZ data) between y0 and y1 (px)."""
    mm = PX_PER_MM
    small = ImageFont.truetype(str(TEXT), round(1.6 * mm)) if TEXT.exists() \
        else ImageFont.load_default()
    big = ImageFont.truetype(str(TEXT), round(2.4 * mm)) if TEXT.exists() \
        else ImageFont.load_default()
    y = y0
    letters = "ABCDEFGHIKLMNOPQRSTUVXY"
    while y < y1 - 4 * mm:
        caption = "".join(rng.choice(list(letters + " "), size=int(rng.integers(6, 16))))
        draw.text((x, y), caption.title(), fill=(90, 90, 120), font=small)
        value = "".join(rng.choice(list(letters + " "), size=int(rng.integers(5, 22))))
        draw.text((x, y + 2 * mm), value[: int(width / (1.6 * mm))], fill=(25, 25, 35),
                  font=big)
        y += 5.5 * mm


def _mrz(draw: ImageDraw.ImageDraw, text: str, size_mm: tuple[float, float]) -> None:
    lines = text.split("\n")
    font = _ocr_b()
    mm = PX_PER_MM
    left = (size_mm[0] - len(lines[0]) * PITCH_MM) / 2 * mm
    last = (size_mm[1] - BOTTOM_MM) * mm
    for i, line in enumerate(lines):
        baseline = last - (len(lines) - 1 - i) * LINE_MM * mm
        draw.text((left, baseline), line, fill=(20, 20, 28), font=font, anchor="ls")


def td1_back(text: str, rng: np.random.Generator) -> RGB:
    """The back of an ID-1 card (85.6 × 54 mm) with a 3×30 MRZ."""
    if len(text.split("\n")) != 3:
        raise ValueError("a TD1 MRZ has three lines")
    w, h = (round(d * PX_PER_MM) for d in ID1_MM)
    img = _ground(w, h, rng, (0.97, 0.99, 0.95))
    draw = ImageDraw.Draw(img)
    mm = PX_PER_MM
    # Two fingerprint boxes and printed fields above the zone, as on a CCCD's back.
    for k in range(2):
        x0 = (4 + k * 19) * mm
        draw.rectangle((x0, 4 * mm, x0 + 16 * mm, 22 * mm), outline=(120, 120, 140),
                       width=2)
        for r in range(2, 14, 2):
            draw.ellipse((x0 + 8 * mm - r * mm / 2, 13 * mm - r * mm / 1.6,
                          x0 + 8 * mm + r * mm / 2, 13 * mm + r * mm / 1.6),
                         outline=(150, 150, 160), width=1)
    _fields(draw, 44 * mm, 4 * mm, 30 * mm, 38 * mm, rng)
    _mrz(draw, text, ID1_MM)
    return np.asarray(img)


def td3_page(text: str, rng: np.random.Generator) -> RGB:
    """A passport data page (125 × 88 mm) with a 2×44 MRZ."""
    if len(text.split("\n")) != 2:
        raise ValueError("a TD3 MRZ has two lines")
    w, h = (round(d * PX_PER_MM) for d in TD3_MM)
    img = _ground(w, h, rng, (0.96, 0.94, 0.99))
    draw = ImageDraw.Draw(img)
    mm = PX_PER_MM
    draw.rectangle((6 * mm, 18 * mm, 38 * mm, 62 * mm), fill=(150, 140, 135))
    draw.ellipse((13 * mm, 24 * mm, 31 * mm, 46 * mm), fill=(110, 95, 90))
    _fields(draw, 44 * mm, 14 * mm, 66 * mm, 76 * mm, rng)
    _mrz(draw, text, TD3_MM)
    return np.asarray(img)


def mrz_corners_mm(text: str, size_mm: tuple[float, float]) -> NDArray[np.float64]:
    """The zone's corners (mm from the document's centre, x right, y down), one pitch of
    margin around the glyphs: TL, TR, BR, BL."""
    lines = text.split("\n")
    half_w = len(lines[0]) * PITCH_MM / 2 + PITCH_MM
    bottom = size_mm[1] / 2 - BOTTOM_MM + 0.4 * PITCH_MM
    top = bottom - (len(lines) - 1) * LINE_MM - 1.9 * PITCH_MM
    return np.array([(-half_w, top), (half_w, top), (half_w, bottom), (-half_w, bottom)])
