"""What the public-facing screen says, and how: its lines and tones.

Which screen each state of the reading session shows is the desk's feedback
(:func:`station.service.feedback.screen`); this module knows nothing of the session. A
:class:`Screen` is plain data (Vietnamese lines, a tone, an optional progress bar); rendering
is :mod:`station.display.render`'s job. Screens never carry the citizen's data: at most the
first letter of the given name on success, and only when ``[display] show_initial`` is set —
the screen faces the queue.
"""

from __future__ import annotations

import enum
import unicodedata
from dataclasses import dataclass


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

REFUSED = Screen("Mỗi lần một thẻ", "Vui lòng chờ", Tone.BUSY)
"""Shown briefly over the current screen when a second card is tapped mid-read."""


def initial_of(full_name: str) -> str | None:
    """The first letter of the given name — the last word of a Vietnamese full name
    ("Nguyễn Văn An" → "A") — or None. Nothing else of the name ever reaches the screen."""
    words = unicodedata.normalize("NFC", full_name).split()
    if not words or not words[-1][0].isalpha():
        return None
    return words[-1][0].upper()
