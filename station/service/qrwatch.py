"""The QR watch: the camera and the QR decoder (``station.qr.scanner``) as session events.

Every new, valid CCCD payload in view becomes :class:`QrSeen` with its chip keys and subject;
a QR that is not a CCCD payload is logged by its error type and ignored. The camera is opened
when the watch starts; a camera error ends the watch, and the runtime's supervisor reopens it
with exponential backoff. The watch beats only while frames keep arriving, so a wedged camera
(frames stop without an error) is restarted too; a replay source that simply ends is not an
error — the watch then idles, beating, until stopped.

Unless ``[profile] mrz_fallback`` is off, the same frames are also searched for a document's
machine-readable zone (:class:`MrzLookout`) — a CCCD's TD1 MRZ gives the BAC/PACE-MRZ key when
its QR is damaged or missing: only when no QR is in view, and at most
one MRZ attempt per ``mrz_interval_s`` (and never more often than twice its own duration), so
QR decoding keeps its frame budget. An MRZ comes out of :func:`station.mrz.ocr.read_mrz` only
when every check digit passed, so a misread never reaches a chip as a key; one that passed only
after OCR repair is taken once a second attempt gives the same key
(:class:`station.mrz.scan.KeyVote`). It becomes :class:`~station.service.machine.MrzSeen` with
BAC/PACE-MRZ keys, once per document in view.
Only a desk that takes foreign guests (lodging) accepts other documents than a CCCD (TD1 issued
by VNM); elsewhere one is refused with an ``mrz.not_cccd`` event (its format, no data) and
nothing is read.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from station.drivers.camera import Camera
from station.errors import CameraError, MrzError
from station.log import event
from station.mrz.ocr import prepare, read_mrz
from station.mrz.scan import KeyVote
from station.qr.cccd import is_cccd_mrz as is_cccd
from station.qr.decode import Decoded, Luma, QrDecoder
from station.qr.scanner import Debouncer, QrEvent, Scanner
from station.service import machine as m
from station.service.ports import Post
from station.service.readings import DeskKeys

log = logging.getLogger(__name__)


class MrzLookout(QrDecoder):
    """A QR decoder that, on frames without a QR, looks for an MRZ now and then."""

    def __init__(self, post: Post, *, interval_s: float = 0.5, debounce_s: float = 3.0,
                 clock: Callable[[], float] = time.monotonic, foreign: bool = True) -> None:
        """``foreign``: take any ICAO document (lodging); otherwise only a CCCD's MRZ."""
        super().__init__()

        prepare()  # render the glyph templates now, not on the first frame
        self.post = post
        self.interval_s = interval_s
        self.clock = clock
        self.foreign = foreign
        self.debouncer = Debouncer(debounce_s, clock)

        # Two lookouts (0.5 s apart at least, twice a read's time) fit in the vote's window.
        self.vote = KeyVote(window=max(2.0, 4 * interval_s))
        self._next = 0.0
        self.attempts = 0

    def decode_all(self, y: Luma) -> tuple[Decoded, ...]:
        found = super().decode_all(y)
        if not found and self.clock() >= self._next:
            self._look(y)
        return found

    def _look(self, y: Luma) -> None:
        t0 = self.clock()
        self.attempts += 1
        try:
            document = read_mrz(y)
        except MrzError as exc:
            if exc.field != "zone":  # a zone seen but refused by a check digit: worth a line
                event(log, "mrz.refused", field=exc.field)
            document = None
        spent = self.clock() - t0
        self._next = self.clock() + max(self.interval_s, 2 * spent)
        if document is not None and not self.vote.offer(document.key_information(),
                                                        document.corrected, self.clock()):
            return  # repaired by check digits: taken once a second frame gives the same key
        if document is None or not self.debouncer.is_new(document.text.encode()):
            return
        if not (self.foreign or is_cccd(document)):
            # Not a document this desk takes: said once per document in view, without its data.
            event(log, "mrz.not_cccd", format=document.format)
            return
        keys, subject = DeskKeys.from_mrz(document)
        event(log, "mrz.seen", format=document.format, ms=round(spent * 1000, 1))
        self.post(m.MrzSeen(keys, subject))


class QrWatch:
    name = "qr"

    def __init__(self, open_camera: Callable[[], Camera],
                 decoder: Callable[[], QrDecoder] = QrDecoder, *, stall_s: float = 3.0,
                 debounce_s: float = 3.0, mrz: bool = False, mrz_foreign: bool = False
                 ) -> None:
        """``mrz``: also read documents' MRZs (:class:`MrzLookout`); ``mrz_foreign``: any
        ICAO document's, not only a CCCD's."""
        self.open_camera = open_camera
        self.decoder = decoder
        self.stall_s = stall_s
        self.debounce_s = debounce_s
        self.mrz = mrz
        self.mrz_foreign = mrz_foreign

    def _on_event(self, post: Post, ev: QrEvent) -> None:
        if ev.payload is None:
            event(log, "qr.not_cccd", error=type(ev.error).__name__ if ev.error else "text")
            return
        keys, subject = DeskKeys.from_qr(ev.payload)
        event(log, "qr.seen", frame=ev.frame, ms=round(ev.ms, 1))
        post(m.QrSeen(keys, subject))

    def scanner(self, camera: Camera, post: Post) -> Scanner:
        """The scanner this watch runs on ``camera`` (not started): its decoder (the MRZ
        lookout when ``mrz``) and events posted as session events."""
        decoder = MrzLookout(post, foreign=self.mrz_foreign) if self.mrz else self.decoder()
        return Scanner(camera, decoder, lambda ev: self._on_event(post, ev),
                       debounce_s=self.debounce_s)

    def run(self, post: Post, beat: Callable[[], None], stop: threading.Event) -> None:
        try:
            camera = self.open_camera()
        except CameraError as exc:
            event(log, "qr.camera_unavailable", logging.WARNING, error=str(exc))
            raise
        scanner = self.scanner(camera, post)
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
