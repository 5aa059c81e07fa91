"""The desk camera model: geometry that matches the pinhole + lens it claims, reproducible
frames, and a card it photographs in good conditions is readable by the library's defaults."""

from __future__ import annotations

import numpy as np
import pytest

from station.bench import deskcam, documents

PAYLOAD = "079123456789|123456789|Nguyễn Văn An|01011990|Nam|Hà Nội|01012021".encode()


def test_flat_card_on_axis_projects_to_its_physical_size() -> None:
    cam = deskcam.Camera(k1=0, k2=0, p1=0, p2=0)
    corners = deskcam.project(np.array([[-42.8, -27.0], [42.8, -27.0], [42.8, 27.0],
                                        [-42.8, 27.0]]), deskcam.Pose(distance_mm=200), cam)
    width = corners[1, 0] - corners[0, 0]
    assert width == pytest.approx(cam.f_px * 85.6 / 200, rel=1e-9)
    assert corners.mean(axis=0) == pytest.approx([cam.width / 2 - 0.5, cam.height / 2 - 0.5])


def test_barrel_distortion_pulls_off_axis_points_inward() -> None:
    pose = deskcam.Pose(distance_mm=150, offset_mm=(60.0, 30.0))
    ideal = deskcam.project(np.zeros((1, 2)), pose, deskcam.Camera(k1=0, k2=0, p1=0, p2=0))
    real = deskcam.project(np.zeros((1, 2)), pose, deskcam.Camera())
    centre = np.array([639.5, 359.5])
    assert np.linalg.norm(real - centre) < np.linalg.norm(ideal - centre)


def test_tilt_foreshortens_and_roll_turns() -> None:
    tilted = deskcam.project(np.array([[0, -27.0], [0, 27.0]]),
                             deskcam.Pose(tilt_x_deg=30), deskcam.Camera())
    flat = deskcam.project(np.array([[0, -27.0], [0, 27.0]]), deskcam.Pose(), deskcam.Camera())
    assert abs(tilted[1, 1] - tilted[0, 1]) < 0.92 * abs(flat[1, 1] - flat[0, 1])
    rolled = deskcam.project(np.array([[42.8, 0.0]]), deskcam.Pose(roll_deg=90),
                             deskcam.Camera(k1=0, k2=0, p1=0, p2=0))
    assert rolled[0, 0] == pytest.approx(639.5, abs=1e-6) and rolled[0, 1] > 359.5


def test_render_is_reproducible_from_its_seed_and_the_card_lands_where_projected() -> None:
    card = documents.cccd_front(PAYLOAD, np.random.default_rng(3))
    pose, capture = deskcam.hand_held(np.random.default_rng(5))
    a = deskcam.render(card, pose=pose, capture=capture, rng=np.random.default_rng(9))
    b = deskcam.render(card, pose=pose, capture=capture, rng=np.random.default_rng(9))
    assert a.rgb.shape == (720, 1280, 3) and a.rgb.dtype == np.uint8
    assert np.array_equal(a.rgb, b.rgb)
    # A white card lands inside its projected corners; the desk around it is darker.
    pose = deskcam.Pose(distance_mm=250, roll_deg=20, tilt_y_deg=15, offset_mm=(30.0, 10.0))
    white = np.full((540, 856, 3), 245, np.uint8)
    frame = deskcam.render(white, pose=pose, rng=np.random.default_rng(1))
    y = deskcam.luma(frame.rgb).astype(float)
    c = frame.corners
    inner = (0.8 * c + 0.2 * c.mean(axis=0)).round().astype(int)  # 20 % in from each corner
    outer = (1.3 * c - 0.3 * c.mean(axis=0)).round().astype(int)
    assert min(y[r, q] for q, r in inner) > max(y[r, q] for q, r in outer) + 30


def test_a_sharp_close_card_reads_with_zxing_defaults() -> None:
    zxingcpp = pytest.importorskip("zxingcpp")
    card = documents.cccd_front(PAYLOAD, np.random.default_rng(1))
    frame = deskcam.render(card, pose=deskcam.Pose(distance_mm=150, roll_deg=10,
                                                   tilt_x_deg=10, offset_mm=(-20.0, 0.0)),
                           capture=deskcam.Capture(), rng=np.random.default_rng(2))
    found = zxingcpp.read_barcodes(deskcam.luma(frame.rgb),
                                   formats=zxingcpp.BarcodeFormat.QRCode)
    assert [bytes(b.bytes) for b in found] == [PAYLOAD]


def test_defocus_and_shake_destroy_what_a_sharp_shot_keeps() -> None:
    card = documents.cccd_front(PAYLOAD, np.random.default_rng(1))
    pose = deskcam.Pose(distance_mm=150)
    sharp = deskcam.render(card, pose=pose, capture=deskcam.Capture(jpeg_quality=None),
                           rng=np.random.default_rng(2))
    blurred = deskcam.render(card, pose=pose, capture=deskcam.Capture(
        focus_mm=60, motion_px=6, jpeg_quality=None), rng=np.random.default_rng(2))
    assert deskcam.defocus_radius_px(deskcam.Camera(), 150, 60) > 3

    def detail(rgb: np.ndarray) -> float:
        g = deskcam.luma(rgb).astype(np.float64)
        return float(np.abs(np.diff(g, axis=1)).mean())

    assert detail(blurred.rgb) < 0.7 * detail(sharp.rgb)


def test_rejects_a_grey_document() -> None:
    with pytest.raises(ValueError, match="RGB"):
        deskcam.render(np.zeros((10, 10), np.uint8))
