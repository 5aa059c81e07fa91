"""Flat documents for :mod:`station.bench.deskcam` to photograph: a CCCD-like card front.

Drawn here, not by ``station.sim.qrimage``, so that the benchmark's camera-model frames share no
code with the generator the decoder was tuned on. The layout follows the 2021 CCCD front at
20 px/mm: a pale blue-green guilloche ground, the national emblem's disc and the header at the
top left, the holder's photo on the left, printed fields, and the QR code (byte mode, level M,
no ECI — as the cards encode it) near the top right, ~18 mm wide. Every payload is synthetic.
"""

from __future__ import annotations

import math

import numpy as np
import segno
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from station.bench.deskcam import ID1_MM, RGB

PX_PER_MM = 20
QR_MM = 18.0


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for name in ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default()


def cccd_front(payload: bytes, rng: np.random.Generator) -> RGB:
    """The QR side of a CCCD-like card carrying ``payload`` (H×W×3 uint8, 85.6 × 54 mm)."""
    w, h = (round(d * PX_PER_MM) for d in ID1_MM)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    # Guilloche: interfering sine bands on a pale ground, colour varying across the card.
    phase = rng.uniform(0, 2 * math.pi, 3)
    bands = (np.sin(xx / 23 + 6 * np.sin(yy / 97 + phase[0]))
             + np.sin(yy / 17 + 5 * np.sin(xx / 131 + phase[1])))
    ground = np.stack([0.86 + 0.05 * np.sin(xx / w * 3 + phase[2]),
                       0.92 + 0.02 * bands / 2,
                       0.93 + 0.03 * np.cos(yy / h * 2)], axis=-1)
    ground = ground - 0.035 * (np.abs(bands) < 0.12)[..., None]
    img = Image.fromarray(np.clip(ground * 255, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    mm = PX_PER_MM
    # Emblem and header.
    draw.ellipse((4 * mm, 3 * mm, 14 * mm, 13 * mm), fill=(200, 40, 40), outline=(230, 190, 60),
                 width=mm // 2)
    draw.regular_polygon((9 * mm, 8 * mm, 2.6 * mm), 5, fill=(240, 210, 70))
    head = _font(int(2.4 * mm))
    draw.text((17 * mm, 3.5 * mm), "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", fill=(30, 30, 90),
              font=head)
    draw.text((24 * mm, 7.5 * mm), "Độc lập - Tự do - Hạnh phúc", fill=(30, 30, 90), font=head)
    draw.text((21 * mm, 12 * mm), "CĂN CƯỚC CÔNG DÂN", fill=(200, 30, 30),
              font=_font(int(3.4 * mm)))
    # Photo: a grey head-and-shoulders on a light ground.
    px0, py0 = 4 * mm, 18 * mm
    draw.rectangle((px0, py0, px0 + 20 * mm, py0 + 26 * mm), fill=(215, 220, 228))
    tone = tuple(int(v) for v in rng.integers(90, 170, 3))
    draw.ellipse((px0 + 6 * mm, py0 + 4 * mm, px0 + 14 * mm, py0 + 14 * mm), fill=tone)
    draw.ellipse((px0 + 2 * mm, py0 + 15 * mm, px0 + 18 * mm, py0 + 34 * mm), fill=tone)
    draw.rectangle((px0, py0 + 26 * mm, px0 + 20 * mm, py0 + 34 * mm), fill=tuple(
        int(v) for v in ground[py0 + 26 * mm, px0] * 255))
    # Printed fields (synthetic, not the payload's).
    small = _font(int(2.0 * mm))
    labels = ("Số / No.:", "Họ và tên / Full name:", "Ngày sinh / Date of birth:",
              "Giới tính / Sex:", "Quốc tịch / Nationality:", "Quê quán / Place of origin:",
              "Nơi thường trú / Place of residence:")
    for i, label in enumerate(labels):
        y = 18 * mm + i * 4.6 * mm
        draw.text((27 * mm, y), label, fill=(40, 40, 40), font=small)
        digits = "".join(str(int(d)) for d in rng.integers(0, 10, 8))
        draw.text((27 * mm + 2 * mm, y + 2.2 * mm), f"{digits} ···", fill=(10, 10, 10),
                  font=small)
    # The QR with its quiet zone (segno's default four modules), top right.
    qr = segno.make_qr(payload, error="m", mode="byte")
    side = round(QR_MM * mm)
    matrix = np.array([[bool(v) for v in row] for row in qr.matrix], dtype=np.bool_)
    n = matrix.shape[0]
    quiet = 4
    full = np.ones((n + 2 * quiet, n + 2 * quiet), np.uint8) * 255
    full[quiet:quiet + n, quiet:quiet + n] = np.where(matrix, 20, 255)
    scale = side * (n + 2 * quiet) / n
    code = Image.fromarray(full, "L").resize((round(scale), round(scale)), Image.Resampling.NEAREST)
    qx = w - round(scale) - 2 * mm + round(quiet * scale / (n + 2 * quiet))
    qy = 3 * mm - round(quiet * scale / (n + 2 * quiet))
    img.paste(code.convert("RGB"), (qx, max(0, qy)))
    arr: NDArray[np.uint8] = np.asarray(img, dtype=np.uint8).copy()
    return arr
