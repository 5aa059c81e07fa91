"""LED/buzzer patterns on gpiozero's MockFactory: the same code as on the Pi, pins recorded."""

from __future__ import annotations

import time
from collections.abc import Iterator
from itertools import combinations

import pytest
from gpiozero.pins.mock import MockFactory, MockPin

from station.config import FeedbackSection
from station.drivers.gpio import OFF, ON, PATTERNS, Indication, Light, Outputs
from station.errors import FeedbackUnavailable

SECTION = FeedbackSection(green_pin=17, red_pin=27, amber_pin=22, buzzer_pin=18)
PINS = {"green": 17, "red": 27, "amber": 22, "buzzer": 18}


@pytest.fixture()
def factory() -> Iterator[MockFactory]:
    f = MockFactory()
    yield f
    f.reset()


@pytest.fixture()
def outputs(factory: MockFactory) -> Iterator[Outputs]:
    o = Outputs(SECTION, pin_factory=factory)
    yield o
    o.close()


def pin(factory: MockFactory, name: str) -> MockPin:
    p: MockPin = factory.pin(PINS[name])
    return p


def pulses(p: MockPin) -> int:
    """How many times the pin went high since its states were cleared."""
    return sum(1 for s in p.states[1:] if s.state)


def wait_for(cond: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, "pattern did not happen"
        time.sleep(0.01)


def test_every_indication_has_a_distinct_pattern() -> None:
    assert set(PATTERNS) == set(Indication)
    for a, b in combinations(PATTERNS.values(), 2):
        assert a != b
    # Success and failure differ even to someone who cannot see colours: the buzzer.
    assert PATTERNS[Indication.SUCCESS].buzzer != PATTERNS[Indication.FAILURE].buzzer


@pytest.mark.parametrize(
    ("indication", "steady_on", "off"),
    [
        (Indication.SUCCESS, {"green"}, {"red", "amber"}),
        (Indication.FAILURE, {"red"}, {"green", "amber"}),
        (Indication.FAULT, {"amber"}, {"green"}),
        (Indication.READING, set(), {"green", "red"}),
        (Indication.READY, set(), {"red", "amber"}),
    ],
)
def test_steady_and_dark_outputs(factory: MockFactory, outputs: Outputs, indication: Indication,
                                 steady_on: set[str], off: set[str]) -> None:
    outputs.show(Indication.FAULT if indication is not Indication.FAULT else Indication.SUCCESS)
    outputs.show(indication)
    for name in steady_on:
        assert pin(factory, name).state is True, name
    for name in off:
        assert pin(factory, name).state is False, name
    assert outputs.current is indication


@pytest.mark.parametrize(("indication", "beeps"), [
    (Indication.READING, 1), (Indication.SUCCESS, 1), (Indication.FAILURE, 3),
    (Indication.FAULT, 1), (Indication.REFUSED, 2),
])
def test_buzzer_beeps_the_pattern_count_then_stops(factory: MockFactory, outputs: Outputs,
                                                   indication: Indication, beeps: int) -> None:
    buzzer = pin(factory, "buzzer")
    buzzer.clear_states()
    outputs.show(indication)
    wait_for(lambda: pulses(buzzer) == beeps and buzzer.state is False)
    time.sleep(0.3)  # longer than any gap: no extra beep follows
    assert pulses(buzzer) == beeps
    assert [s.state for s in buzzer.states] == [False] + [True, False] * beeps


def test_ready_is_silent(factory: MockFactory, outputs: Outputs) -> None:
    buzzer = pin(factory, "buzzer")
    buzzer.clear_states()
    outputs.show(Indication.READY)
    time.sleep(0.1)
    assert pulses(buzzer) == 0


def test_reading_blinks_amber_until_the_next_indication(factory: MockFactory,
                                                        outputs: Outputs) -> None:
    amber = pin(factory, "amber")
    amber.clear_states()
    outputs.show(Indication.READING)
    wait_for(lambda: pulses(amber) >= 3)  # still blinking after several periods
    outputs.show(Indication.SUCCESS)
    assert amber.state is False
    n = pulses(amber)
    time.sleep(0.3)
    assert pulses(amber) == n  # the blink stopped with the state change


def test_refused_leaves_the_lights_alone(factory: MockFactory, outputs: Outputs) -> None:
    outputs.show(Indication.SUCCESS)
    outputs.show(Indication.REFUSED)
    assert pin(factory, "green").state is True
    assert outputs.current is Indication.SUCCESS


def test_unfitted_outputs_are_skipped(factory: MockFactory) -> None:
    o = Outputs(FeedbackSection(amber_pin=-1, buzzer_pin=-1), pin_factory=factory)
    try:
        o.show(Indication.READING)
        o.show(Indication.SUCCESS)
        assert pin(factory, "green").state is True
    finally:
        o.close()


def test_active_low_wiring_inverts_the_pins(factory: MockFactory) -> None:
    o = Outputs(FeedbackSection(active_high=False), pin_factory=factory)
    try:
        o.show(Indication.SUCCESS)
        assert pin(factory, "green").state is False  # sinking current: low = lit
        assert pin(factory, "red").state is True
    finally:
        o.close()


def test_a_pin_in_use_is_a_typed_error(factory: MockFactory, outputs: Outputs) -> None:
    with pytest.raises(FeedbackUnavailable, match="cannot drive the feedback pins"):
        Outputs(SECTION, pin_factory=factory)


def test_light_shapes() -> None:
    assert ON.steady and not OFF.steady and not Light(0.1, 0.1).steady
