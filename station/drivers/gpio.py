"""LEDs and buzzer: the desk's quickest feedback, through gpiozero.

gpiozero's pin factories are the hardware edge: lgpio / RPi.GPIO on a Pi, ``MockFactory`` in
tests (pass ``pin_factory``) — the same code drives both. Each :class:`Indication` has one
:class:`Pattern`, plain data, distinct from every other so that a person who cannot see the
screen can still tell ready, reading, success, failure and a fault apart by light and sound.

gpiozero is imported lazily: it is in the ``pi`` and ``dev`` extras, not a base dependency.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from station.config import FeedbackSection
from station.errors import FeedbackUnavailable
from station.log import event

log = logging.getLogger(__name__)


class Indication(enum.Enum):
    READY = "ready"
    READING = "reading"
    SUCCESS = "success"
    FAILURE = "failure"
    FAULT = "fault"
    REFUSED = "refused"
    """A second card while one is being read: a short double chirp, the lights stay as they are."""


@dataclass(frozen=True)
class Light:
    """One output's behaviour: off, steady on, or blinking (``n`` times, or until changed)."""

    on_s: float = 0.0
    off_s: float = 0.0
    n: int | None = None

    @property
    def steady(self) -> bool:
        return self.on_s > 0 and self.off_s == 0


OFF = Light()
ON = Light(1.0)


@dataclass(frozen=True)
class Pattern:
    """What each output does for one indication; ``None`` leaves that output as it is."""

    green: Light | None
    red: Light | None
    amber: Light | None
    buzzer: Light | None


PATTERNS: Mapping[Indication, Pattern] = MappingProxyType({
    # A slow green heartbeat: powered and ready, distinct from the steady green of success.
    Indication.READY: Pattern(Light(0.1, 1.9), OFF, OFF, OFF),
    Indication.READING: Pattern(OFF, OFF, Light(0.1, 0.1), Light(0.05, 0.05, 1)),
    Indication.SUCCESS: Pattern(ON, OFF, OFF, Light(0.2, 0.1, 1)),
    Indication.FAILURE: Pattern(OFF, ON, OFF, Light(0.1, 0.1, 3)),
    Indication.FAULT: Pattern(OFF, Light(0.5, 0.5), ON, Light(0.8, 0.2, 1)),
    Indication.REFUSED: Pattern(None, None, None, Light(0.05, 0.1, 2)),
})


class Outputs:
    """The desk's LEDs and buzzer on the pins of ``[feedback]`` (pin -1: not fitted)."""

    def __init__(self, section: FeedbackSection, *, pin_factory: Any = None) -> None:
        try:
            from gpiozero import LED, Buzzer
            from gpiozero.exc import GPIOZeroError
        except ImportError as exc:
            raise FeedbackUnavailable(f"gpiozero is not installed: {exc}") from None
        self._devices: dict[str, Any] = {}
        wanted = {"green": (LED, section.green_pin), "red": (LED, section.red_pin),
                  "amber": (LED, section.amber_pin), "buzzer": (Buzzer, section.buzzer_pin)}
        try:
            for name, (cls, pin) in wanted.items():
                if pin >= 0:
                    self._devices[name] = cls(pin, active_high=section.active_high,
                                              pin_factory=pin_factory)
        except (GPIOZeroError, OSError, RuntimeError) as exc:
            self.close()
            raise FeedbackUnavailable(f"cannot drive the feedback pins: {type(exc).__name__}: "
                                      f"{exc}") from None
        self.current: Indication | None = None

    def show(self, indication: Indication) -> None:
        """Switch every output to the indication's pattern (returns at once; blinking and
        beeping run on gpiozero's background threads)."""
        pattern = PATTERNS[indication]
        for name in ("green", "red", "amber", "buzzer"):
            light: Light | None = getattr(pattern, name)
            device = self._devices.get(name)
            if light is None or device is None:
                continue
            if light.on_s == 0:
                device.off()
            elif light.steady:
                device.on()
            else:
                device.blink(on_time=light.on_s, off_time=light.off_s, n=light.n,
                             background=True)
        if indication is not Indication.REFUSED:
            self.current = indication
        event(log, "feedback.show", logging.DEBUG, indication=indication.value)

    def close(self) -> None:
        for device in self._devices.values():
            device.close()
        self._devices.clear()
