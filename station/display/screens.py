"""What the public-facing screen says in each state of the reading session.

A :class:`Screen` is plain data (Vietnamese lines, a tone, an optional progress bar); rendering
is :mod:`station.display.render`'s job. Screens never carry the citizen's data: at most the
first letter of the given name on success, and only when ``[display] show_initial`` is set —
the screen faces the queue.
"""

from __future__ import annotations

import enum
import unicodedata
from dataclasses import dataclass

from station.drivers.gpio import Indication
from station.service.machine import Failure, Fault, Phase, Session


class Tone(enum.Enum):
    NEUTRAL = "neutral"
    BUSY = "busy"
    OK = "ok"
    ERROR = "error"


@dataclass(frozen=True)
class Screen:
    title: str
    detail: str = ""
    tone: Tone = Tone.NEUTRAL
    progress: float | None = None
    """0..1 for a progress bar; None = no bar."""


SHOW_QR = "Đưa mã QR vào khung"
PLACE_CARD = "Đặt thẻ lên đầu đọc"
HOLD_STILL = "Giữ yên thẻ…"
SUCCESS = "Xác thực thành công"
NOT_VALID = "Thẻ không hợp lệ"
CALL_STAFF = "Vui lòng gọi nhân viên"

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

REFUSED = Screen("Mỗi lần một thẻ", "Vui lòng chờ", Tone.BUSY)
"""Shown briefly over the current screen when a second card is tapped mid-read."""


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


def initial_of(full_name: str) -> str | None:
    """The first letter of the given name — the last word of a Vietnamese full name
    ("Nguyễn Văn An" → "A") — or None. Nothing else of the name ever reaches the screen."""
    words = unicodedata.normalize("NFC", full_name).split()
    if not words or not words[-1][0].isalpha():
        return None
    return words[-1][0].upper()
