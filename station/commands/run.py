"""`station run`: run the station service (systemd)."""

from station.commands import Subparsers, pending


def register(sub: Subparsers) -> None:
    pending(sub, "run", "Run the station service (systemd)", 9)
