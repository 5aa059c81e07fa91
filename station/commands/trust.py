"""`station trust`: manage the CSCA trust store."""

from station.commands import Subparsers, pending


def register(sub: Subparsers) -> None:
    pending(sub, "trust", "Manage the CSCA trust store", 6)
