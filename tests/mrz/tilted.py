"""Test frames of a document held under a desk camera: a 3-D pose seen through a pinhole.

A quick perspective warp of :func:`station.sim.mrzimage.render_document` for the localisation
tests (the benchmark measures on frames from elsewhere): the document plane is tilted about its
horizontal and vertical axes, rotated in plane, put at a distance where an MRZ line is 15-25 px
high in a 1280×720 frame, then defocused, noised and JPEG-compressed.
"""

from __future__ import annotations

import io
import math
import random

import numpy as np
from PIL import Image, ImageFilter

from station.sim.mrzimage import render_document

FRAME = (1280, 720)
FOCAL_PX = 1065.0
"""A Pi camera's ~62° horizontal field of view at 1280 px."""
_DOC_PX_PER_MM = 24 / 2.54
"""render_document draws at a 24 px character pitch; ICAO's pitch is 2.54 mm."""


def tilted_frame(text: str, *, tilt_x: float = 0.0, tilt_y: float = 0.0, roll: float = 0.0,
                 line_px: float = 20.0, blur: float = 0.8, noise: float = 4.0,
                 jpeg: int | None = 80, seed: int = 0) -> Image.Image:
    """A grey 1280×720 frame: the document turned ``tilt_x``/``tilt_y`` degrees out of plane and
    ``roll`` in plane, at the distance where its MRZ line pitch (4.2 mm) is ``line_px``."""
    rng = random.Random(seed)
    doc = render_document(text, seed)
    # Pre-shrink so the perspective resampling does not alias (the frame is ~2× coarser).
    shrink = 0.5
    doc = doc.resize((round(doc.width * shrink), round(doc.height * shrink)),
                     Image.Resampling.LANCZOS)
    mm_per_px = 1 / (_DOC_PX_PER_MM * shrink)
    distance = FOCAL_PX * 4.2 / line_px
    ax, ay, az = (math.radians(v) for v in (tilt_x, tilt_y, roll))
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    rz = np.array([[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]])
    rot = rz @ ry @ rx
    # Doc pixel (u, v, 1) → card plane in mm (centred) → camera → image.
    to_mm = np.array([[mm_per_px, 0, -doc.width * mm_per_px / 2],
                      [0, mm_per_px, -doc.height * mm_per_px / 2], [0, 0, 1]])
    cx = FRAME[0] / 2 + rng.uniform(-80, 80)
    cy = FRAME[1] / 2 + rng.uniform(-50, 50)
    k = np.array([[FOCAL_PX, 0, cx], [0, FOCAL_PX, cy], [0, 0, 1]])
    extr = np.column_stack([rot[:, 0], rot[:, 1], [0, 0, distance]])
    h = k @ extr @ to_mm
    inv = np.linalg.inv(h)
    inv /= inv[2, 2]
    coeffs = tuple(float(c) for c in inv.ravel()[:8])
    warped = doc.transform(FRAME, Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BICUBIC,
                           fillcolor=0)
    mask = Image.new("L", doc.size, 255).transform(FRAME, Image.Transform.PERSPECTIVE, coeffs,
                                                   Image.Resampling.BILINEAR, fillcolor=0)
    nrng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:FRAME[1], 0:FRAME[0]].astype(np.float32)
    desk = rng.randint(50, 150) + 20 * np.sin(xx / rng.uniform(40, 90)) * np.sin(yy / 70.0)
    alpha = np.asarray(mask, np.float32) / 255
    frame = np.asarray(warped, np.float32) * alpha + desk * (1 - alpha)
    img = Image.fromarray(np.clip(frame, 0, 255).astype(np.uint8), "L")
    if blur:
        img = img.filter(ImageFilter.GaussianBlur(blur))
    if noise:
        noisy = np.asarray(img, np.float32) + nrng.normal(0, noise, size=(FRAME[1], FRAME[0]))
        img = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "L")
    if jpeg is not None:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=jpeg)
        img = Image.open(io.BytesIO(buf.getvalue())).convert("L")
    return img


def random_pose(seed: int) -> dict[str, float]:
    """A hand-held pose within the issue's envelope: tilt up to 35°, roll up to ±30° or upside
    down, the MRZ line 15-25 px."""
    rng = random.Random(seed)
    tilt = rng.uniform(0, 35)
    direction = rng.uniform(0, 2 * math.pi)
    roll = rng.uniform(-30, 30) + (180 if rng.random() < 0.2 else 0)
    return {"tilt_x": tilt * math.cos(direction), "tilt_y": tilt * math.sin(direction),
            "roll": roll, "line_px": rng.uniform(15, 25), "blur": rng.uniform(0.4, 1.2)}
