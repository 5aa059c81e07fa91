"""Camera errors: the QR watch dies on a CameraError and the runtime's supervisor reopens the
camera with growing delays; a QR shown once the camera works again still reaches the machine.

The supervisor's clock is the test's (``Service(clock=...)``), and the test calls the supervision
pass itself at chosen instants, so the delays are asserted exactly — no wall-clock timing. Real
threads run the watch, the scanner and the zxing decoder on a synthetic CCCD QR image."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

from station.drivers.camera import Frame
from station.errors import CameraError
from station.qr.decode import QrDecoder
from station.service import machine as m
from station.service.qrwatch import QrWatch
from station.service.runtime import BACKOFF_MAX_S, Notifier, Service, backoff_delay
from station.sim import qrimage

PAYLOAD = qrimage.synthetic_payload(11)


class ScriptedCamera:
    """A camera twin: gives ``frames`` in turn, then fails (``fail``) or ends; with ``hold`` it
    keeps giving a blank frame until the test sets ``hold`` and only then fails."""

    def __init__(self, frames: list[np.ndarray], *, fail: bool,
                 hold: threading.Event | None = None) -> None:
        self.frames = list(frames)
        self.fail = fail
        self.hold = hold
        self.seq = 0
        self.closed = False

    def read(self) -> Frame | None:
        if self.closed:
            return None
        if self.frames:
            self.seq += 1
            return Frame(self.frames.pop(0), self.seq, time.monotonic())
        if self.hold is not None and not self.hold.wait(0.05):
            self.seq += 1
            return Frame(np.full((48, 64), 90, np.uint8), self.seq, time.monotonic())
        if self.fail:
            raise CameraError("camera: device went away (synthetic)")
        return None

    def close(self) -> None:
        self.closed = True


class Opener:
    """open_camera for the watch: each open takes the next step of a script; a step that is an
    exception is raised, as ``open_camera`` raises when the device is missing."""

    def __init__(self, steps: list[ScriptedCamera | CameraError]) -> None:
        self.steps = steps
        self.opens = 0

    def __call__(self) -> ScriptedCamera:
        step = self.steps[self.opens]
        self.opens += 1
        if isinstance(step, CameraError):
            raise step
        return step


class Nothing:
    """The ports this test never reaches (no card is tapped)."""

    def read(self, *_: object) -> tuple[object, str]:
        raise AssertionError("no card in this test")

    def verify(self, reading: object) -> tuple[m.Outcome, object]:
        raise AssertionError("no card in this test")

    def assemble(self, verified: object, outcome: m.Outcome) -> object:
        raise AssertionError("no card in this test")

    def store(self, reading: object) -> str:
        raise AssertionError("no card in this test")

    def has_room(self) -> bool:
        return True

    def show(self, session: m.Session) -> None:
        pass

    def refused(self) -> None:
        pass

    def close(self) -> None:
        pass


def until(cond: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_backoff_schedule() -> None:
    assert [backoff_delay(n) for n in range(8)] == [1, 2, 4, 8, 16, BACKOFF_MAX_S,
                                                   BACKOFF_MAX_S, BACKOFF_MAX_S]


def test_camera_errors_reopen_with_backoff_and_qr_still_reaches_the_machine() -> None:
    hold = threading.Event()
    qr = qrimage.render(PAYLOAD, "clean", seed=11)
    opener = Opener([
        CameraError("camera: not found (synthetic)"),       # open 1: device missing
        CameraError("camera: busy (synthetic)"),            # open 2: still missing
        ScriptedCamera([np.full((48, 64), 90, np.uint8)], fail=True),  # open 3: dies mid-stream
        ScriptedCamera([qr, qr], fail=True, hold=hold),     # open 4: works, then fails on cue
        ScriptedCamera([qr], fail=False),                   # open 5: works
    ])
    now = [0.0]
    nothing = Nothing()
    svc = Service(m.Rules(), watches=[QrWatch(opener, lambda: QrDecoder("zxing"),
                                              debounce_s=60)],
                  chip=nothing, verifier=nothing, assemble=nothing.assemble, store=nothing,
                  feedback=nothing,
                  notifier=Notifier(environ={}), clock=lambda: now[0], beat_timeout_s=5.0,
                  backoff_reset_s=60.0)
    sv = svc._watches[0]

    def supervise_at(t: float) -> bool:
        now[0] = t
        return svc._supervise(t)

    def died() -> None:
        assert sv.thread is not None
        sv.thread.join(20)
        assert not sv.thread.is_alive()

    try:
        assert supervise_at(0.0) is False  # first start: open 1 raises
        died()
        assert supervise_at(0.5) is False and sv.delays == [1.0]
        assert opener.opens == 1  # not reopened before its delay is up
        supervise_at(1.5)  # restart 1: open 2 raises
        assert opener.opens == 2
        died()
        supervise_at(1.6)
        assert sv.delays == [1.0, 2.0]
        supervise_at(3.5)
        assert opener.opens == 2
        supervise_at(3.6)  # restart 2: open 3 gives a frame, then a CameraError mid-stream
        assert opener.opens == 3
        died()
        supervise_at(3.7)
        assert sv.delays == [1.0, 2.0, 4.0]
        supervise_at(7.7)  # restart 3: open 4 works
        assert opener.opens == 4

        ev = svc.events.get(timeout=20)
        assert isinstance(ev, m.QrSeen)
        svc.machine.handle(ev)
        assert svc.machine.session.phase is m.Phase.WAITING
        assert supervise_at(7.8) is True

        # Healthy (beating) for backoff_reset_s: the next failure waits 1 s again, not 8 s.
        now[0] = 70.0
        until(lambda: sv.last_beat >= 70.0)
        assert supervise_at(70.0) is True and sv.restarts == 0
        hold.set()  # open 4's camera now fails
        died()
        supervise_at(70.1)
        assert sv.delays == [1.0, 2.0, 4.0, 1.0]
        supervise_at(71.1)  # open 5: the QR is seen again by a fresh scanner
        assert opener.opens == 5
        ev = svc.events.get(timeout=20)
        assert isinstance(ev, m.QrSeen)
    finally:
        sv.stop.set()
        hold.set()
        if sv.thread is not None:
            sv.thread.join(20)


@pytest.mark.parametrize("restarts", [0, 3, 40])
def test_backoff_never_exceeds_the_cap(restarts: int) -> None:
    assert 1.0 <= backoff_delay(restarts) <= BACKOFF_MAX_S
