"""The service's configuration sections: [profile], [session], [feedback], [display]."""

from __future__ import annotations

import pytest

from station import config
from station.errors import ConfigError


@pytest.mark.parametrize(
    ("data", "key", "problem"),
    [
        ({"feedback": {"green_pin": 40}}, "feedback.green_pin", "BCM GPIO"),
        ({"feedback": {"red_pin": 17}}, "feedback.red_pin", "already used by green_pin"),
        ({"session": {"read_timeout_s": 0}}, "session.read_timeout_s", "> 0"),
        ({"session": {"card_wait_s": 601}}, "session.card_wait_s", "at most 600"),
        ({"display": {"kind": "crt"}}, "display.kind", "must be one of"),
        ({"display": {"width": 8}}, "display.width", "32-4096"),
        ({"display": {"i2c_address": 0x90}}, "display.i2c_address", "7-bit"),
        ({"profile": {"key_cache_s": -1}}, "profile.key_cache_s", "between 0 and 3600"),
        ({"profile": {"fields": "id_number"}}, "profile.fields", "must be an array"),
    ],
)
def test_errors_name_the_key(data: dict[str, object], key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as exc:
        config.from_dict(data)
    assert exc.value.key == key and problem in exc.value.problem


def test_unfitted_pins_may_repeat() -> None:
    cfg = config.from_dict({"feedback": {"amber_pin": -1, "buzzer_pin": -1}})
    assert cfg.feedback.amber_pin == cfg.feedback.buzzer_pin == -1
