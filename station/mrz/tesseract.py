"""The baseline the MRZ benchmark compares against: Tesseract 5 with its default settings.

``tesserocr`` (the ``mrz`` extra) bundles libtesseract; the ``eng`` model comes from the Debian
package ``tesseract-ocr`` (nothing is downloaded at run time). Default settings means automatic
page segmentation, no character whitelist: we only pick the lines that have an MRZ's length out
of what it reads and hand them to the same :func:`~station.mrz.parse.parse_mrz` (check digits,
proven-only repair) as our reader, so the comparison is the OCR alone.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from station.errors import MrzError, MrzNotFound
from station.mrz.parse import Mrz, parse_mrz

TESSDATA = Path("/usr/share/tesseract-ocr/5/tessdata")
_LENGTHS = {30: 3, 36: 2, 44: 2}


class TesseractUnavailable(MrzError):
    """tesserocr or the eng model is not installed."""


class TesseractReader:
    """One Tesseract instance (not thread-safe: calls are serialised)."""

    def __init__(self, tessdata: Path = TESSDATA, lang: str = "eng") -> None:
        try:
            import tesserocr
        except ImportError:
            raise TesseractUnavailable("engine", "tesserocr is not installed "
                                       "(pip install 'station[mrz]')") from None
        if not (tessdata / f"{lang}.traineddata").exists():
            raise TesseractUnavailable("engine", f"{lang}.traineddata not in {tessdata} "
                                       "(apt-get install tesseract-ocr)")
        self._api: Any = tesserocr.PyTessBaseAPI(path=str(tessdata) + "/", lang=lang)
        self._lock = threading.Lock()

    def text(self, image: Any) -> str:
        img = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
        with self._lock:
            self._api.SetImage(img.convert("L"))
            return str(self._api.GetUTF8Text())

    def read_mrz(self, image: Any) -> Mrz:
        """Tesseract's text → the first run of 2 or 3 (about) MRZ-length lines that parses."""
        lines = ["".join(line.split()).upper() for line in self.text(image).splitlines()]
        lines = [line for line in lines if line]
        last: MrzError = MrzNotFound("zone", "no MRZ-length lines in the engine's text")
        for i in range(len(lines)):
            for width, count in _LENGTHS.items():
                group = lines[i:i + count]
                # Lenient on filler counts (a few '<' more or less at the end of a line), so
                # the comparison is about reading characters: check digits still decide.
                if len(group) != count or any(abs(len(g) - width) > 3 for g in group):
                    continue
                fitted = [g[:width].ljust(width, "<") for g in group]
                try:
                    return parse_mrz("\n".join(fitted), correct=True)
                except MrzError as exc:
                    last = exc
        raise last

    def close(self) -> None:
        self._api.End()
