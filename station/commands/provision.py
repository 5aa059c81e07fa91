"""`station provision`: provision this station's keys and certificates."""

from station.commands import Subparsers, pending


def register(sub: Subparsers) -> None:
    pending(sub, "provision", "Provision this station's keys and certificates", 10)
