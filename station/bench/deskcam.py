"""A desk camera, modelled from its optics and sensor, for benchmark frames nobody drew by hand.

This is the benchmarks' *second* rendering pipeline, deliberately independent of
``station.sim.qrimage``/``mrzimage`` (which distort a flat picture with 2-D filters): a flat
document (a card front, a card back, a passport page — any RGB image with its physical size) is
placed in 3-D in front of a pinhole camera with lens distortion, and the frame is formed the way
a camera forms it:

1. **geometry** — the document is a plane at a 3-D pose (distance, tilt about two axes, in-plane
   rotation, offset from the optical axis); every sensor pixel is undistorted (Brown–Conrady
   radial k1, k2 and tangential p1, p2), cast as a ray and intersected with that plane, 2×2
   super-sampled (a pixel integrates light over its area). What misses the document is the desk.
2. **scene light** — a desk lamp's glare (a specular lobe on the laminate that clips to white),
   an illumination gradient, fingers holding an edge (skin-toned, shaded, at the card's plane).
3. **optics** — defocus from the thin-lens circle of confusion for the focus distance set
   (a disc PSF), camera shake (a line PSF), vignetting (cos⁴ falloff).
4. **sensor** — linear light through a white-balance error, an RGGB Bayer mosaic, shot noise
   (variance ∝ signal) plus read noise, demosaicing, sRGB gamma, the ISP's sharpening, JPEG.

The defaults model a Raspberry Pi Camera Module 2 (IMX219, 3.04 mm f/2.0 lens) in its 1280×720
mode (2×2 binning of a 2560×1440 centre crop: 2.24 µm pixels, a 50° horizontal field) looking
down at a desk: a card 25 cm away is ~460 px wide, its 18 mm QR ~100 px. The document's
frame is returned as RGB; :func:`luma` gives the Y plane a camera's YUV420 output hands the
decoder. Everything random comes from the ``rng`` passed in: a frame is reproducible from its
seed.

API::

    frame = render(card_rgb, size_mm=(85.6, 54.0), pose=Pose(...), camera=Camera(),
                   capture=Capture(...), rng=np.random.default_rng(seed))
    frame.rgb        # (720, 1280, 3) uint8
    frame.corners    # document corners in the frame (px): TL, TR, BR, BL of the image given
    y = luma(frame.rgb)
    pose, capture = hand_held(rng)   # a pose and conditions as a user at a desk produces them

Needs OpenCV (the ``camera`` extra).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

RGB = NDArray[np.uint8]
ID1_MM = (85.6, 54.0)
"""An ID-1 card (CCCD, TD1), width × height in mm."""
TD3_MM = (125.0, 88.0)
"""A passport data page (TD3), width × height in mm."""


@dataclass(frozen=True)
class Camera:
    """Intrinsics of the camera and its lens."""

    width: int = 1280
    height: int = 720
    hfov_deg: float = 50.4
    focal_mm: float = 3.04
    f_number: float = 2.0
    k1: float = -0.08
    """Radial distortion (negative: barrel, as wide phone-class lenses have)."""
    k2: float = 0.02
    p1: float = 0.0005
    p2: float = -0.0003
    """Tangential distortion (the lens slightly decentred)."""

    @property
    def f_px(self) -> float:
        return self.width / 2 / math.tan(math.radians(self.hfov_deg) / 2)

    @property
    def pixel_mm(self) -> float:
        """Sensor pixel pitch in this mode (from the focal length and the field)."""
        return self.focal_mm / self.f_px


@dataclass(frozen=True)
class Pose:
    """Where the document is: its centre ``distance_mm`` in front of the lens (along the
    optical axis), shifted by ``offset_mm`` (x right, y down), turned ``roll_deg`` in its plane
    and tilted ``tilt_x_deg`` (top edge away from the camera when positive) and
    ``tilt_y_deg`` (right edge away)."""

    distance_mm: float = 250.0
    roll_deg: float = 0.0
    tilt_x_deg: float = 0.0
    tilt_y_deg: float = 0.0
    offset_mm: tuple[float, float] = (0.0, 0.0)
    flipped: bool = False
    """Upside down (rotated 180° in its plane on top of ``roll_deg``)."""


@dataclass(frozen=True)
class Finger:
    """A fingertip over the document's edge: ``edge`` 0..3 (top, right, bottom, left),
    ``at`` 0..1 along that edge, reaching ``depth_mm`` over the document, ``width_mm`` wide."""

    edge: int
    at: float
    depth_mm: float = 8.0
    width_mm: float = 16.0


@dataclass(frozen=True)
class Capture:
    """The conditions of one shot."""

    focus_mm: float | None = None
    """Where the lens is focused; None: on the document (no defocus)."""
    motion_px: float = 0.0
    motion_deg: float = 0.0
    exposure: float = 1.0
    """Scene brightness scale (1: the document's white reaches ~85 % of full scale)."""
    white_balance: tuple[float, float, float] = (1.0, 1.0, 1.0)
    """Per-channel gain error left after auto white balance (R, G, B)."""
    glare: tuple[float, float, float] | None = None
    """A desk-lamp highlight: (u, v) on the document as fractions of its width/height, and
    strength (1: clips a region ~15 % of the document wide)."""
    light_gradient: float = 0.15
    """Illumination falloff across the frame (fraction, direction from the rng)."""
    fingers: tuple[Finger, ...] = ()
    read_noise: float = 2.0
    """Read noise, in 8-bit linear steps (σ)."""
    shot_noise: float = 0.6
    """Shot noise gain: σ² = shot_noise × signal (8-bit linear steps)."""
    sharpen: float = 0.5
    """The ISP's unsharp mask amount."""
    jpeg_quality: int | None = 85
    """None: the frame is not JPEG-compressed (a raw YUV frame)."""


@dataclass(frozen=True)
class Frame:
    rgb: RGB
    corners: NDArray[np.float64]
    """Document corners in the frame: top-left, top-right, bottom-right, bottom-left of the
    image given (4×2, px, distorted as the lens shows them)."""
    pose: Pose = field(repr=False)
    capture: Capture = field(repr=False)


def luma(rgb: RGB) -> NDArray[np.uint8]:
    """The Y plane (BT.601, full range) of an RGB frame: what the camera's YUV output holds."""
    f = rgb.astype(np.float32)
    y = 0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]
    out: NDArray[np.uint8] = np.clip(y + 0.5, 0, 255).astype(np.uint8)
    return out


def _cv2() -> Any:
    try:
        import cv2
    except ImportError as exc:  # pragma: no cover - the camera extra is part of bootstrap
        raise RuntimeError("the desk camera model needs OpenCV (pip install 'station[camera]')"
                           ) from exc
    return cv2


def _rotation(pose: Pose) -> NDArray[np.float64]:
    """Document axes (x right, y down, z away from the camera) in camera coordinates."""
    roll = math.radians(pose.roll_deg + (180.0 if pose.flipped else 0.0))
    ax, ay = math.radians(pose.tilt_x_deg), math.radians(pose.tilt_y_deg)
    rz = np.array([[math.cos(roll), -math.sin(roll), 0], [math.sin(roll), math.cos(roll), 0],
                   [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)],
                   [0, math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0],
                   [-math.sin(ay), 0, math.cos(ay)]])
    out: NDArray[np.float64] = rx @ ry @ rz
    return out


def _undistort(cam: Camera, xd: NDArray[np.float64], yd: NDArray[np.float64],
               ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Normalised distorted image coordinates → ideal ones (fixed-point inversion)."""
    x, y = xd.copy(), yd.copy()
    for _ in range(6):
        r2 = x * x + y * y
        radial = 1 + cam.k1 * r2 + cam.k2 * r2 * r2
        dx = 2 * cam.p1 * x * y + cam.p2 * (r2 + 2 * x * x)
        dy = cam.p1 * (r2 + 2 * y * y) + 2 * cam.p2 * x * y
        x, y = (xd - dx) / radial, (yd - dy) / radial
    return x, y


def _distort(cam: Camera, x: NDArray[np.float64], y: NDArray[np.float64],
             ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    r2 = x * x + y * y
    radial = 1 + cam.k1 * r2 + cam.k2 * r2 * r2
    return (x * radial + 2 * cam.p1 * x * y + cam.p2 * (r2 + 2 * x * x),
            y * radial + cam.p1 * (r2 + 2 * y * y) + 2 * cam.p2 * x * y)


def _desk(shape: tuple[int, int], rng: np.random.Generator) -> NDArray[np.float32]:
    """A desk top in linear light: wood-like grain or a mottled mat, darker than paper."""
    cv2 = _cv2()
    h, w = shape
    base = np.array(rng.choice([(0.35, 0.22, 0.12), (0.25, 0.25, 0.27), (0.55, 0.5, 0.42),
                                (0.08, 0.08, 0.09)]), np.float32)
    noise = cv2.resize(rng.random((max(2, h // 40), max(2, w // 40))).astype(np.float32),
                       (w, h), interpolation=cv2.INTER_CUBIC)
    yy = np.arange(h, dtype=np.float32)[:, None]
    grain = 0.5 + 0.5 * np.sin(yy / rng.uniform(3, 9) + 4 * noise)
    shade = 0.75 + 0.25 * (0.6 * noise + 0.4 * grain)
    out: NDArray[np.float32] = np.clip(base[None, None, :] * shade[..., None], 0, 1
                                       ).astype(np.float32)
    return out


def _srgb_to_linear(rgb: RGB) -> NDArray[np.float32]:
    c = rgb.astype(np.float32) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4).astype(np.float32)


def _linear_to_srgb(c: NDArray[np.float32]) -> NDArray[np.float32]:
    c = np.clip(c, 0, 1)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * np.power(c, 1 / 2.4) - 0.055
                    ).astype(np.float32)


def _disc(radius: float) -> NDArray[np.float32]:
    r = max(radius, 0.5)
    n = math.ceil(r) * 2 + 1
    yy, xx = np.mgrid[0:n, 0:n] - n // 2
    # Anti-aliased disc: coverage falls off over one pixel at the rim.
    k = np.clip(r + 0.5 - np.hypot(xx, yy), 0, 1).astype(np.float32)
    out: NDArray[np.float32] = k / k.sum()
    return out


def _line(length: float, angle_deg: float) -> NDArray[np.float32]:
    n = math.ceil(length) | 1
    k = np.zeros((n, n), np.float32)
    c = n // 2
    a = math.radians(angle_deg)
    for t in np.linspace(-length / 2, length / 2, max(2, int(length * 3))):
        x, y = c + t * math.cos(a), c + t * math.sin(a)
        x0, y0 = math.floor(x), math.floor(y)
        fx, fy = x - x0, y - y0
        for dx, dy, wgt in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)),
                            (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
            if 0 <= x0 + dx < n and 0 <= y0 + dy < n:
                k[y0 + dy, x0 + dx] += wgt
    out: NDArray[np.float32] = k / k.sum()
    return out


def defocus_radius_px(camera: Camera, distance_mm: float, focus_mm: float | None) -> float:
    """Radius of the circle of confusion on the sensor, in pixels (thin lens)."""
    if focus_mm is None:
        return 0.0
    f = camera.focal_mm
    aperture = f / camera.f_number
    c = aperture * f * abs(distance_mm - focus_mm) / (distance_mm * (focus_mm - f))
    return c / 2 / camera.pixel_mm


def render(document: RGB, *, size_mm: tuple[float, float] = ID1_MM, pose: Pose = Pose(),
           camera: Camera = Camera(), capture: Capture = Capture(),
           rng: np.random.Generator | None = None) -> Frame:
    """A camera frame of ``document`` (H×W×3 uint8 sRGB, its physical size ``size_mm``)."""
    cv2 = _cv2()
    rng = rng if rng is not None else np.random.default_rng(0)
    if document.ndim != 3 or document.shape[2] != 3 or document.dtype != np.uint8:
        raise ValueError("document must be an H×W×3 uint8 RGB image")
    dh, dw = document.shape[:2]
    w_mm, h_mm = size_mm
    ss = 2  # super-sampling per axis
    W, H = camera.width * ss, camera.height * ss
    f = camera.f_px * ss
    cx, cy = W / 2 - 0.5, H / 2 - 0.5

    rot = _rotation(pose)
    centre = np.array([pose.offset_mm[0], pose.offset_mm[1], pose.distance_mm])
    normal = rot[:, 2]
    ex, ey = rot[:, 0], rot[:, 1]

    # Sensor pixel → ray → plane → document mm. The mapping is smooth: compute it on a grid
    # every 8 samples and interpolate (the lens inversion per sample costs seconds).
    step = 8
    gw, gh = W // step + 2, H // step + 2
    u = (np.arange(gw, dtype=np.float64) * step - cx) / f
    v = (np.arange(gh, dtype=np.float64) * step - cy) / f
    xd, yd = np.meshgrid(u, v)
    x, y = _undistort(camera, xd, yd)
    denom = x * normal[0] + y * normal[1] + normal[2]
    t = float(centre @ normal) / denom
    px, py, pz = x * t - centre[0], y * t - centre[1], t - centre[2]
    grid = np.stack([px * ex[0] + py * ex[1] + pz * ex[2],
                     px * ey[0] + py * ey[1] + pz * ey[2],
                     1 / (1 + x * x + y * y)], axis=-1).astype(np.float32)
    fine = cv2.resize(grid, ((gw - 1) * step, (gh - 1) * step),
                      interpolation=cv2.INTER_LINEAR)[:H, :W]
    dx_mm, dy_mm, cos2 = fine[..., 0], fine[..., 1], fine[..., 2]
    map_x = (dx_mm / w_mm + 0.5) * dw - 0.5
    map_y = (dy_mm / h_mm + 0.5) * dh - 0.5

    lin = _srgb_to_linear(document)
    # The document's own pixels may be finer than the (super-sampled) sensor's: pre-filter to
    # the sampling rate so the remap does not alias.
    per_sample = (dw / w_mm) * pose.distance_mm / f
    src = lin
    if per_sample > 1.4:
        k = round(per_sample)
        src = cv2.blur(lin, (k, k))
    inside = (map_x >= -0.5) & (map_x <= dw - 0.5) & (map_y >= -0.5) & (map_y <= dh - 0.5)
    scene = cv2.remap(src, map_x, map_y, interpolation=cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_REPLICATE)
    desk = _desk((H, W), rng)
    # Soft edge: a card's edge is a one-pixel step, not a staircase.
    cover = cv2.GaussianBlur(inside.astype(np.float32), (3, 3), 0)[..., None]
    scene = scene * cover + desk * (1 - cover)

    # Light: document-space glare lobe, fingers, a frame-wide gradient.
    um, vm = dx_mm / w_mm + 0.5, dy_mm / h_mm + 0.5
    if capture.glare is not None:
        gu, gv, strength = capture.glare
        d2 = ((um - gu) * w_mm) ** 2 + ((vm - gv) * h_mm) ** 2
        sigma = 0.08 * w_mm
        lobe = np.float32(strength * 1.6) * np.exp(-d2 / np.float32(2 * sigma * sigma))
        scene = scene + (lobe * inside)[..., None]
    for finger in capture.fingers:
        scene = _finger(scene, finger, dx_mm, dy_mm, w_mm, h_mm, rng)
    angle = rng.uniform(0, 2 * math.pi)
    gx = (np.arange(W, dtype=np.float32) / W - 0.5)[None, :] * math.cos(angle)
    gy = (np.arange(H, dtype=np.float32) / H - 0.5)[:, None] * math.sin(angle)
    scene = scene * (1 - capture.light_gradient * (gx + gy))[..., None]
    # cos⁴ vignetting of the ray's angle to the axis.
    scene = scene * (cos2 * cos2)[..., None]
    scene = scene * np.float32(0.85 * capture.exposure)

    # Optics: defocus (disc) and shake (line), at the super-sampled scale.
    radius = defocus_radius_px(camera, pose.distance_mm, capture.focus_mm) * ss
    if radius > 0.6:
        scene = cv2.filter2D(scene, -1, _disc(radius))
    if capture.motion_px > 0.5:
        scene = cv2.filter2D(scene, -1, _line(capture.motion_px * ss, capture.motion_deg))
    # Pixel area integration.
    scene = cv2.resize(scene, (camera.width, camera.height), interpolation=cv2.INTER_AREA)

    # Sensor: white-balance error, Bayer mosaic, noise, demosaic, gamma, sharpening, JPEG.
    scene = scene * np.array(capture.white_balance, np.float32)[None, None, :]
    raw = _mosaic(np.clip(scene, 0, 1) * 255.0)
    noise: NDArray[np.float32] = np.sqrt(np.float32(capture.read_noise ** 2)
                                         + np.float32(capture.shot_noise) * np.maximum(raw, 0))
    raw = raw + rng.standard_normal(raw.shape).astype(np.float32) * noise
    raw8 = np.clip(raw + 0.5, 0, 255).astype(np.uint8)
    # OpenCV names Bayer patterns by the second row's first two pixels: RGGB is "BG".
    demosaiced = cv2.cvtColor(raw8, cv2.COLOR_BayerBG2RGB).astype(np.float32) / 255.0
    out = _linear_to_srgb(demosaiced) * 255.0
    if capture.sharpen > 0:
        soft = cv2.GaussianBlur(out, (0, 0), 1.2)
        out = out + capture.sharpen * (out - soft)
    rgb = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    if capture.jpeg_quality is not None:
        ok, buf = cv2.imencode(".jpg", rgb[..., ::-1],
                               [cv2.IMWRITE_JPEG_QUALITY, int(capture.jpeg_quality)])
        if ok:
            rgb = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()

    corners = project(np.array([[-w_mm / 2, -h_mm / 2], [w_mm / 2, -h_mm / 2],
                                [w_mm / 2, h_mm / 2], [-w_mm / 2, h_mm / 2]]), pose, camera)
    return Frame(rgb=rgb, corners=corners, pose=pose, capture=capture)


def project(points_mm: NDArray[np.float64], pose: Pose, camera: Camera = Camera(),
            ) -> NDArray[np.float64]:
    """Points on the document (mm from its centre, x right, y down) → frame pixels (N×2),
    through the pose and the lens distortion: ground truth for localisation tests."""
    rot = _rotation(pose)
    centre = np.array([pose.offset_mm[0], pose.offset_mm[1], pose.distance_mm])
    pts = np.asarray(points_mm, np.float64)
    world = centre[None, :] + pts[:, :1] * rot[:, 0][None, :] + pts[:, 1:2] * rot[:, 1][None, :]
    x, y = world[:, 0] / world[:, 2], world[:, 1] / world[:, 2]
    xd, yd = _distort(camera, x, y)
    f = camera.f_px
    return np.stack([xd * f + camera.width / 2 - 0.5, yd * f + camera.height / 2 - 0.5], axis=1)


def _mosaic(rgb: NDArray[np.float32]) -> NDArray[np.float32]:
    """RGGB Bayer sampling of a linear RGB image (one channel per photosite)."""
    raw = np.empty(rgb.shape[:2], np.float32)
    raw[0::2, 0::2] = rgb[0::2, 0::2, 0]
    raw[0::2, 1::2] = rgb[0::2, 1::2, 1]
    raw[1::2, 0::2] = rgb[1::2, 0::2, 1]
    raw[1::2, 1::2] = rgb[1::2, 1::2, 2]
    return raw


def _finger(scene: NDArray[np.float32], finger: Finger, dx_mm: NDArray[np.float64],
            dy_mm: NDArray[np.float64], w_mm: float, h_mm: float,
            rng: np.random.Generator) -> NDArray[np.float32]:
    """A fingertip: a capsule from beyond the edge to ``depth_mm`` inside, skin-toned with a
    shaded rim (the finger is round), in the document's plane (it rests on the card)."""
    half_w, half_h = w_mm / 2, h_mm / 2
    at = finger.at - 0.5
    # Tip position and the direction pointing into the document.
    tip, inward = {
        0: ((at * w_mm, -half_h + finger.depth_mm), (0.0, 1.0)),
        1: ((half_w - finger.depth_mm, at * h_mm), (-1.0, 0.0)),
        2: ((at * w_mm, half_h - finger.depth_mm), (0.0, -1.0)),
        3: ((-half_w + finger.depth_mm, at * h_mm), (1.0, 0.0)),
    }[finger.edge % 4]
    ux, uy = inward
    rx, ry = dx_mm - tip[0], dy_mm - tip[1]
    along = -(rx * ux + ry * uy)  # distance back from the tip, towards the outside
    across = rx * -uy + ry * ux
    r = finger.width_mm / 2
    dist = np.where(along >= 0, np.abs(across), np.hypot(across, along))
    # A finger, not an endless pole: about 7 cm of it shows before the hand leaves the frame
    # or the view.
    dist = np.where(along > 70, np.inf, dist)
    mask = dist < r
    if not mask.any():
        return scene
    skin = np.array(rng.choice([(0.62, 0.38, 0.28), (0.45, 0.26, 0.17), (0.72, 0.5, 0.4)]),
                    np.float32)
    shade = np.sqrt(np.clip(1 - (dist / r) ** 2, 0, 1)).astype(np.float32)
    colour = skin[None, None, :] * (0.45 + 0.55 * shade)[..., None]
    return np.where(mask[..., None], colour, scene).astype(np.float32)


def hand_held(rng: np.random.Generator, *, size_mm: tuple[float, float] = ID1_MM,
              camera: Camera = Camera(), upside_down: float = 0.1) -> tuple[Pose, Capture]:
    """A pose and shot conditions as a person holding a card under a desk camera makes them:
    15–35 cm away, tilted up to ~35°, turned up to ±30° (sometimes upside down), the guide box
    only roughly respected, fingers on an edge, a lamp's glare, focus not quite on the card,
    a little shake, noise and white-balance error, JPEG."""
    distance = float(rng.uniform(150, 350))
    # Keep the document mostly in view: the offset a hand allows at this distance.
    half_fov_x = distance * camera.width / 2 / camera.f_px
    half_fov_y = distance * camera.height / 2 / camera.f_px
    slack_x = max(0.0, half_fov_x - size_mm[0] / 2)
    slack_y = max(0.0, half_fov_y - size_mm[1] / 2)
    pose = Pose(
        distance_mm=distance,
        roll_deg=float(rng.uniform(-30, 30)),
        tilt_x_deg=float(rng.normal(0, 14)),
        tilt_y_deg=float(rng.normal(0, 14)),
        offset_mm=(float(rng.uniform(-0.6, 0.6) * slack_x),
                   float(rng.uniform(-0.6, 0.6) * slack_y)),
        flipped=bool(rng.random() < upside_down),
    )
    pose = replace(pose, tilt_x_deg=float(np.clip(pose.tilt_x_deg, -35, 35)),
                   tilt_y_deg=float(np.clip(pose.tilt_y_deg, -35, 35)))
    fingers: tuple[Finger, ...] = ()
    if rng.random() < 0.6:
        fingers = tuple(Finger(edge=int(rng.integers(0, 4)), at=float(rng.uniform(0.2, 0.8)),
                               depth_mm=float(rng.uniform(3, 10)),
                               width_mm=float(rng.uniform(14, 19)))
                        for _ in range(int(rng.integers(1, 3))))
    glare = None
    if rng.random() < 0.4:
        glare = (float(rng.uniform(0.1, 0.9)), float(rng.uniform(0.1, 0.9)),
                 float(rng.uniform(0.3, 1.2)))
    # Fixed-focus or autofocus that settled slightly off: ±25 % of the distance.
    focus = None if rng.random() < 0.3 else distance * float(rng.uniform(0.8, 1.3))
    capture = Capture(
        focus_mm=focus,
        motion_px=float(rng.exponential(1.0)),
        motion_deg=float(rng.uniform(0, 180)),
        exposure=float(rng.uniform(0.6, 1.15)),
        white_balance=(float(rng.uniform(0.85, 1.15)), 1.0, float(rng.uniform(0.85, 1.15))),
        glare=glare,
        light_gradient=float(rng.uniform(0.0, 0.35)),
        fingers=fingers,
        read_noise=float(rng.uniform(1.0, 4.0)),
        shot_noise=float(rng.uniform(0.3, 1.2)),
        sharpen=float(rng.uniform(0.2, 0.8)),
        jpeg_quality=int(rng.integers(60, 95)),
    )
    return pose, capture
