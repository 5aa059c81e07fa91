"""`station doctor`: check this station's health."""

from station.commands import Subparsers, pending


def register(sub: Subparsers) -> None:
    pending(sub, "doctor", "Check this station's health", 10)
