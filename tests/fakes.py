"""The test fakes, in one place (as gpiozero's ``MockFactory``): what stands in for a card reader
when a test needs no PC/SC stack. Chip tests that need the real stack use the pcscd + vpcd
fixtures instead (tests/conftest.py)."""

from __future__ import annotations

from station.errors import TagLost
from station.sim.vpcd import Card


class Script:
    """A scripted card: answers a fixed transcript of (command, response) hex pairs, and fails
    the test on an unexpected or extra command; ``sent`` records every command."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = [(bytes.fromhex(a), bytes.fromhex(b)) for a, b in pairs]
        self.sent: list[bytes] = []

    def transmit(self, apdu: bytes) -> bytes:
        self.sent.append(apdu)
        assert self.pairs, f"unexpected extra command {apdu.hex().upper()}"
        expected, answer = self.pairs.pop(0)
        assert apdu.hex().upper() == expected.hex().upper()
        return answer

    @property
    def done(self) -> bool:
        return not self.pairs


class Replies:
    """A card answering from a list, whatever it is sent (``sent`` in upper-case hex)."""

    def __init__(self, responses: list[str]) -> None:
        self.responses = [bytes.fromhex(r) for r in responses]
        self.sent: list[str] = []

    def transmit(self, apdu: bytes) -> bytes:
        self.sent.append(apdu.hex().upper())
        return self.responses.pop(0)


class Direct:
    """A direct chip link: the simulated card called as a terminal-side transport, no PC/SC in
    between (the vpcd contract tests show pcscd + vpcd answer the same). Creating one powers the
    card on, a new tap, unless ``power_on`` is false; after ``drop_after`` APDUs it raises
    :class:`TagLost` as the PC/SC transport does; ``apdus`` records what it was sent."""

    def __init__(self, card: Card, drop_after: int | None = None, *,
                 power_on: bool = True) -> None:
        self.chip = card
        self.drop_after = drop_after
        self.count = 0
        self.apdus: list[bytes] = []
        if power_on:
            card.power_on()

    def transmit(self, apdu: bytes) -> bytes:
        if self.drop_after is not None and self.count >= self.drop_after:
            raise TagLost("card removed")
        self.count += 1
        self.apdus.append(apdu)
        return self.chip.process(apdu)
