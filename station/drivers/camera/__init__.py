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

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from station.config import CameraSection


@dataclass(frozen=True, eq=False)
class Frame:
    y: NDArray[np.uint8]
    """H×W luma; may be a strided view into the camera's buffer (valid until release())."""
    seq: int
    """Frame number from the start of capture (gaps = frames the camera dropped)."""
    t: float
    """time.monotonic() when the frame was captured."""
    label: str = ""
    """Where it came from (replay: the file name); never shown with citizen data."""
    _release: Callable[[], None] | None = field(default=None, repr=False)
    _released: threading.Event = field(default_factory=threading.Event, repr=False)

    def release(self) -> None:
        """Give the buffer back to the camera (idempotent)."""
        if not self._released.is_set():
            self._released.set()
            if self._release is not None:
                self._release()


class Camera(Protocol):
    """What the scanner needs from a camera."""

    def read(self) -> Frame | None:
        """The next frame (blocks at most about a frame interval), or None once the source has
        ended or the camera was closed."""
        ...

    def close(self) -> None:
        """Stop capture and free the device (idempotent)."""
        ...


class CameraBase:
    """Context-manager plumbing shared by the backends."""

    def close(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def __enter__(self) -> CameraBase:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def open_camera(section: CameraSection) -> Camera:
    """The camera a ``[camera]`` configuration section describes."""
    from station.errors import CameraError

    if section.source == "replay":
        from station.drivers.camera.replay import ReplayCamera

        return ReplayCamera(section.path, fps=float(section.fps))
    if section.source == "v4l2":
        from station.drivers.camera.v4l2 import V4l2Camera

        return V4l2Camera(section)
    if section.source == "picamera2":
        from station.drivers.camera.picamera2 import Picamera2Camera

        return Picamera2Camera(section)
    raise CameraError("no camera configured (camera.source = 'none')")
