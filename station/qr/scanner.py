"""Live scanning: capture on one thread, decode on another, one event per card shown.

Capture never waits for decoding: the decoder takes the newest frame; a frame that arrives while
the decoder is busy replaces the one waiting (which is released back to the camera) — frames are
dropped, never queued. At 30 fps the decode budget is 70 % of the frame interval (≈ 23 ms on a
Raspberry Pi 4; ``station bench qr`` measures a frame's decoding, ``station bench live``
the share of frames examined).

A card held in view for several seconds is one event, not thirty: :class:`Debouncer` suppresses a
payload seen again within ``debounce_s`` of its last sighting. Each symbol of a frame that holds
several is its own event.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from station import log as slog
from station.drivers.camera import Camera, Frame
from station.errors import CameraError, QrFormatError
from station.qr import cccd
from station.qr.decode import QrDecoder

_log = logging.getLogger(__name__)


@dataclass(frozen=True, repr=False)
class QrEvent:
    """A QR newly in view: its exact text and the validated payload, or why it is not one."""

    data: bytes
    raw: str | None
    """The decoded text (None when not UTF-8)."""
    payload: cccd.CccdPayload | None
    error: QrFormatError | None
    frame: int
    ms: float
    """Decoding time of the frame that produced the event."""

    def __repr__(self) -> str:  # citizen data stays out of logs
        return f"QrEvent(frame={self.frame}, ok={self.payload is not None}, ms={self.ms:.1f})"


def qr_event(data: bytes, frame: int = 0, ms: float = 0.0) -> QrEvent:
    """Decode and validate the bytes of a QR symbol into an event."""
    try:
        raw = data.decode("utf-8")
    except UnicodeDecodeError:
        return QrEvent(data, None, None, QrFormatError("payload", "is not valid UTF-8"), frame,
                       ms)
    try:
        return QrEvent(data, raw, cccd.parse(raw), None, frame, ms)
    except QrFormatError as exc:
        return QrEvent(data, raw, None, exc, frame, ms)


class Debouncer:
    """Says whether a payload is new: not seen within ``window_s`` of its last sighting."""

    def __init__(self, window_s: float = 3.0, clock: Callable[[], float] = time.monotonic,
                 ) -> None:
        self.window_s = window_s
        self._clock = clock
        self._last: dict[bytes, float] = {}

    def is_new(self, data: bytes) -> bool:
        now = self._clock()
        # Forget what has been out of view long enough (keeps the dict small).
        self._last = {k: t for k, t in self._last.items() if now - t <= self.window_s}
        new = data not in self._last
        self._last[data] = now
        return new


@dataclass
class ScanStats:
    frames: int = 0
    decoded_frames: int = 0
    dropped: int = 0
    events: int = 0


class Scanner:
    """Runs a camera and a decoder; calls ``on_event`` (on the decoder thread) per new QR."""

    def __init__(self, camera: Camera, decoder: QrDecoder, on_event: Callable[[QrEvent], None],
                 *, debounce_s: float = 3.0) -> None:
        self.camera = camera
        self.decoder = decoder
        self.on_event = on_event
        self.debouncer = Debouncer(debounce_s)
        self.stats = ScanStats()
        self.error: CameraError | None = None
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._waiting: Frame | None = None
        self._ended = False
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._capture, name="qr-capture", daemon=True),
                         threading.Thread(target=self._decode, name="qr-decode", daemon=True)]

    def start(self) -> Scanner:
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            self._ended = True
            self._ready.notify_all()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout=5)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the source has ended and the last frame is decoded; True if it has."""
        self._threads[1].join(timeout)
        return not self._threads[1].is_alive()

    def _capture(self) -> None:
        try:
            while not self._stop.is_set():
                frame = self.camera.read()
                if frame is None:
                    break
                with self._lock:
                    self.stats.frames += 1
                    if self._waiting is not None:  # decoder busy: newest frame wins
                        self._waiting.release()
                        self.stats.dropped += 1
                    self._waiting = frame
                    self._ready.notify()
        except CameraError as exc:
            self.error = exc
            slog.event(_log, "qr.camera_failed", logging.ERROR, error=str(exc))
        finally:
            with self._lock:
                self._ended = True
                self._ready.notify_all()

    def _decode(self) -> None:
        while True:
            with self._lock:
                while self._waiting is None and not self._ended:
                    self._ready.wait()
                frame, self._waiting = self._waiting, None
                if frame is None:
                    return
            try:
                found = self.decoder.decode_all(frame.y)
            finally:
                frame.release()
            self.stats.decoded_frames += 1
            # Every symbol in view, each new one an event: a second QR (a sticker on the desk)
            # read first must not hide the card's.
            for symbol in found:
                if self.debouncer.is_new(symbol.data):
                    self.stats.events += 1
                    self.on_event(qr_event(symbol.data, frame.seq, symbol.ms))
