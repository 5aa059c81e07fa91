"""`station read`: read a card on the reader."""

from station.commands import Subparsers, pending


def register(sub: Subparsers) -> None:
    pending(sub, "read", "Read a card on the reader", 4)
