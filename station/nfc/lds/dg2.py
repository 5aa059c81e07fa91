"""DG2: the face (ICAO 9303-10 §4.7.2; ISO/IEC 19794-5 inside a CBEFF biometric template).

``75 { 7F61 { 02 count, 7F60 { A1 header, 5F2E or 7F2E biometric data block } } }``; the data
block is an ISO 19794-5 record (``FAC\\0``) whose image is JPEG or JPEG 2000.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

from station.errors import LdsFormatError
from station.nfc import tlv

if TYPE_CHECKING:
    from PIL.Image import Image

JPEG_SOI = b"\xff\xd8\xff"
JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
J2K_CODESTREAM = b"\xff\x4f\xff\x51"


@dataclass(frozen=True, repr=False)
class Face:
    image_format: str
    """"jpeg" or "jpeg2000"."""
    data: bytes

    def __repr__(self) -> str:
        return f"Face({self.image_format}, {len(self.data)} bytes)"

    def image(self) -> Image:
        from PIL import Image, UnidentifiedImageError

        try:
            img = Image.open(io.BytesIO(self.data))
            img.load()
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise LdsFormatError(f"DG2 {self.image_format} image does not decode: "
                                 f"{type(exc).__name__}") from None
        return img


def _image_in(record: bytes) -> Face:
    for sig, fmt in ((JPEG_SOI, "jpeg"), (JP2_SIGNATURE, "jpeg2000"),
                     (J2K_CODESTREAM, "jpeg2000")):
        # The ISO 19794-5 record header is variable (feature points); the image starts at its
        # signature, which the fixed header fields cannot contain before offset 46.
        pos = record.find(sig, 14)
        if pos >= 0:
            return Face(fmt, record[pos:])
    raise LdsFormatError("DG2 holds neither a JPEG nor a JPEG 2000 image")


def parse_dg2(data: bytes) -> Face:
    root = tlv.decode(data, trailing=True)
    if root.tag != 0x75:
        raise LdsFormatError("DG2 does not start with tag 75")
    group = root.require(0x7F61)
    template = group.require(0x7F60)
    block = template.find(0x5F2E) or template.find(0x7F2E)
    if block is None:
        raise LdsFormatError("DG2 has no biometric data block")
    record = block.value
    if not record.startswith(b"FAC\x00"):
        raise LdsFormatError("DG2 data block is not an ISO 19794-5 face record")
    return _image_in(record)
