"""The camera's software twin: frames from image files or a video file.

``fps`` paces delivery like a camera (a frame is not handed out before its time; a slow reader
gets the next frame at once, not a backlog); ``fps=None`` delivers as fast as possible.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from station.drivers.camera.base import CameraBase, Frame
from station.errors import CameraError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".pgm", ".ppm", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".mjpeg", ".h264")


def load_luma(path: str | Path) -> NDArray[np.uint8]:
    """An image file as an 8-bit luma array (what a camera's Y plane holds)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("L"), dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise CameraError(f"{Path(path).name}: not a readable image "
                          f"({type(exc).__name__})") from None


class ReplayCamera(CameraBase):
    def __init__(self, source: str | Path | Sequence[str | Path], *, fps: float | None = 30.0,
                 loop: bool = False) -> None:
        if fps is not None and fps <= 0:
            raise ValueError("fps must be > 0 or None")
        self.fps = fps
        self.loop = loop
        self._video: Any = None
        self._closed = False
        self._seq = 0
        self._t0: float | None = None
        if isinstance(source, (str, Path)) and Path(source).is_file() \
                and Path(source).suffix.lower() in VIDEO_SUFFIXES:
            self._video_path = Path(source)
            self._open_video()
            self._frames: Iterator[tuple[NDArray[np.uint8], str]] = self._video_frames()
            return
        paths = self._image_paths(source)
        if not paths:
            raise CameraError(f"{source}: no images to replay")
        self._paths = paths
        self._frames = self._image_frames()

    @staticmethod
    def _image_paths(source: str | Path | Sequence[str | Path]) -> list[Path]:
        if isinstance(source, (str, Path)):
            root = Path(source)
            if root.is_dir():
                return sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not root.exists():
                raise CameraError(f"{root}: does not exist")
            return [root]
        return [Path(p) for p in source]

    def _image_frames(self) -> Iterator[tuple[NDArray[np.uint8], str]]:
        while True:
            for path in self._paths:
                yield load_luma(path), path.name
            if not self.loop:
                return

    def _open_video(self) -> None:
        try:
            import cv2
        except ImportError:
            raise CameraError("replaying a video needs OpenCV "
                              "(pip install 'station[camera]')") from None
        self._cv2: Any = cv2
        self._video = cv2.VideoCapture(str(self._video_path))
        if not self._video.isOpened():
            raise CameraError(f"{self._video_path.name}: cannot open the video")

    def _video_frames(self) -> Iterator[tuple[NDArray[np.uint8], str]]:
        cv2 = self._cv2
        n = 0
        while True:
            ok, image = self._video.read()
            if not ok:
                if self.loop and n:
                    self._video.release()
                    self._open_video()
                    n = 0
                    continue
                return
            n += 1
            y = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
            yield np.asarray(y, dtype=np.uint8), f"{self._video_path.name}#{n}"

    def read(self) -> Frame | None:
        if self._closed:
            return None
        try:
            y, label = next(self._frames)
        except StopIteration:
            return None
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now
        elif self.fps is not None:
            due = self._t0 + self._seq / self.fps
            if due > now:
                time.sleep(due - now)
                now = due
            else:
                # Behind schedule: a camera would not wait for us, so re-anchor the clock.
                self._t0 = now - self._seq / self.fps
        frame = Frame(y, self._seq, now, label)
        self._seq += 1
        return frame

    def close(self) -> None:
        self._closed = True
        if self._video is not None:
            self._video.release()
            self._video = None
