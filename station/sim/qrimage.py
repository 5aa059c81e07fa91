"""Synthetic card faces with a CCCD QR code, and photographs of them as a desk camera takes them.

Used by the tests, the demo and ``station bench qr``. Every payload is synthetic. A rendered
frame is a 1280×720 8-bit luma array (what the camera hands the decoder), made deterministic by
its seed.

The QR is encoded the way the cards do it: the UTF-8 bytes of the payload in byte mode without
an ECI header, error correction level M — which is why zbar guesses the wrong character set
unless asked for binary output.
"""

from __future__ import annotations

import io
import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import segno
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFilter

from station.sim.citizens import generate

FRAME = (1280, 720)
CARD = (856, 540)
"""ID-1 card (85.6 × 54 mm) at 10 px/mm."""

Luma = NDArray[np.uint8]

DISTORTIONS = ("clean", "blur", "motion", "perspective", "rotation", "low_contrast", "glare",
               "noise", "jpeg", "small")
"""The variants a labelled set covers: each alone on a mildly tilted card, plus mixes."""


# --- payloads ------------------------------------------------------------------------------


def synthetic_payload(seed: int) -> str:
    """The QR text of synthetic citizen ``seed`` (``station.sim.citizens``): realistic
    Vietnamese names and addresses, never a real person."""

    return generate(seed).qr_text()


# --- rendering ------------------------------------------------------------------------------


def qr_modules(payload: str) -> NDArray[np.bool_]:
    """The QR's dark modules (True), without a quiet zone."""
    qr = segno.make_qr(payload.encode("utf-8"), error="m", mode="byte")
    return np.array([[bool(v) for v in row] for row in qr.matrix], dtype=np.bool_)


def card_face(payload: str, *, seed: int = 0) -> Luma:
    """The QR side of a card: light guilloche-like background, text lines, the QR top right
    (about 19 mm wide, as on the 2021 CCCD front)."""
    rng = random.Random(seed)
    w, h = CARD
    yy, xx = np.mgrid[0:h, 0:w]
    base = 228 + 10 * np.sin(xx / 23.0 + 3 * np.sin(yy / 41.0)) * np.cos(yy / 31.0)
    img = Image.fromarray(base.astype(np.uint8), "L")
    draw = ImageDraw.Draw(img)
    for i in range(7):  # stand-ins for the printed text lines (their edges matter, not words)
        y = 150 + i * 52
        draw.rectangle((40, y, 40 + rng.randint(180, 480), y + 16), fill=rng.randint(40, 90))
    draw.rectangle((40, 40, 190, 230), fill=150)  # photo area
    modules = qr_modules(payload)
    size = 190
    n = modules.shape[0] + 8  # 4-module quiet zone
    px = max(1, size // n)
    big = np.pad(~modules, 4, constant_values=True).repeat(px, 0).repeat(px, 1)
    qr = np.where(big, 250, 20).astype(np.uint8)
    x0, y0 = w - 30 - qr.shape[1], 30
    img.paste(Image.fromarray(qr, "L"), (x0, y0))
    return np.asarray(img, dtype=np.uint8).copy()


@dataclass(frozen=True)
class Shot:
    """How the card sits in the frame and what the camera did to it."""

    card_width: int = 620
    """Card width in frame pixels (the QR is ~22 % of it)."""
    angle: float = 0.0
    tilt: float = 0.0
    """Perspective: the far edge is this fraction shorter than the near one."""
    blur: float = 0.0
    motion: int = 0
    """Motion blur length in pixels (horizontal-ish)."""
    contrast: float = 1.0
    glare: float = 0.0
    noise: float = 0.0
    jpeg: int = 0
    """JPEG quality (0 = no re-encoding)."""


def shot_for(distortion: str, rng: random.Random) -> Shot:
    """A shot with one named distortion (strength drawn from realistic ranges) on a card held
    roughly, i.e. slightly rotated and at a slightly varying distance."""
    base = dict(card_width=rng.randint(560, 760), angle=rng.uniform(-6, 6),
                tilt=rng.uniform(0, 0.05))
    table: dict[str, dict[str, float | int]] = {
        "clean": {},
        "blur": {"blur": rng.uniform(0.8, 1.6)},
        "motion": {"motion": rng.randint(3, 7)},
        "perspective": {"tilt": rng.uniform(0.15, 0.3), "angle": rng.uniform(-15, 15)},
        "rotation": {"angle": rng.uniform(20, 340)},
        "low_contrast": {"contrast": rng.uniform(0.15, 0.3)},
        "glare": {"glare": rng.uniform(0.6, 0.9)},
        "noise": {"noise": rng.uniform(14, 28)},
        "jpeg": {"jpeg": rng.randint(8, 20)},
        "small": {"card_width": rng.randint(380, 460)},
        "mixed": {"blur": rng.uniform(0.6, 1.2), "noise": rng.uniform(6, 14),
                  "contrast": rng.uniform(0.35, 0.6), "jpeg": rng.randint(25, 45),
                  "tilt": rng.uniform(0.05, 0.15)},
    }
    base.update(table[distortion])
    return Shot(**base)  # type: ignore[arg-type]


def photograph(face: Luma, shot: Shot, *, seed: int = 0) -> Luma:
    """Place the card in a 1280×720 frame over a desk and apply the shot's distortions."""
    rng = np.random.default_rng(seed)
    fw, fh = FRAME
    card = Image.fromarray(face, "L")
    scale = shot.card_width / card.width
    card = card.resize((shot.card_width, round(card.height * scale)), Image.Resampling.BILINEAR)
    mask = Image.new("L", card.size, 255)
    if shot.tilt:
        card, mask = _tilt(card, shot.tilt), _tilt(mask, shot.tilt)
    if shot.angle:
        card = card.rotate(shot.angle, Image.Resampling.BILINEAR, expand=True, fillcolor=0)
        mask = mask.rotate(shot.angle, Image.Resampling.BILINEAR, expand=True, fillcolor=0)
    desk = rng.normal(95, 12, (fh // 8, fw // 8)).clip(0, 255).astype(np.uint8)
    frame = Image.fromarray(desk, "L").resize(FRAME, Image.Resampling.BICUBIC)
    # Held near the guide box in the middle, give or take.
    cx = fw // 2 + int(rng.integers(-60, 61)) - card.width // 2
    cy = fh // 2 + int(rng.integers(-40, 41)) - card.height // 2
    frame.paste(card, (cx, cy), mask)
    if shot.blur:
        frame = frame.filter(ImageFilter.GaussianBlur(shot.blur))
    out = np.asarray(frame, dtype=np.float64)
    if shot.motion:
        out = _motion_blur(out, shot.motion, float(rng.uniform(-0.3, 0.3)))
    if shot.contrast != 1.0:
        out = 128 + (out - 128) * shot.contrast + float(rng.uniform(-30, 30))
    if shot.glare:
        gy, gx = np.mgrid[0:fh, 0:fw]
        # A specular spot from the desk lamp, over the card's upper right where the QR is.
        sx = cx + card.width * float(rng.uniform(0.55, 0.85))
        sy = cy + card.height * float(rng.uniform(0.15, 0.45))
        r = card.width * float(rng.uniform(0.08, 0.14))
        out = out + 255 * shot.glare * np.exp(-((gx - sx) ** 2 + (gy - sy) ** 2) / (2 * r * r))
    if shot.noise:
        out = out + rng.normal(0, shot.noise, out.shape)
    result = out.clip(0, 255).astype(np.uint8)
    if shot.jpeg:
        buf = io.BytesIO()
        Image.fromarray(result, "L").save(buf, "JPEG", quality=shot.jpeg)
        result = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"), dtype=np.uint8)
    return result


def _tilt(img: Image.Image, tilt: float) -> Image.Image:
    """Perspective: the top edge seen shorter than the bottom (card tipped away)."""
    w, h = img.size
    d = w * tilt / 2
    src = [(d, 0), (w - d, 0), (w, h), (0, h)]  # where the card's corners land
    dst = [(0, 0), (w, 0), (w, h), (0, h)]
    return img.transform(img.size, Image.Transform.PERSPECTIVE, _coeffs(src, dst),
                         Image.Resampling.BILINEAR, fillcolor=0)


def _coeffs(src: Sequence[tuple[float, float]],
            dst: Sequence[tuple[float, float]]) -> tuple[float, ...]:
    """Pillow's PERSPECTIVE coefficients mapping output points ``src`` to input points
    ``dst``."""
    rows = []
    for (x, y), (u, v) in zip(src, dst, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    a = np.array(rows, dtype=np.float64)
    b = np.array([c for p in dst for c in p], dtype=np.float64)
    return tuple(float(c) for c in np.linalg.solve(a, b))


def _motion_blur(img: NDArray[np.float64], length: int, slope: float) -> NDArray[np.float64]:
    acc = np.zeros_like(img)
    for i in range(length):
        dx = i - length // 2
        dy = round(dx * slope)
        acc += np.roll(img, (dy, dx), axis=(0, 1))
    return acc / length


def render(payload: str, distortion: str = "clean", *, seed: int = 0) -> Luma:
    """One 1280×720 photograph of a card carrying ``payload`` with the named distortion."""
    if distortion not in (*DISTORTIONS, "mixed"):
        raise ValueError(f"unknown distortion {distortion!r}")
    rng = random.Random(f"{seed}:{distortion}")
    return photograph(card_face(payload, seed=seed), shot_for(distortion, rng), seed=seed)
