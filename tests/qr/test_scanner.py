"""Live scanning through the replay camera: events, debounce, frames dropped not queued."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import segno
from PIL import Image

from station.drivers.camera.replay import ReplayCamera
from station.qr.decode import Decoded, QrDecoder
from station.qr.scanner import Debouncer, QrEvent, Scanner, qr_event
from station.sim import qrimage

A, B = qrimage.synthetic_payload(1), qrimage.synthetic_payload(2)


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A card held for 4 frames, an empty desk, another card for 3 frames."""
    root = tmp_path_factory.mktemp("shots")
    frames = ([qrimage.render(A, "clean", seed=i + 1) for i in range(4)]
              + [np.full((720, 1280), 90, np.uint8)]
              + [qrimage.render(B, "noise", seed=2) for _ in range(3)])
    for i, y in enumerate(frames):
        Image.fromarray(y).save(root / f"{i:03d}.png")
    return root


def run(camera: ReplayCamera, decoder: QrDecoder) -> tuple[list[QrEvent], Scanner]:
    events: list[QrEvent] = []
    scanner = Scanner(camera, decoder, events.append, debounce_s=60).start()
    assert scanner.wait(30)
    scanner.stop()
    return events, scanner


def test_each_card_shown_is_one_event(shots: Path) -> None:
    events, scanner = run(ReplayCamera(shots, fps=None), QrDecoder("zxing"))
    assert [e.raw for e in events] == [A, B]
    assert all(e.payload is not None and e.error is None for e in events)
    assert scanner.stats.frames == 8 and scanner.stats.events == 2
    assert scanner.stats.decoded_frames + scanner.stats.dropped == 8


class SlowDecoder(QrDecoder):
    def decode_all(self, y: np.ndarray) -> tuple[Decoded, ...]:
        time.sleep(0.15)
        return super().decode_all(y)


def test_a_slow_decoder_drops_frames_and_never_blocks_capture(shots: Path) -> None:
    camera = ReplayCamera(shots, fps=50)
    events, scanner = run(camera, SlowDecoder("zxing"))
    # Capture ran at the camera's pace (8 frames at 50 fps), the decoder saw only some frames.
    assert scanner.stats.frames == 8
    assert scanner.stats.dropped >= 3
    assert scanner.stats.decoded_frames + scanner.stats.dropped == 8
    assert B in [e.raw for e in events]  # the newest frame always gets decoded


def test_debouncer_by_payload_with_a_fake_clock() -> None:
    now = [0.0]
    d = Debouncer(3.0, clock=lambda: now[0])
    assert d.is_new(b"a")
    for _ in range(10):  # held in view for 5 s: still one event
        now[0] += 0.5
        assert not d.is_new(b"a")
    assert d.is_new(b"b")
    now[0] += 3.5  # out of view long enough: shown again is a new event
    assert d.is_new(b"a")


def test_events_for_invalid_payloads_carry_typed_errors() -> None:
    bad = qr_event(b"hello|world")
    assert bad.payload is None and bad.error is not None and bad.error.field == "payload"
    assert qr_event(b"\xff\xfe").raw is None
    ok = qr_event(A.encode())
    assert ok.payload is not None and ok.payload.chip_keys().can == A[6:12]
    assert A[:12] not in repr(ok)


def test_two_symbols_in_view_are_two_events(tmp_path: Path) -> None:
    # The card's QR and another one (a sticker on the desk) in the same frames: both reported,
    # once each; the card's is not hidden behind the one the engine reads first.
    frame = np.full((720, 1280), 180, np.uint8)
    for payload, left in ((A, 60), (B, 700)):
        qr = segno.make_qr(payload.encode(), error="m", mode="byte")
        sym = np.kron(np.pad(np.where(np.array(qr.matrix, bool), 30, 225).astype(np.uint8), 4,
                             constant_values=225), np.ones((3, 3), np.uint8))
        frame[150:150 + sym.shape[0], left:left + sym.shape[1]] = sym
    for i in range(3):
        Image.fromarray(frame).save(tmp_path / f"{i:03d}.png")
    events, scanner = run(ReplayCamera(tmp_path, fps=None), QrDecoder("zxing"))
    assert sorted(e.raw or "" for e in events) == sorted([A, B])
    assert scanner.stats.events == 2
