"""`station bench`: run benchmarks."""

from station.commands import Subparsers, pending


def register(sub: Subparsers) -> None:
    pending(sub, "bench", "Run benchmarks", 11)
