"""The QR watch: the camera and the QR decoder (``station.qr.scanner``) as session events.

Every new, valid CCCD payload in view becomes :class:`QrSeen` with its chip keys and subject;
a QR that is not a CCCD payload is logged by its error type and ignored. The camera is opened
when the watch starts; a camera error ends the watch, and the runtime's supervisor reopens it
with exponential backoff. The watch beats only while frames keep arriving, so a wedged camera
(frames stop without an error) is restarted too; a replay source that simply ends is not an
error — the watch then idles, beating, until stopped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from station.drivers.camera import Camera
from station.errors import CameraError
from station.log import event
from station.qr.decode import QrDecoder
from station.qr.scanner import QrEvent, Scanner
from station.service import machine as m
from station.service.chip import DeskKeys
from station.service.ports import Post

log = logging.getLogger(__name__)


class QrWatch:
    name = "qr"

    def __init__(self, open_camera: Callable[[], Camera],
                 decoder: Callable[[], QrDecoder] = QrDecoder, *, stall_s: float = 3.0,
                 debounce_s: float = 3.0) -> None:
        self.open_camera = open_camera
        self.decoder = decoder
        self.stall_s = stall_s
        self.debounce_s = debounce_s

    def _on_event(self, post: Post, ev: QrEvent) -> None:
        if ev.payload is None:
            event(log, "qr.not_cccd", error=type(ev.error).__name__ if ev.error else "text")
            return
        keys, subject = DeskKeys.from_qr(ev.payload)
        event(log, "qr.seen", frame=ev.frame, ms=round(ev.ms, 1))
        post(m.QrSeen(keys, subject))

    def run(self, post: Post, beat: Callable[[], None], stop: threading.Event) -> None:
        try:
            camera = self.open_camera()
        except CameraError as exc:
            event(log, "qr.camera_unavailable", logging.WARNING, error=str(exc))
            raise
        scanner = Scanner(camera, self.decoder(), lambda ev: self._on_event(post, ev),
                          debounce_s=self.debounce_s)
        scanner.start()
        try:
            frames, moved = -1, time.monotonic()
            while not stop.is_set():
                if scanner.stats.frames != frames:
                    frames, moved = scanner.stats.frames, time.monotonic()
                if scanner.wait(0):
                    if scanner.error is not None:
                        raise scanner.error  # the supervisor reopens the camera, with backoff
                    beat()  # a replayed source that ended: nothing more to see
                elif time.monotonic() - moved < self.stall_s:
                    beat()
                stop.wait(0.2)
        finally:
            scanner.stop()
            camera.close()
