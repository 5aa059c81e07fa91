"""DeskFeedback: LEDs on gpiozero's MockFactory plus a PNG display, driven by sessions."""

from __future__ import annotations

from pathlib import Path

from gpiozero.pins.mock import MockFactory
from PIL import Image

from station.config import FeedbackSection
from station.display.render import Renderer
from station.drivers.display import PngDisplay
from station.drivers.gpio import Outputs
from station.service.feedback import DeskFeedback
from station.service.machine import Failure, Phase, Session


def test_sessions_drive_leds_and_screen(tmp_path: Path) -> None:
    factory = MockFactory()
    png = tmp_path / "s.png"
    fb = DeskFeedback(Outputs(FeedbackSection(), pin_factory=factory),
                      PngDisplay(png, 128, 64), Renderer(128, 64))
    try:
        buzzer = factory.pin(18)
        fb.show(Session(phase=Phase.READING, progress=0.1))
        chirps = len(buzzer.states)
        fb.show(Session(phase=Phase.READING, progress=0.6))  # progress: no second chirp
        assert len(buzzer.states) == chirps
        with Image.open(png) as first:
            bar = first.crop((0, 50, 128, 64)).convert("L").histogram()[255]
        assert bar > 0
        fb.show(Session(phase=Phase.SUCCESS))
        assert factory.pin(17).state is True and factory.pin(27).state is False
        fb.show(Session(phase=Phase.FAILED, failure=Failure.NOT_GENUINE))
        assert factory.pin(27).state is True and factory.pin(17).state is False
        assert fb.display is not None and fb.display.frames == 4  # type: ignore[attr-defined]
    finally:
        fb.close()
        factory.reset()
