"""The desk's feedback: LEDs/buzzer first (fastest), then the display — one port for the runtime.
Which screen (:func:`screen`) and which LED pattern (:func:`indication`) each session state
shows is decided here; :mod:`station.display.screens` holds what the screens say.

Built from ``[feedback]`` and ``[display]``; either may be absent (not fitted, or its library or
device missing — then the reason is logged once and the desk carries on with the other).
"""

from __future__ import annotations

import logging

from station.config import Config
from station.display.render import Renderer
from station.display.screens import (
    CALL_STAFF,
    HOLD_STILL,
    NOT_VALID,
    PLACE_CARD,
    REFUSED,
    SHOW_QR,
    SUCCESS,
    Screen,
    Tone,
)
from station.drivers.display import Display, open_display
from station.drivers.gpio import Indication, Outputs
from station.errors import FeedbackUnavailable
from station.log import event
from station.service.machine import Failure, Fault, Phase, Session

log = logging.getLogger(__name__)

_FAILURES: dict[Failure, Screen] = {
    Failure.WRONG_CARD: Screen("Thẻ không khớp mã QR", "Đặt đúng thẻ lên đầu đọc", Tone.ERROR),
    Failure.CARD_REMOVED: Screen(HOLD_STILL, "Đặt lại thẻ lên đầu đọc", Tone.ERROR),
    Failure.CAN_REFUSED: Screen("Số CAN không đúng", "Nhập lại hoặc đưa mã QR", Tone.ERROR),
    Failure.NOT_GENUINE: Screen(NOT_VALID, CALL_STAFF, Tone.ERROR),
    Failure.READER_MISSING: Screen("Không thấy đầu đọc thẻ", CALL_STAFF, Tone.ERROR),
    Failure.OUTBOX_FULL: Screen("Bộ nhớ đầy, tạm ngừng", CALL_STAFF, Tone.ERROR),
    Failure.READ_ERROR: Screen("Không đọc được thẻ", "Đặt lại thẻ lên đầu đọc", Tone.ERROR),
    Failure.READ_TIMEOUT: Screen("Đọc thẻ quá lâu", "Đặt lại thẻ lên đầu đọc", Tone.ERROR),
    Failure.VERIFY_ERROR: Screen("Lỗi xác thực", CALL_STAFF, Tone.ERROR),
    Failure.STORE_ERROR: Screen("Lỗi lưu dữ liệu", CALL_STAFF, Tone.ERROR),
}
_FAULTS = (Failure.READER_MISSING, Failure.OUTBOX_FULL)


def screen(s: Session, *, keypad: bool = True, initial: str | None = None) -> Screen:
    """The screen for a session; ``initial`` (a single letter) only when configured."""
    match s.phase:
        case Phase.IDLE:
            if s.faults:
                which = (Failure.READER_MISSING if Fault.READER_MISSING in s.faults
                         else Failure.OUTBOX_FULL)
                return _FAILURES[which]
            return Screen(SHOW_QR, "rồi đặt thẻ lên đầu đọc")
        case Phase.WAITING:
            return Screen(PLACE_CARD, "", Tone.BUSY)
        case Phase.NEED_QR:
            return Screen(SHOW_QR, "hoặc nhập số CAN" if keypad else "trước khi đặt thẻ",
                          Tone.BUSY)
        case Phase.READING:
            return Screen("Đang đọc thẻ", HOLD_STILL, Tone.BUSY, s.progress)
        case Phase.VERIFYING:
            return Screen("Đang xác thực", "Có thể lấy thẻ ra", Tone.BUSY, 1.0)
        case Phase.STORING:
            return Screen("Đang lưu", "Có thể lấy thẻ ra", Tone.BUSY, 1.0)
        case Phase.SUCCESS:
            return Screen(SUCCESS, f"Xin chào {initial}." if initial else "Xin cảm ơn", Tone.OK)
        case Phase.FAILED:
            assert s.failure is not None
            return _FAILURES[s.failure]
    raise AssertionError(s.phase)  # pragma: no cover


def indication(s: Session) -> Indication:
    """The LED/buzzer indication for a session."""
    match s.phase:
        case Phase.IDLE | Phase.WAITING:
            return Indication.FAULT if s.faults else Indication.READY
        case Phase.NEED_QR:
            return Indication.REFUSED
        case Phase.READING | Phase.VERIFYING | Phase.STORING:
            return Indication.READING
        case Phase.SUCCESS:
            return Indication.SUCCESS
        case Phase.FAILED:
            return Indication.FAULT if s.failure in _FAULTS else Indication.FAILURE
    raise AssertionError(s.phase)  # pragma: no cover


class DeskFeedback:
    def __init__(self, outputs: Outputs | None, display: Display | None,
                 renderer: Renderer | None, *, keypad: bool = True) -> None:
        self.outputs = outputs
        self.display = display
        self.renderer = renderer
        self.keypad = keypad
        self._last: Indication | None = None

    @classmethod
    def from_config(cls, cfg: Config, *, keypad: bool = True) -> DeskFeedback:
        outputs = None
        if cfg.feedback.enabled:
            try:
                outputs = Outputs(cfg.feedback)
            except FeedbackUnavailable as exc:
                event(log, "feedback.leds_unavailable", logging.WARNING, reason=str(exc))
        display = renderer = None
        try:
            display = open_display(cfg.display)
            if display is not None:
                renderer = Renderer(display.width, display.height, font=cfg.display.font)
        except FeedbackUnavailable as exc:
            event(log, "feedback.display_unavailable", logging.WARNING, reason=str(exc))
            display = None
        return cls(outputs, display, renderer, keypad=keypad)

    def show(self, session: Session) -> None:
        ind = indication(session)
        # Same indication (e.g. a progress update while reading): do not restart the pattern.
        if self.outputs is not None and ind is not self._last:
            self.outputs.show(ind)
        self._last = ind
        if self.display is not None and self.renderer is not None:
            # session.initial is set only when [display] show_initial is on, and only on SUCCESS.
            self.display.show(self.renderer.render(
                screen(session, keypad=self.keypad, initial=session.initial)))

    def refused(self) -> None:
        if self.outputs is not None:
            self.outputs.show(Indication.REFUSED)
        if self.display is not None and self.renderer is not None:
            self.display.show(self.renderer.render(REFUSED))

    def close(self) -> None:
        if self.outputs is not None:
            self.outputs.close()
        if self.display is not None:
            self.display.close()
