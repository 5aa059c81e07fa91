"""Reference PNGs for every screen at both sizes, and the display devices.

Regenerate the references after a deliberate change with ``STATION_REGEN_DISPLAY=1 pytest
tests/display`` and look at them before committing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from station.config import DisplaySection
from station.display import screens as S
from station.display.render import Renderer, find_font
from station.drivers.display import FramebufferDisplay, PngDisplay, open_display
from station.drivers.gpio import Indication
from station.errors import FeedbackUnavailable
from station.service.feedback import indication, screen
from station.service.machine import Failure, Fault, Phase, Session

REFERENCE = Path(__file__).parent / "reference"
REGEN = os.environ.get("STATION_REGEN_DISPLAY") == "1"
SIZES = [(128, 64), (480, 320)]

STATES: dict[str, S.Screen] = {
    "idle": screen(Session()),
    "waiting": screen(Session(phase=Phase.WAITING)),
    "need_qr": screen(Session(phase=Phase.NEED_QR)),
    "reading_0": screen(Session(phase=Phase.READING, progress=0.0)),
    "reading_45": screen(Session(phase=Phase.READING, progress=0.45)),
    "verifying": screen(Session(phase=Phase.VERIFYING)),
    "storing": screen(Session(phase=Phase.STORING)),
    "success": screen(Session(phase=Phase.SUCCESS)),
    "success_initial": screen(Session(phase=Phase.SUCCESS), initial="Â"),
    "fault_reader": screen(Session(faults=frozenset({Fault.READER_MISSING}))),
    "refused": S.REFUSED,
    **{f"failed_{f.value}": screen(Session(phase=Phase.FAILED, failure=f)) for f in Failure},
}


def _differing_pixels(a: Image.Image, b: Image.Image) -> int:
    diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB")).convert("L")
    # Tolerate tiny anti-aliasing shifts (a FreeType update), not a changed glyph.
    return sum(1 for v in diff.tobytes() if v > 48)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("state", sorted(STATES))
def test_reference_png(state: str, size: tuple[int, int]) -> None:
    w, h = size
    img = Renderer(w, h).render(STATES[state])
    assert img.size == size
    assert img.mode == ("1" if w == 128 else "RGB")
    ref = REFERENCE / f"{w}x{h}" / f"{state}.png"
    if REGEN:
        ref.parent.mkdir(parents=True, exist_ok=True)
        img.save(ref, optimize=True)
    with Image.open(ref) as expected:
        assert expected.size == img.size
        bad = _differing_pixels(img, expected)
    assert bad <= w * h // 500, f"{bad} pixels differ from {ref.name}"


def test_every_state_and_failure_has_its_own_text() -> None:
    titles = {f: screen(Session(phase=Phase.FAILED, failure=f)).title for f in Failure}
    assert len(set(titles.values())) == len(Failure)
    assert screen(Session(phase=Phase.FAILED, failure=Failure.NOT_GENUINE)).title == \
        "Thẻ không hợp lệ"
    assert screen(Session(phase=Phase.FAILED, failure=Failure.CARD_REMOVED)).title == \
        "Giữ yên thẻ…"
    assert screen(Session()).title == "Đưa mã QR vào khung"
    assert screen(Session(phase=Phase.WAITING)).title == "Đặt thẻ lên đầu đọc"
    assert screen(Session(phase=Phase.SUCCESS)).title == "Xác thực thành công"
    assert screen(Session(phase=Phase.READING, progress=0.3)).progress == 0.3


def test_a_progress_bar_fills_with_progress() -> None:
    r = Renderer(128, 64)
    lit = [r.render(S.Screen("x", progress=p)).crop((0, 50, 128, 64)).convert("L").histogram()[255]
           for p in (0.0, 0.5, 1.0)]
    assert lit[0] < lit[1] < lit[2]


def test_vietnamese_marks_are_drawn_not_boxes() -> None:
    # Each tone mark changes the glyph: a font without Vietnamese would draw the same
    # fallback box for all of them.
    r = Renderer(128, 64)
    images = [r.render(S.Screen(c)).tobytes() for c in ("a", "á", "ả", "ạ", "ắ", "ặ", "ữ", "Đ")]
    assert len(set(images)) == len(images)
    # NFD input (combining marks) renders like NFC.
    assert r.render(S.Screen("Thẻ")).tobytes() == r.render(S.Screen("The\u0309")).tobytes()


def test_screens_show_at_most_an_initial() -> None:
    assert S.initial_of("Nguyễn Văn An") == "A"
    assert S.initial_of("trần thị ánh") == "Á"
    assert S.initial_of("") is None and S.initial_of("  ") is None
    shown = screen(Session(phase=Phase.SUCCESS), initial=S.initial_of("Nguyễn Văn An"))
    assert "An" not in shown.detail and "Nguyễn" not in shown.detail and "A." in shown.detail
    # No initial unless the runtime passes one (it does so only with display.show_initial).
    assert "." not in screen(Session(phase=Phase.SUCCESS)).detail


def test_indications() -> None:
    assert indication(Session()) is Indication.READY
    assert indication(Session(faults=frozenset({Fault.OUTBOX_FULL}))) is Indication.FAULT
    assert indication(Session(phase=Phase.READING)) is Indication.READING
    assert indication(Session(phase=Phase.STORING)) is Indication.READING
    assert indication(Session(phase=Phase.SUCCESS)) is Indication.SUCCESS
    for f in Failure:
        expected = (Indication.FAULT if f in (Failure.READER_MISSING, Failure.OUTBOX_FULL)
                    else Indication.FAILURE)
        assert indication(Session(phase=Phase.FAILED, failure=f)) is expected


def test_missing_font_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FeedbackUnavailable, match="does not exist"):
        find_font(configured=str(tmp_path / "nope.ttf"))
    assert find_font().name == "DejaVuSans.ttf"


def test_png_and_framebuffer_devices(tmp_path: Path) -> None:
    img = Renderer(480, 320).render(STATES["success"])
    png = open_display(DisplaySection(kind="png", device=str(tmp_path / "screen.png"),
                                      width=480, height=320))
    assert isinstance(png, PngDisplay)
    png.show(img)
    with Image.open(tmp_path / "screen.png") as back:
        assert ImageChops.difference(back.convert("RGB"), img).getbbox() is None
    fbfile = tmp_path / "fb0"
    fbfile.write_bytes(b"")
    fb = FramebufferDisplay(str(fbfile), 480, 320, bits_per_pixel=16)
    fb.show(img)
    fb.close()
    raw = fbfile.read_bytes()
    assert len(raw) == 480 * 320 * 2
    r, g, b = img.getpixel((0, 0))  # type: ignore[misc]
    assert int.from_bytes(raw[:2], "little") == ((r >> 3) << 11) | ((g >> 2) << 5) | (b >> 3)
    assert open_display(DisplaySection()) is None
    with pytest.raises(FeedbackUnavailable):
        FramebufferDisplay(str(tmp_path / "fb0"), 480, 320, bits_per_pixel=24)
