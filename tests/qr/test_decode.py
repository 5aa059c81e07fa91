"""Decoding generated card photographs with each engine; exact UTF-8 bytes or nothing."""

from __future__ import annotations

import numpy as np
import pytest
import segno

from station.errors import QrFormatError
from station.qr import cccd
from station.qr.decode import Decoded, GuideBox, QrDecoder, locate
from station.sim import qrimage

PAYLOAD = qrimage.synthetic_payload(3)


@pytest.fixture(scope="module")
def images() -> dict[str, np.ndarray]:
    return {d: qrimage.render(PAYLOAD, d, seed=3) for d in ("clean", "noise", "small", "blur")}


def test_the_synthetic_payload_is_a_valid_vietnamese_cccd_payload() -> None:
    assert cccd.parse(PAYLOAD).format() == PAYLOAD
    assert not PAYLOAD.isascii()  # diacritics: the UTF-8 path is exercised


@pytest.mark.parametrize("engine", ["zxing", "zxing-default", "zbar"])
def test_clean_photo_decodes_to_the_exact_bytes(engine: str,
                                                images: dict[str, np.ndarray]) -> None:
    found = QrDecoder(engine).decode(images["clean"])  # type: ignore[arg-type]
    assert found is not None
    assert found.data == PAYLOAD.encode("utf-8")
    assert found.text() == PAYLOAD


def test_our_passes_recover_what_the_library_defaults_miss(
        images: dict[str, np.ndarray]) -> None:
    ours, default = QrDecoder("zxing"), QrDecoder("zxing-default")
    assert default.decode(images["small"]) is None
    found = ours.decode(images["small"])
    assert found is not None and found.data == PAYLOAD.encode()
    assert found.attempt.startswith("patch")
    noisy = ours.decode(images["noise"])
    assert noisy is not None and noisy.data == PAYLOAD.encode()


def test_strided_view_is_accepted_without_copy(images: dict[str, np.ndarray]) -> None:
    # Like picamera2's YUV420 buffer: Y rows followed by chroma, wider stride than width.
    h, w = images["clean"].shape
    buffer = np.zeros((h * 3 // 2, w + 64), np.uint8)
    buffer[:h, :w] = images["clean"]
    y = buffer[:h, :w]
    assert not y.flags["C_CONTIGUOUS"]
    found = QrDecoder("zxing").decode(y)
    assert found is not None and found.data == PAYLOAD.encode()


@pytest.mark.parametrize("engine", ["zxing", "zbar"])
def test_no_qr_gives_none(engine: str) -> None:
    rng = np.random.default_rng(1)
    assert QrDecoder(engine).decode(np.full((720, 1280), 128, np.uint8)) is None  # type: ignore[arg-type]
    noise = rng.integers(0, 256, (720, 1280), dtype=np.uint8)
    assert QrDecoder(engine).decode(noise) is None  # type: ignore[arg-type]


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError):
        QrDecoder("zxing").decode(np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(ValueError):
        QrDecoder("nope")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        GuideBox(0.5, 0, 0.4, 1)


def test_non_utf8_bytes_are_a_typed_error_without_the_data() -> None:
    d = Decoded(b"\xff\xfe001099012345", "zxing", "guide", 1.0)
    with pytest.raises(QrFormatError) as e:
        d.text()
    assert e.value.field == "payload" and "001099" not in str(e.value)
    assert "001099" not in repr(d)


def test_locate_finds_the_qr_patch(images: dict[str, np.ndarray]) -> None:
    box = GuideBox().crop(images["clean"])
    where = locate(box)
    assert where is not None
    top, bottom, left, right = where
    patch = box[top:bottom, left:right]
    assert patch.size < box.size / 4
    assert QrDecoder("zxing-default").decode(np.ascontiguousarray(patch)) is not None
    assert locate(np.full((400, 400), 200, np.uint8)) is None


def _frame_with_qr(payload: bytes, left: int, *, invert: bool = False,
                   mirror: bool = False) -> np.ndarray:
    """A 1280×720 grey frame with a clean QR (4 px/module, quiet zone) at column ``left``."""
    qr = segno.make_qr(payload, error="m", mode="byte")
    m = np.array([[bool(v) for v in row] for row in qr.matrix])
    if mirror:
        m = m[:, ::-1]
    sym = np.where(m, 30, 225).astype(np.uint8)
    if invert:
        sym = 255 - sym
    sym = np.pad(sym, 4, constant_values=30 if invert else 225)  # quiet zone: light modules
    sym = np.kron(sym, np.ones((4, 4), np.uint8))
    frame = np.full((720, 1280), 180, np.uint8)
    frame[200:200 + sym.shape[0], left:left + sym.shape[1]] = sym
    return frame


def test_a_qr_outside_the_guide_box_is_read_as_the_library_reads_it() -> None:
    # The guide box trims 10 % on each side; a hand-held card's QR strays there. The library's
    # defaults on the whole frame read it, so must we (the guide-box-first cascade did not).
    y = _frame_with_qr(PAYLOAD.encode(), left=0)
    assert QrDecoder("zxing-default").decode(y) is not None
    found = QrDecoder("zxing").decode(y)
    assert found is not None and found.data == PAYLOAD.encode() and found.attempt == "frame"


def test_inverted_and_mirrored_symbols_are_read() -> None:
    for invert, mirror in ((True, False), (False, True), (True, True)):
        found = QrDecoder("zxing").decode(_frame_with_qr(PAYLOAD.encode(), 500, invert=invert,
                                                          mirror=mirror))
        assert found is not None and found.data == PAYLOAD.encode(), (invert, mirror)


def test_never_worse_than_the_library_defaults(images: dict[str, np.ndarray]) -> None:
    ours, default = QrDecoder("zxing"), QrDecoder("zxing-default")
    frames = [*images.values(), _frame_with_qr(PAYLOAD.encode(), 1180 - 232),
              _frame_with_qr(b"\x00binary\xff", 40)]
    for y in frames:
        theirs = default.decode(y)
        if theirs is not None:
            found = ours.decode(y)
            assert found is not None and found.data == theirs.data


@pytest.mark.parametrize("engine", ["zxing", "zxing-default", "zbar"])
def test_every_symbol_in_the_frame_is_returned(engine: str) -> None:
    # A sticker's QR beside the card's (or a "double QR" printed inside another, as in
    # zxing-cpp's sample qrcode-2/16): the caller gets both, so the one it wants is never
    # hidden behind the one an engine happened to read first.
    other = b"https://example.invalid/desk-sticker"
    y = _frame_with_qr(PAYLOAD.encode(), 100)
    y[200:, 700:] = _frame_with_qr(other, 0)[200:, :580]
    found = QrDecoder(engine).decode_all(y)  # type: ignore[arg-type]
    assert sorted(d.data for d in found) == sorted([PAYLOAD.encode(), other])
    first = QrDecoder(engine).decode(y)  # type: ignore[arg-type]
    assert first is not None and first.data == found[0].data
    assert QrDecoder(engine).decode_all(np.full((720, 1280), 128, np.uint8)) == ()  # type: ignore[arg-type]
