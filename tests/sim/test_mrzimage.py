"""The synthetic MRZ frames: valid MRZ texts, deterministic renders, every distortion applied."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from station.mrz import check_digit
from station.mrz.parse import parse_mrz
from station.sim.mrzimage import (
    DISTORTIONS,
    FRAME,
    TD1_SPECIMEN,
    TD2_SPECIMEN,
    TD3_SPECIMEN,
    Distortion,
    cccd_td1,
    generated_set,
    random_td2,
    random_td3,
    render_document,
    render_frame,
)


@pytest.mark.parametrize("seed", range(20))
def test_generated_texts_pass_every_check_digit(seed: int) -> None:
    assert parse_mrz(cccd_td1(seed)).format == "TD1"
    assert parse_mrz(random_td3(seed)).format == "TD3"
    assert parse_mrz(random_td2(seed)).format == "TD2"


def test_cccd_document_number_is_last_nine_digits_of_the_id() -> None:
    m = parse_mrz(cccd_td1(7))
    assert m.issuer == "VNM"
    assert m.document_number == m.id_number[3:] == m.optional1[3:12]
    assert m.optional1[12:] == "<<" + check_digit(m.id_number)  # the issued layout


def _digest(img: object) -> str:
    return hashlib.sha256(np.asarray(img).tobytes()).hexdigest()


def test_frames_are_deterministic_grey_1280x720() -> None:
    a = render_frame(TD1_SPECIMEN, DISTORTIONS["combined"], seed=3)
    b = render_frame(TD1_SPECIMEN, DISTORTIONS["combined"], seed=3)
    assert a.mode == "L" and a.size == FRAME
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(render_frame(TD1_SPECIMEN, DISTORTIONS["combined"], seed=4))


def test_each_distortion_changes_the_frame() -> None:
    clean = np.asarray(render_frame(TD3_SPECIMEN, Distortion(), seed=1), np.float32)
    for name, d in DISTORTIONS.items():
        if name == "clean":
            continue
        frame = np.asarray(render_frame(TD3_SPECIMEN, d, seed=1), np.float32)
        assert np.abs(frame - clean).mean() > 0.5, name


def test_low_contrast_lowers_contrast() -> None:
    clean = np.asarray(render_frame(TD2_SPECIMEN, Distortion(), seed=2), np.float32)
    low = np.asarray(render_frame(TD2_SPECIMEN, Distortion(contrast=0.35), seed=2), np.float32)
    assert low.std() < clean.std() * 0.5


def test_document_has_mrz_ink_at_the_bottom() -> None:
    doc = np.asarray(render_document(TD1_SPECIMEN))
    h = doc.shape[0]
    # The MRZ's dark OCR-B strokes sit in the bottom third of a TD1.
    assert (doc[2 * h // 3:] < 60).sum() > 2000
    with pytest.raises(ValueError, match="3×30"):
        render_document("P<UTO\nSHORT")


def test_generated_set_covers_every_distortion_and_format() -> None:
    samples = generated_set(per_distortion=4, distortions={"clean": Distortion(),
                                                           "blur": Distortion(blur=1.0)})
    assert [s.distortion for s in samples] == ["clean"] * 4 + ["blur"] * 4
    assert {parse_mrz(s.text).format for s in samples} == {"TD1", "TD2", "TD3"}
    assert len({s.name for s in samples}) == 8
