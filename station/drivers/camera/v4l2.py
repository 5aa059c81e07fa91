"""USB/V4L2 cameras through OpenCV (``pip install 'station[camera]'``), imported lazily.

The camera is asked for YUYV with OpenCV's RGB conversion off, so the luma plane is a strided
view of the raw frame (every other byte) — no colour conversion. Cameras that only offer MJPEG
are decoded straight to greyscale. The driver queue is one buffer deep: a frame is the newest
one, never a backlog.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from station.drivers.camera.base import CameraBase, Frame
from station.errors import CameraError

if TYPE_CHECKING:
    from station.config import CameraSection


class V4l2Camera(CameraBase):
    def __init__(self, section: CameraSection) -> None:
        try:
            import cv2 as _cv2
        except ImportError:
            raise CameraError("V4L2 cameras need OpenCV (pip install 'station[camera]')") \
                from None
        cv2: Any = _cv2
        self._cv2 = cv2
        self.device = section.path or "/dev/video0"
        cap = cv2.VideoCapture(self.device, cv2.CAP_V4L2)
        if not cap.isOpened():
            raise CameraError(f"{self.device}: cannot open the V4L2 device")
        cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"YUYV"))
        cap.set(cv2.CAP_PROP_CONVERT_RGB, 0)
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, section.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, section.height)
        cap.set(cv2.CAP_PROP_FPS, section.fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        exposure_us = section.exposure_us
        if exposure_us:
            # V4L2 exposure_time_absolute counts 100 µs; auto_exposure 1 = manual mode.
            cap.set(cv2.CAP_PROP_AUTO_EXPOSURE, 1)
            cap.set(cv2.CAP_PROP_EXPOSURE, max(1, exposure_us // 100))
        if section.autofocus:
            cap.set(cv2.CAP_PROP_AUTOFOCUS, 1)
        self._cap: Any = cap
        self._seq = 0

    def read(self) -> Frame | None:
        if self._cap is None:
            return None
        ok, raw = self._cap.read()
        if not ok:
            raise CameraError(f"{self.device}: stopped delivering frames")
        now = time.monotonic()
        if raw.ndim == 3 and raw.shape[2] == 2:
            y = raw[:, :, 0]  # YUYV: Y at every even byte — a view
        elif raw.ndim == 3:
            y = self._cv2.cvtColor(raw, self._cv2.COLOR_BGR2GRAY)
        elif raw.ndim == 2 and raw.shape[0] == 1:
            y = self._cv2.imdecode(raw, self._cv2.IMREAD_GRAYSCALE)  # MJPEG-only cameras
            if y is None:
                raise CameraError(f"{self.device}: undecodable MJPEG frame")
        else:
            y = raw
        frame = Frame(np.asarray(y, dtype=np.uint8), self._seq, now, self.device)
        self._seq += 1
        return frame

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
