"""Decoding generated card photographs with each engine; exact UTF-8 bytes or nothing."""

from __future__ import annotations

import numpy as np
import pytest
import segno

from station.errors import QrFormatError
from station.qr import cccd
from station.qr.decode import Decoded, GuideBox, QrDecoder, edge_density, locate
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


def test_the_patch_is_the_dense_region_around_the_peak_and_capped() -> None:
    # Dense everywhere: the region is cut at 10 cells each side of the peak, plus the margin
    # (23 cells of 16 px); two dense blocks apart: only the one holding the peak.
    rng = np.random.default_rng(2)
    noise = rng.integers(0, 256, (720, 1024), dtype=np.uint8)
    top, bottom, left, right = locate(noise)  # type: ignore[misc]
    assert bottom - top <= 23 * 16 and right - left <= 23 * 16
    two = np.full((720, 1024), 128, np.uint8)
    two[96:224, 96:224] = noise[96:224, 96:224]          # 8×8 cells
    two[400:480, 700:780] = noise[400:480, 700:780] // 2  # 5×5 cells, weaker steps
    assert locate(two) == (80, 240, 80, 240)


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


def _edge_density_by_arithmetic(y: np.ndarray) -> np.ndarray:
    """The definition: 2×2 means (rounded), a step > 24 to the left or upper neighbour is an
    edge, edges counted per 8×8 cell."""
    hb, wb = y.shape[0] // 16, y.shape[1] // 16
    a = y[:hb * 16, :wb * 16].astype(np.int32)
    half = (a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2] + 2) >> 2
    edges = np.zeros(half.shape, np.int32)
    edges[:, 1:] += np.abs(np.diff(half, axis=1)) > 24
    edges[1:, :] += np.abs(np.diff(half, axis=0)) > 24
    return edges.reshape(hb, 8, wb, 8).sum(axis=(1, 3))


def test_edge_density_is_the_per_cell_edge_count(images: dict[str, np.ndarray]) -> None:
    rng = np.random.default_rng(7)
    # Noise has steps of every size (cells up to the 128-edge maximum); odd sizes and a strided
    # view check the cropping to whole cells.
    noise = rng.integers(0, 256, (723, 1111), dtype=np.uint8)
    for y in (*images.values(), noise, images["clean"][:, 101:900]):
        density = edge_density(y)
        assert density is not None
        assert np.array_equal(density, _edge_density_by_arithmetic(y))
    assert int(edge_density(noise).max()) > 100  # type: ignore[union-attr]
    assert edge_density(np.zeros((20, 400), np.uint8)) is None


def _unreadable_card_frame() -> np.ndarray:
    """A 1280×720 frame where no pass decodes: a card whose QR-sized patch is random 2-px
    modules (QR-like edges, no finder pattern), under sensor noise, so every pass runs."""
    rng = np.random.default_rng(5)
    frame = np.full((720, 1280), 90.0)
    frame[160:560, 340:940] = 200
    modules = np.where(rng.random((64, 64)) < 0.5, 40, 210)
    frame[260:388, 576:704] = np.kron(modules, np.ones((2, 2)))
    return np.clip(frame + rng.normal(0, 4, frame.shape), 0, 255).astype(np.uint8)


def test_every_pass_runs_on_a_frame_none_decodes() -> None:
    # Where nothing decodes, every pass runs, and those frames set the p95 (what they cost
    # beside the library's pass is `station bench qr`'s figure, not a timed test's): the patch
    # is found and read, and nothing is reported.
    y = _unreadable_card_frame()
    assert locate(GuideBox().crop(y)) is not None
    assert QrDecoder("zxing").decode_all(y) == ()


@pytest.mark.parametrize("seed", [4, 90, 99])
def test_the_patch_reads_desk_camera_frames_the_library_misses(seed: int) -> None:
    # Frames of `station bench qr`'s desk-camera set (1.5–2.4 px per module, blurred): the
    # patch sharpened before upscaling reads them; sharpening after upscaling (the clipped
    # over- and undershoots lost) did not, nor do the library's defaults.
    from station.bench.qr import deskcam_samples

    sample = next(deskcam_samples(1, seed))
    assert QrDecoder("zxing-default").decode(sample.y) is None
    found = QrDecoder("zxing").decode(sample.y)
    assert found is not None and found.data == sample.data
    assert found.attempt.startswith("patch")


def test_the_patch_is_prepared_as_pillow_would_prepare_it() -> None:
    # The sharpening and upscaling are shifted adds in numpy for speed; the result must be the
    # Pillow pipeline's, pixel for pixel (GaussianBlur(1), float unsharp mask, bicubic ×2,
    # F → L), so the reads do not move.
    from PIL import Image, ImageFilter

    from station.qr.decode import Scratch, _prepare

    rng = np.random.default_rng(11)
    scratch = Scratch()
    for shape in ((48, 53), (160, 144), (37, 400), (200, 240)):  # one too wide to upscale
        patch = rng.integers(0, 256, shape, dtype=np.uint8)
        patch[: shape[0] // 2] //= 3  # a step, for over- and undershoots
        img = Image.fromarray(patch)
        sharp = (np.asarray(img, np.float32) * 3
                 - 2 * np.asarray(img.filter(ImageFilter.GaussianBlur(1)), np.float32))
        out = Image.fromarray(sharp, "F")
        if shape[1] < 360:
            out = out.resize((shape[1] * 2, shape[0] * 2), Image.Resampling.BICUBIC)
        expected = np.asarray(out.convert("L")).astype(np.int16)
        got = _prepare(patch, scratch).astype(np.int16)
        assert got.shape == expected.shape
        # float sums in another order: a value on an integer boundary may land 1 lower
        assert int(np.abs(got - expected).max()) <= 1
        assert np.count_nonzero(got != expected) <= expected.size // 10_000 + 1


def test_the_patch_search_near_an_undecoded_symbol_finds_the_whole_box_patch() -> None:
    # Pass 1 reports symbols it found but could not decode; the patch is then searched only
    # around the largest, on the guide box's cell grid: the same patch as over the whole box.
    import zxingcpp

    from station.bench.qr import deskcam_samples
    from station.qr.decode import _around, _largest

    y = next(deskcam_samples(1, 99)).y
    found = zxingcpp.read_barcodes(y, formats=zxingcpp.BarcodeFormat.QRCode,
                                   return_errors=True)
    assert found and not any(b.valid for b in found)
    near = _largest(b.position for b in found)
    assert near is not None
    guide = GuideBox()
    box = guide.crop(y)
    top, bottom, left, right = _around(near, (round(1280 * guide.left), 0), box.shape)
    assert top % 16 == 0 and left % 16 == 0
    assert (bottom - top) * (right - left) < box.size / 2
    where = locate(box[top:bottom, left:right])
    assert where is not None
    assert (where[0] + top, where[1] + top, where[2] + left, where[3] + left) == locate(box)


def test_the_overlapped_passes_read_what_the_serial_cascade_reads() -> None:
    # With `overlap` the patch is read on a helper thread while the library's pass runs, and
    # searched across the whole guide box (the serial cascade searches near a symbol pass 1
    # could not decode): frame for frame the same symbols from the same pass, the patch's
    # result taken only where pass 1 decoded nothing.
    import threading

    from station.bench.qr import deskcam_samples

    overlapped, serial = QrDecoder("zxing", overlap=True), QrDecoder("zxing", overlap=False)
    threads: set[str] = set()
    patch_read = overlapped._patch_read

    def recorded(*args: object) -> object:
        threads.add(threading.current_thread().name)
        return patch_read(*args)  # type: ignore[arg-type]

    overlapped._patch_read = recorded  # type: ignore[assignment]
    attempts = set()
    for sample in deskcam_samples(12, 90):
        got, expected = overlapped.decode_all(sample.y), serial.decode_all(sample.y)
        assert [(d.data, d.attempt) for d in got] == [(d.data, d.attempt) for d in expected]
        attempts.add(got[0].attempt if got else None)
    assert {"frame", "patch-histogram", None} <= attempts  # every outcome was compared
    assert threads and threading.current_thread().name not in threads
    # A small image (nothing decodes: every pass runs): the library's pass is shorter than the
    # patch's, so no helper.
    threads.clear()
    small = np.ascontiguousarray(_unreadable_card_frame()[180:540, 320:960])
    assert overlapped.decode_all(small) == ()
    assert threads == {threading.current_thread().name}
