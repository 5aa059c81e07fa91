"""`station scan`: decode QR codes from the camera or images."""

from station.commands import Subparsers, pending


def register(sub: Subparsers) -> None:
    pending(sub, "scan", "Decode QR codes from the camera or images", 7)
