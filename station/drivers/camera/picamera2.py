"""The Raspberry Pi camera through picamera2 (libcamera), imported lazily (absent on x86).

Two YUV420 streams: ``main`` at full HD (kept for whoever wants a sharper still, e.g. MRZ
reading) and ``lores`` at the configured size, which is what the QR decoder reads: its Y plane is
the first ``height`` rows of the mapped buffer, handed over as a view — no copy, no colour
conversion. The request stays with the frame until :meth:`Frame.release`; with six buffers the
camera keeps running while one is being decoded.

Exposure is fixed and short (``exposure_us``) against motion blur of a hand-held card; gain stays
automatic. Autofocus runs continuously where the module has it (Camera Module 3).
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from station.drivers.camera.base import CameraBase, Frame
from station.errors import CameraError

if TYPE_CHECKING:
    from station.config import CameraSection

BUFFERS = 6
_AF_CONTINUOUS = 2  # libcamera controls::AfModeContinuous
_AF_SPEED_FAST = 1  # libcamera controls::AfSpeedFast


class Picamera2Camera(CameraBase):
    def __init__(self, section: CameraSection, *, camera_num: int = 0) -> None:
        try:
            from picamera2 import MappedArray, Picamera2
        except ImportError:
            raise CameraError("picamera2 is not installed (Raspberry Pi OS: apt install "
                              "python3-picamera2, venv with --system-site-packages)") from None
        self._mapped: Any = MappedArray
        self.size = (section.width, section.height)
        try:
            cam: Any = Picamera2(camera_num)
            main = (max(section.width, 1920), max(section.height, 1080))
            controls: dict[str, Any] = {"FrameRate": float(section.fps)}
            exposure_us = section.exposure_us
            if exposure_us:
                controls["ExposureTime"] = int(exposure_us)
            if section.autofocus and "AfMode" in cam.camera_controls:
                controls["AfMode"] = _AF_CONTINUOUS
                controls["AfSpeed"] = _AF_SPEED_FAST
            config = cam.create_video_configuration(
                main={"size": main, "format": "YUV420"},
                lores={"size": self.size, "format": "YUV420"},
                buffer_count=BUFFERS, controls=controls, queue=False,
            )
            cam.configure(config)
            cam.start()
        except Exception as exc:  # libcamera raises RuntimeError/IndexError/... on no camera
            raise CameraError(f"camera {camera_num}: cannot start ({type(exc).__name__})") \
                from None
        self._cam: Any = cam
        self._seq = 0

    def read(self) -> Frame | None:
        if self._cam is None:
            return None
        try:
            request = self._cam.capture_request()
        except Exception as exc:
            raise CameraError(f"camera stopped delivering frames ({type(exc).__name__})") \
                from None
        stack = contextlib.ExitStack()
        stack.callback(request.release)
        mapped = stack.enter_context(self._mapped(request, "lores"))
        w, h = self.size
        y = mapped.array[:h, :w]  # YUV420: the Y plane comes first; columns past w are stride
        frame = Frame(np.asarray(y, dtype=np.uint8), self._seq, time.monotonic(), "picamera2",
                      stack.close)
        self._seq += 1
        return frame

    def close(self) -> None:
        if self._cam is not None:
            with contextlib.suppress(Exception):
                self._cam.stop()
            self._cam.close()
            self._cam = None
