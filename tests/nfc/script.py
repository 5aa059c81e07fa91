"""A scripted card: answers a fixed transcript and fails the test on any unexpected command."""

from __future__ import annotations


class Script:
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
