"""Where rendered frames go — the luma.core model: one small class per kind of device.

- :class:`OledDisplay` — a 128×64 SSD1306 / SH1106 on I²C through luma.oled (lazy import; the
  ``pi`` extra).
- :class:`FramebufferDisplay` — a Linux framebuffer (HDMI or SPI panel, e.g. 480×320).
- :class:`PngDisplay` — each frame to a PNG file: tests, and people without the hardware.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

from PIL import Image, ImageChops

from station.config import DisplaySection
from station.errors import FeedbackUnavailable


class Display(Protocol):
    width: int
    height: int

    def show(self, image: Image.Image) -> None: ...

    def close(self) -> None: ...


class PngDisplay:
    def __init__(self, path: Path | str, width: int, height: int) -> None:
        self.path = Path(path)
        self.width = width
        self.height = height
        self.frames = 0

    def show(self, image: Image.Image) -> None:
        # Write then rename: a viewer never sees half a PNG.
        tmp = self.path.with_name(self.path.name + ".tmp")
        image.save(tmp, format="PNG")
        os.replace(tmp, self.path)
        self.frames += 1

    def close(self) -> None:
        pass


class OledDisplay:
    def __init__(self, kind: str, port: int, address: int, width: int, height: int) -> None:
        try:
            from luma.core.interface.serial import i2c
            from luma.oled import device as oled
        except ImportError as exc:
            raise FeedbackUnavailable(f"luma.oled is not installed: {exc}") from None
        try:
            serial = i2c(port=port, address=address)
            cls = oled.sh1106 if kind == "sh1106" else oled.ssd1306
            self._device: Any = cls(serial, width=width, height=height)
        except Exception as exc:  # luma raises DeviceNotFoundError, OSError, PermissionError…
            raise FeedbackUnavailable(f"no {kind} display on i2c-{port} at {address:#04x}: "
                                      f"{type(exc).__name__}") from None
        self.width = width
        self.height = height

    def show(self, image: Image.Image) -> None:
        self._device.display(image.convert(self._device.mode))

    def close(self) -> None:
        self._device.cleanup()


class FramebufferDisplay:
    """Writes frames to ``/dev/fbN`` in the framebuffer's own pixel format (16-bit RGB565 or
    32-bit BGRX, read from sysfs)."""

    def __init__(self, device: str, width: int, height: int, *, bits_per_pixel: int | None = None
                 ) -> None:
        self.device = device
        self.width = width
        self.height = height
        if bits_per_pixel is None:
            sysfs = Path("/sys/class/graphics") / Path(device).name / "bits_per_pixel"
            try:
                bits_per_pixel = int(sysfs.read_text().strip())
            except (OSError, ValueError):
                raise FeedbackUnavailable(f"{device}: cannot read {sysfs}") from None
        if bits_per_pixel not in (16, 32):
            raise FeedbackUnavailable(f"{device}: {bits_per_pixel} bits per pixel unsupported")
        self.bpp = bits_per_pixel
        try:
            self._fd = os.open(device, os.O_WRONLY)
        except OSError as exc:
            raise FeedbackUnavailable(f"{device}: {exc.strerror}") from None

    def encode(self, image: Image.Image) -> bytes:
        rgb = image.convert("RGB")
        if self.bpp == 32:
            return rgb.tobytes("raw", "BGRX")
        # RGB565 little-endian, built from bands (Pillow has no RGB → RGB565 packer): the high
        # byte is RRRRRGGG, the low byte GGGBBBBB; the bit fields never overlap, so add = or.
        r, g, b = rgb.split()
        hi = ImageChops.add(r.point(lambda v: v & 0xF8), g.point(lambda v: v >> 5))
        lo = ImageChops.add(g.point(lambda v: (v << 3) & 0xE0), b.point(lambda v: v >> 3))
        return Image.merge("LA", (lo, hi)).tobytes()

    def show(self, image: Image.Image) -> None:
        os.pwrite(self._fd, self.encode(image), 0)

    def close(self) -> None:
        os.close(self._fd)


def open_display(section: DisplaySection) -> Display | None:
    """The configured display, or None for ``kind = "none"``."""
    w, h = section.width, section.height
    if section.kind == "none":
        return None
    if section.kind == "png":
        return PngDisplay(section.device, w, h)
    if section.kind == "framebuffer":
        return FramebufferDisplay(section.device, w, h)
    return OledDisplay(section.kind, section.i2c_port, section.i2c_address, w, h)
