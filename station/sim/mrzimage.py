"""Synthetic camera frames of machine-readable zones (ICAO 9303-3 §4.2: OCR-B, 10 characters per
inch) on card- and passport-like backgrounds, with the distortions a desk camera adds.

Only synthetic data: the ICAO specimen MRZs, synthetic CCCD MRZs from
:mod:`station.sim.citizens`, and random Utopia (UTO, ICAO's fictional state) documents.
Everything is deterministic for a given seed.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from station.mrz import check_digit
from station.mrz.font import ocr_b, ocr_b_size
from station.sim.citizens import skeleton_citizen, td1_mrz

TEXT_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
FRAME = (1280, 720)

# ICAO 9303 Parts 4, 5, 6 specimen documents.
TD1_SPECIMEN = ("I<UTOD231458907<<<<<<<<<<<<<<<\n"
                "7408122F1204159UTO<<<<<<<<<<<6\n"
                "ERIKSSON<<ANNA<MARIA<<<<<<<<<<")
TD2_SPECIMEN = ("I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<\n"
                "D231458907UTO7408122F1204159<<<<<<<6")
TD3_SPECIMEN = ("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\n"
                "L898902C36UTO7408122F1204159ZE184226B<<<<<10")

# Document geometry in character pitches (2.54 mm) from ICAO 9303-4/5/6: TD1 85.6×54 mm,
# TD2 105×74 mm, TD3 125×88 mm; MRZ lines about 4.2 mm apart, bottom margin about 3 mm.
_DOC = {30: (33.7, 21.3), 36: (41.3, 29.1), 44: (49.2, 34.6)}
_LINE_PITCH = 1.66
_PITCH_PX = 24
"""Character pitch of the high-resolution document render, before it is placed in a frame."""


@dataclass(frozen=True)
class Distortion:
    """What the camera and the desk do to the document. Lengths are in frame pixels."""

    scale: float = 0.75
    """Document width as a fraction of the frame width."""
    angle: float = 0.0
    """In-plane rotation, degrees."""
    perspective: float = 0.0
    """Keystone: the far edge shrinks by this fraction."""
    blur: float = 0.0
    """Gaussian defocus, sigma in pixels."""
    motion: int = 0
    """Horizontal motion blur, length in pixels."""
    contrast: float = 1.0
    """1 = full print contrast; 0.3 = a washed-out card."""
    glare: float = 0.0
    """Strength of a bright specular spot over the document (0..1)."""
    noise: float = 0.0
    """Gaussian sensor noise, sigma in grey levels."""
    jpeg: int | None = None
    """JPEG quality to round-trip through, or None."""


DISTORTIONS: dict[str, Distortion] = {
    "clean": Distortion(),
    "small": Distortion(scale=0.5),
    "blur": Distortion(blur=1.6),
    "motion": Distortion(motion=7),
    "rotate": Distortion(angle=4.0),
    "perspective": Distortion(perspective=0.06, angle=-1.5),
    "low-contrast": Distortion(contrast=0.35),
    "glare": Distortion(glare=0.7),
    "noise": Distortion(noise=14.0),
    "jpeg": Distortion(jpeg=30),
    "combined": Distortion(scale=0.6, angle=2.0, blur=1.0, contrast=0.6, noise=8.0, jpeg=50),
}
"""The named distortions of the benchmark set (each on its own, then a mix)."""


@dataclass(frozen=True)
class MrzSample:
    name: str
    text: str
    """The MRZ as printed: lines joined by newlines."""
    distortion: str
    image: Image.Image
    """8-bit grey frame."""


def random_td3(seed: int) -> str:
    """A synthetic Utopia passport MRZ with correct check digits."""
    rng = random.Random(seed)
    surname = rng.choice(("ERIKSSON", "MUSTERMANN", "SMITH", "DUPONT", "ROSSI", "TANAKA"))
    given = rng.choice(("ANNA<MARIA", "JOHN", "MARIE<CLAIRE", "LUCA", "HANAKO", "PETER<JOHN"))
    name = f"P<UTO{surname}<<{given}"[:44].ljust(44, "<")
    number = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ0123456789") for _ in range(9))
    birth = f"{rng.randint(40, 99):02d}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    expiry = f"{rng.randint(26, 35):02d}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    personal = "".ljust(14, "<") if rng.random() < 0.5 else \
        "".join(rng.choice("0123456789") for _ in range(8)).ljust(14, "<")
    pcd = "<" if set(personal) == {"<"} else check_digit(personal)
    line2 = (number + check_digit(number) + "UTO" + birth + check_digit(birth)
             + rng.choice("MF") + expiry + check_digit(expiry) + personal + pcd)
    composite = line2[0:10] + line2[13:20] + line2[21:43]
    return name + "\n" + line2 + check_digit(composite)


def random_td2(seed: int) -> str:
    """A synthetic Utopia TD2 identity card MRZ with correct check digits."""
    td3 = random_td3(seed).split("\n")
    name = ("I<UTO" + td3[0][5:])[:36]
    number, birth, sex, expiry = td3[1][0:9], td3[1][13:19], td3[1][20], td3[1][21:27]
    line2 = (number + check_digit(number) + "UTO" + birth + check_digit(birth) + sex + expiry
             + check_digit(expiry) + "<<<<<<<")
    composite = line2[0:10] + line2[13:20] + line2[21:35]
    return name + "\n" + line2 + check_digit(composite)


def cccd_td1(seed: int) -> str:
    """The TD1 MRZ of a synthetic CCCD, as three lines."""

    flat = td1_mrz(skeleton_citizen(seed))
    return "\n".join(flat[i:i + 30] for i in (0, 30, 60))


def render_document(text: str, seed: int = 0) -> Image.Image:
    """The document face carrying ``text`` (TD1/TD2/TD3 chosen by line length), 8-bit grey,
    at a character pitch of 24 px."""
    lines = text.split("\n")
    width = len(lines[0])
    if width not in _DOC or any(len(line) != width for line in lines):
        raise ValueError("MRZ text must be 3×30, 2×36 or 2×44 characters")
    rng = random.Random(seed)
    w_pitch, h_pitch = _DOC[width]
    size = (round(w_pitch * _PITCH_PX), round(h_pitch * _PITCH_PX))
    paper = rng.randint(205, 240)
    yy, xx = np.mgrid[0:size[1], 0:size[0]].astype(np.float32)
    # A security-print background: low-contrast guilloche waves over a gentle gradient.
    bg = paper - 12 * (yy / size[1]) + 6 * np.sin(xx / 37.0 + rng.random() * 6)
    for _ in range(3):
        f, phase = rng.uniform(0.02, 0.06), rng.random() * 6
        bg -= 10 * (np.sin(yy * f + 8 * np.sin(xx * f * 0.7 + phase)) > 0.92)
    img = Image.fromarray(np.clip(bg, 0, 255).astype(np.uint8), "L")
    draw = ImageDraw.Draw(img)
    mrz_top = size[1] - round((0.5 + len(lines) * _LINE_PITCH) * _PITCH_PX)
    # Printed fields above the MRZ (never the MRZ's own data), and a photo box on passports.
    small = ImageFont.truetype(str(TEXT_FONT), _PITCH_PX // 2) if TEXT_FONT.exists() \
        else ImageFont.load_default()
    left = _PITCH_PX
    if width == 44:
        photo = (left, _PITCH_PX * 4, left + _PITCH_PX * 11, mrz_top - _PITCH_PX)
        draw.rectangle(photo, fill=rng.randint(90, 150))
        left = photo[2] + _PITCH_PX
    y = _PITCH_PX * 2
    while y < mrz_top - _PITCH_PX * 2:
        label = "".join(rng.choice("ABCDEFGHIKLMNOPQRSTUVXY /") for _ in range(rng.randint(8, 30)))
        draw.text((left, y), label, fill=rng.randint(40, 110), font=small)
        y += rng.randint(_PITCH_PX, _PITCH_PX * 2)
    font = ocr_b(ocr_b_size(_PITCH_PX))
    x0 = (size[0] - width * _PITCH_PX) // 2
    ink = rng.randint(10, 40)
    for i, line in enumerate(lines):
        top = mrz_top + round(i * _LINE_PITCH * _PITCH_PX)
        for j, c in enumerate(line):
            draw.text((x0 + j * _PITCH_PX, top), c, fill=ink, font=font)
    return img


def _perspective_coeffs(dst: list[tuple[float, float]],
                        src: list[tuple[float, float]]) -> tuple[float, ...]:
    """Coefficients for PIL's PERSPECTIVE transform mapping output points ``dst`` to ``src``."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    sol = np.linalg.solve(np.array(rows, dtype=np.float64), np.array(rhs, dtype=np.float64))
    return tuple(float(c) for c in sol)


def render_frame(text: str, distortion: Distortion = Distortion(), seed: int = 0) -> Image.Image:
    """A 1280×720 grey camera frame of a document carrying ``text`` under ``distortion``."""
    rng = random.Random(seed)
    doc = render_document(text, seed)
    fw, fh = FRAME
    dw = distortion.scale * fw
    dh = dw * doc.height / doc.width
    cx = fw / 2 + rng.uniform(-0.5, 0.5) * max(0.0, fw - dw) * 0.8
    cy = fh / 2 + rng.uniform(-0.5, 0.5) * max(0.0, fh - dh) * 0.8
    k = distortion.perspective
    # Corners of the document in the frame: keystone shrinks the top edge, then rotate.
    corners = [(-dw / 2 * (1 - k), -dh / 2), (dw / 2 * (1 - k), -dh / 2), (dw / 2, dh / 2),
               (-dw / 2, dh / 2)]
    a = np.deg2rad(distortion.angle)
    ca, sa = float(np.cos(a)), float(np.sin(a))
    dst = [(cx + x * ca - y * sa, cy + x * sa + y * ca) for x, y in corners]
    src = [(0.0, 0.0), (float(doc.width), 0.0), (float(doc.width), float(doc.height)),
           (0.0, float(doc.height))]
    # Downscale with a filter first so the perspective resampling does not alias.
    factor = doc.width / dw
    if factor > 1.5:
        small = doc.resize((round(doc.width / factor * 1.5), round(doc.height / factor * 1.5)),
                           Image.Resampling.LANCZOS)
        src = [(x * small.width / doc.width, y * small.height / doc.height) for x, y in src]
        doc = small
    coeffs = _perspective_coeffs(dst, src)
    warped = doc.transform(FRAME, Image.Transform.PERSPECTIVE, coeffs,
                           Image.Resampling.BICUBIC, fillcolor=0)
    mask = Image.new("L", doc.size, 255).transform(FRAME, Image.Transform.PERSPECTIVE, coeffs,
                                                   Image.Resampling.BILINEAR, fillcolor=0)
    # A desk behind the document.
    nrng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:fh, 0:fw].astype(np.float32)
    desk = rng.randint(60, 150) + 25 * np.sin(xx / rng.uniform(40, 90)) * np.sin(yy / 70.0)
    desk += nrng.normal(0, 6, size=desk.shape)
    frame = np.where(np.asarray(mask) > 0,
                     (np.asarray(warped, np.float32) * np.asarray(mask) + desk
                      * (255 - np.asarray(mask, np.float32))) / 255.0, desk)
    if distortion.contrast != 1.0:
        frame = 128 + (frame - 128) * distortion.contrast + (1 - distortion.contrast) * 60
    if distortion.glare:
        gx, gy = rng.uniform(0.3, 0.7) * fw, rng.uniform(0.3, 0.7) * fh
        r = dw * 0.18
        spot = np.exp(-((xx - gx) ** 2 + (yy - gy) ** 2) / (2 * r * r))
        frame = frame + (255 - frame) * distortion.glare * spot
    img = Image.fromarray(np.clip(frame, 0, 255).astype(np.uint8), "L")
    if distortion.blur:
        img = img.filter(ImageFilter.GaussianBlur(distortion.blur))
    if distortion.motion > 1:
        arr = np.asarray(img, np.float32)
        n = distortion.motion
        c = np.cumsum(np.pad(arr, ((0, 0), (n // 2 + 1, n - n // 2 - 1)), mode="edge"), axis=1)
        img = Image.fromarray(np.clip((c[:, n:] - c[:, :-n]) / n, 0, 255).astype(np.uint8), "L")
    if distortion.noise:
        noisy = np.asarray(img, np.float32) + nrng.normal(0, distortion.noise, size=(fh, fw))
        img = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "L")
    if distortion.jpeg is not None:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=distortion.jpeg)
        img = Image.open(io.BytesIO(buf.getvalue())).convert("L")
    return img


def generated_set(per_distortion: int = 6, seed: int = 0,
                  distortions: dict[str, Distortion] | None = None) -> list[MrzSample]:
    """The benchmark/test set: for each named distortion, ``per_distortion`` documents cycling
    through synthetic CCCD TD1, Utopia TD3 and TD2, and the three ICAO specimens."""
    out = []
    specimens = (TD1_SPECIMEN, TD2_SPECIMEN, TD3_SPECIMEN)
    for d_index, (dname, dist) in enumerate((distortions or DISTORTIONS).items()):
        for i in range(per_distortion):
            s = seed * 100_003 + d_index * 1009 + i
            kind = i % 4
            if kind == 0:
                text, label = cccd_td1(s), "cccd-td1"
            elif kind == 1:
                text, label = random_td3(s), "uto-td3"
            elif kind == 2:
                text, label = random_td2(s), "uto-td2"
            else:
                text, label = specimens[(i // 4) % 3], "icao-specimen"
            # Vary the geometry a little around the named distortion.
            jitter = replace(dist, scale=dist.scale * random.Random(s).uniform(0.9, 1.1))
            out.append(MrzSample(f"{dname}-{i:02d}-{label}", text, dname,
                                 render_frame(text, jitter, s)))
    return out
