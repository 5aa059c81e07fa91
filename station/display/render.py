"""Screens to pixels with Pillow: 1-bit for a 128×64 OLED, RGB for a panel (e.g. 480×320).

Text is NFC-normalised and drawn with DejaVu Sans, which has every precomposed Vietnamese letter
(ắ, ẫ, ự …), using Pillow's basic layout so that the pixels do not depend on whether libraqm is
present — the reference-PNG tests compare pixels.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from station.display.screens import Screen, Tone
from station.errors import FeedbackUnavailable

# Where distributions put DejaVu Sans (Debian/Ubuntu/Raspberry Pi OS: fonts-dejavu-core).
FONT_DIRS = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/TTF",
    "/usr/share/fonts/dejavu",
    "/usr/share/fonts/dejavu-sans-fonts",
)
REGULAR = "DejaVuSans.ttf"
BOLD = "DejaVuSans-Bold.ttf"

_BACKGROUND = {Tone.NEUTRAL: (24, 36, 52), Tone.BUSY: (28, 52, 88), Tone.OK: (22, 122, 56),
               Tone.ERROR: (170, 36, 30)}


def find_font(name: str = REGULAR, configured: str = "") -> Path:
    """The configured font file, else DejaVu Sans from a system font directory."""
    if configured:
        p = Path(configured)
        if not p.is_file():
            raise FeedbackUnavailable(f"display.font: {p} does not exist")
        return p
    for d in FONT_DIRS:
        p = Path(d) / name
        if p.is_file():
            return p
    raise FeedbackUnavailable(
        f"no {name} found in {', '.join(FONT_DIRS)}: install fonts-dejavu-core (or set "
        "display.font to a TrueType font that covers Vietnamese)")


@dataclass(frozen=True)
class Layout:
    title_px: int
    detail_px: int
    margin: int
    bar_h: int


class Renderer:
    """Renders :class:`Screen` s at one size; fonts are loaded once."""

    def __init__(self, width: int, height: int, *, font: str = "") -> None:
        self.width = width
        self.height = height
        self.mono = width <= 128 or height <= 64
        if self.mono:
            self.layout = Layout(title_px=13, detail_px=11, margin=2, bar_h=8)
        else:
            self.layout = Layout(title_px=max(14, height // 9), detail_px=max(11, height // 14),
                                 margin=max(4, height // 20), bar_h=max(8, height // 14))
        self._regular = find_font(REGULAR, font)
        self._bold = find_font(BOLD, "") if not font else self._regular
        self._fonts: dict[tuple[bool, int], ImageFont.FreeTypeFont] = {}

    def _font(self, bold: bool, px: int) -> ImageFont.FreeTypeFont:
        key = (bold, px)
        if key not in self._fonts:
            self._fonts[key] = ImageFont.truetype(
                str(self._bold if bold else self._regular), px,
                layout_engine=ImageFont.Layout.BASIC)
        return self._fonts[key]

    def _wrap(self, text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
        lines: list[str] = []
        for word in text.split():
            if lines and font.getlength(lines[-1] + " " + word) <= width:
                lines[-1] += " " + word
            else:
                lines.append(word)
        return lines

    def render(self, screen: Screen) -> Image.Image:
        L = self.layout
        if self.mono:
            img = Image.new("1", (self.width, self.height), 0)
            fg: int | tuple[int, int, int] = 1
        else:
            img = Image.new("RGB", (self.width, self.height), _BACKGROUND[screen.tone])
            fg = (255, 255, 255)
        draw = ImageDraw.Draw(img)
        if self.mono:
            draw.fontmode = "1"  # no anti-aliasing on a 1-bit panel
        inner = self.width - 2 * L.margin
        bottom = self.height - L.margin - (L.bar_h + L.margin if screen.progress is not None
                                           else 0)
        title = unicodedata.normalize("NFC", screen.title)
        detail = unicodedata.normalize("NFC", screen.detail)
        # Shrink the title until title and detail fit above the bar.
        px = L.title_px
        while True:
            tfont = self._font(True, px)
            dfont = self._font(False, min(L.detail_px, px))
            tlines = self._wrap(title, tfont, inner)
            dlines = self._wrap(detail, dfont, inner) if detail else []
            t_h = _line_height(tfont)
            d_h = _line_height(dfont)
            total = len(tlines) * t_h + (L.margin + len(dlines) * d_h if dlines else 0)
            if total <= bottom - L.margin or px <= 8:
                break
            px -= 1
        y = L.margin + max(0, (bottom - L.margin - total) // 2)
        if self.mono and screen.tone is Tone.ERROR:
            # No colour on an OLED: an error inverts the title band instead.
            draw.rectangle((0, 0, self.width - 1, y + len(tlines) * t_h), fill=1)
        for line in tlines:
            x = (self.width - tfont.getlength(line)) // 2
            colour = 0 if self.mono and screen.tone is Tone.ERROR else fg
            draw.text((x, y), line, font=tfont, fill=colour)
            y += t_h
        y += L.margin
        for line in dlines:
            x = (self.width - dfont.getlength(line)) // 2
            draw.text((x, y), line, font=dfont, fill=fg)
            y += d_h
        if self.mono and screen.tone is Tone.OK:
            draw.rectangle((0, 0, self.width - 1, self.height - 1), outline=1)
        if screen.progress is not None:
            top = self.height - L.margin - L.bar_h
            draw.rectangle((L.margin, top, self.width - 1 - L.margin, top + L.bar_h - 1),
                           outline=fg)
            fill_w = round((inner - 4) * min(max(screen.progress, 0.0), 1.0))
            if fill_w > 0:
                draw.rectangle((L.margin + 2, top + 2, L.margin + 1 + fill_w,
                                top + L.bar_h - 3), fill=fg)
        return img


def _line_height(font: ImageFont.FreeTypeFont) -> int:
    # Ascent + descent leaves room for stacked Vietnamese marks above capitals (Ễ, Ấ).
    ascent, descent = font.getmetrics()
    return int(ascent + descent)
