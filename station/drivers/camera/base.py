"""The camera protocol and what every backend shares: :class:`Frame` (the luma plane the
decoders read, possibly borrowing the camera's buffer until :meth:`Frame.release`),
:class:`Camera` and :class:`CameraBase`."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol

import numpy as np
from numpy.typing import NDArray


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
