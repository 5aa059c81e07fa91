"""Our decoder on real photographs from elsewhere, next to the library's defaults and pyzbar.

Runs only when ``STATION_QR_PHOTOS`` names a local copy of zxing-cpp's QR regression samples
(Apache-2.0, github.com/zxing-cpp/zxing-cpp ``test/samples/qrcode-1`` … ``qrcode-6``: each image
beside a ``.txt`` with the symbol's text). The images are not ours to commit; see README,
"QR benchmark".
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from station.bench.qr import PHOTO_VARIANTS, photo_samples, reader, score
from station.qr.decode import Engine, QrDecoder

ENV = "STATION_QR_PHOTOS"
ROOT = Path(os.environ[ENV]) if os.environ.get(ENV) else None
pytestmark = pytest.mark.skipif(
    ROOT is None, reason=f"{ENV} does not name a copy of zxing-cpp's QR sample photographs")


def test_ours_reads_every_photo_the_library_defaults_read_and_is_not_behind_pyzbar() -> None:
    assert ROOT is not None
    samples = list(photo_samples(ROOT, PHOTO_VARIANTS))
    assert len(samples) >= 600  # 137 photos × (as shot, 3 turns, mirrored, inverted)

    ours, default = QrDecoder("zxing"), QrDecoder("zxing-default")
    for s in samples:
        theirs = {d.data for d in default.decode_all(s.y)}
        if theirs:
            assert theirs <= {d.data for d in ours.decode_all(s.y)}, s.group
    engines: tuple[Engine, ...] = ("zxing", "zxing-default", "zbar")
    scores = {e: score(reader(e), samples) for e in engines}
    assert scores["zxing"].right >= max(scores["zxing-default"].right, scores["zbar"].right)
    # qrcode-2/16 holds two genuine symbols (a "double QR") and its .txt names the inner one:
    # reporting every symbol, as the library does, reads it right; nothing else is wrong.
    assert scores["zxing"].wrong == 0
    assert scores["zxing"].also >= 1
