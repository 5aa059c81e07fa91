"""One contract, every camera backend present on this machine (replay always)."""

from __future__ import annotations

import importlib.util
import itertools
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from station.config import CameraSection
from station.drivers.camera import Camera, open_camera
from station.drivers.camera.replay import ReplayCamera
from station.errors import CameraError

N = 4


def _images(tmp: Path) -> list[Path]:
    paths = []
    for i in range(N):
        p = tmp / f"f{i}.png"
        Image.fromarray(np.full((72, 128), 40 * i, np.uint8)).save(p)
        paths.append(p)
    return paths


def _video(tmp: Path) -> Path:
    cv2 = pytest.importorskip("cv2")
    path = tmp / "clip.avi"
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (128, 72))
    for i in range(N):
        out.write(np.full((72, 128, 3), 40 * i, np.uint8))
    out.release()
    return path


def _present(module: str, device: str | None = None) -> bool:
    return importlib.util.find_spec(module) is not None and (
        device is None or Path(device).exists())


SOURCES: dict[str, Callable[[Path], Camera]] = {
    "replay-dir": lambda tmp: (_images(tmp), ReplayCamera(tmp, fps=None))[1],
    "replay-list": lambda tmp: ReplayCamera(_images(tmp), fps=None),
    "replay-video": lambda tmp: ReplayCamera(_video(tmp), fps=None),
    "picamera2": lambda tmp: open_camera(CameraSection(source="picamera2")),
    "v4l2": lambda tmp: open_camera(CameraSection(source="v4l2", path="/dev/video0")),
}
FINITE = {"replay-dir", "replay-list", "replay-video"}
PRESENT = {"picamera2": _present("picamera2"), "v4l2": _present("cv2", "/dev/video0")}


@pytest.mark.parametrize("kind", list(SOURCES))
def test_camera_contract(kind: str, tmp_path: Path) -> None:
    if not PRESENT.get(kind, True):
        pytest.skip(f"no {kind} camera on this machine")
    camera = SOURCES[kind](tmp_path)
    frames = []
    try:
        for _ in range(N):
            frame = camera.read()
            assert frame is not None
            assert frame.y.ndim == 2 and frame.y.dtype == np.uint8 and frame.y.size > 0
            frames.append(frame)
            frame.release()
            frame.release()  # idempotent
        assert [f.seq for f in frames] == sorted({f.seq for f in frames})
        assert all(a.t <= b.t for a, b in itertools.pairwise(frames))
        if kind in FINITE:
            assert camera.read() is None  # the source has ended
            # The frames are the recorded ones, in order (MJPEG is lossy: approximately).
            means = [float(f.y.mean()) for f in frames]
            assert means == pytest.approx([40.0 * i for i in range(N)], abs=3)
    finally:
        camera.close()
        camera.close()
    assert camera.read() is None


def test_replay_paces_frames_like_a_camera(tmp_path: Path) -> None:
    camera = ReplayCamera(_images(tmp_path), fps=20)
    t0 = time.monotonic()
    frames = [camera.read() for _ in range(N)]
    elapsed = time.monotonic() - t0
    assert all(f is not None for f in frames)
    assert elapsed >= (N - 1) / 20 - 0.005


def test_replay_loops(tmp_path: Path) -> None:
    camera = ReplayCamera(_images(tmp_path), fps=None, loop=True)
    assert sum(camera.read() is not None for _ in range(3 * N)) == 3 * N


def test_replay_errors_are_typed(tmp_path: Path) -> None:
    with pytest.raises(CameraError):
        ReplayCamera(tmp_path / "missing")
    with pytest.raises(CameraError):
        ReplayCamera(tmp_path)  # empty directory
    (tmp_path / "bad.png").write_bytes(b"not an image")
    camera = ReplayCamera(tmp_path, fps=None)
    with pytest.raises(CameraError) as e:
        camera.read()
    assert "bad.png" in str(e.value)


def test_backends_absent_here_fail_with_a_typed_error() -> None:
    if not PRESENT["picamera2"]:
        with pytest.raises(CameraError):
            open_camera(CameraSection(source="picamera2"))
    with pytest.raises(CameraError):
        open_camera(CameraSection(source="none"))
