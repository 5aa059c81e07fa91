"""Cameras: one small protocol, three backends.

- ``picamera2.py``: the Raspberry Pi camera (libcamera), YUV420 stream, Y plane without copies.
- ``v4l2.py``: USB/V4L2 cameras through OpenCV (the ``camera`` extra).
- ``replay.py``: the software twin — a directory of images, a list of files or a video file,
  frame-paced or as fast as possible (tests, the demo, the benchmark).

A :class:`Frame` holds the luma plane the QR decoder reads. A frame may borrow the camera's
buffer: whoever reads it calls :meth:`Frame.release` when done (the picamera2 buffer goes back to
the camera then). Capture never waits on decoding: see ``station.qr.scanner``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from station.drivers.camera.base import Camera, CameraBase, Frame
from station.errors import CameraError

if TYPE_CHECKING:
    from station.config import CameraSection

__all__ = ["Camera", "CameraBase", "Frame", "open_camera"]


def open_camera(section: CameraSection) -> Camera:
    """The camera a ``[camera]`` configuration section describes. Each backend is imported
    only when chosen: picamera2 (libcamera) and OpenCV are optional, platform-bound
    dependencies."""
    if section.source == "replay":
        from station.drivers.camera.replay import ReplayCamera  # deferred: PIL, OpenCV for video

        return ReplayCamera(section.path, fps=float(section.fps))
    if section.source == "v4l2":
        from station.drivers.camera.v4l2 import V4l2Camera  # deferred: OpenCV (camera extra)

        return V4l2Camera(section)
    if section.source == "picamera2":
        from station.drivers.camera.picamera2 import Picamera2Camera  # deferred: libcamera (Pi)

        return Picamera2Camera(section)
    raise CameraError("no camera configured (camera.source = 'none')")
