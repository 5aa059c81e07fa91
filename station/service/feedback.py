"""The desk's feedback: LEDs/buzzer first (fastest), then the display — one port for the runtime.

Built from ``[feedback]`` and ``[display]``; either may be absent (not fitted, or its library or
device missing — then the reason is logged once and the desk carries on with the other).
"""

from __future__ import annotations

import logging

from station.config import Config
from station.display.render import Renderer
from station.display.screens import REFUSED, indication, screen
from station.drivers.display import Display, open_display
from station.drivers.gpio import Indication, Outputs
from station.errors import FeedbackUnavailable
from station.log import event
from station.service.machine import Session

log = logging.getLogger(__name__)


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
