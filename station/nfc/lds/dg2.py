"""DG2: the face (ICAO 9303-10 §4.7.2), in either of the two encodings documents use.

``75 { 7F61 { 02 count, 7F60 { A1 biometric header, <biometric data block> } } }`` where the
data block is

- ``5F2E``: an ISO/IEC 19794-5:2005 face record (``FAC\\0`` ``010\\0``, binary header, then a
  JPEG or JPEG 2000 image), as most documents issued so far carry; or
- ``7F2E``: an ISO/IEC 39794-5 face image data block (DER, IMPLICIT TAGS), the encoding of
  newer documents and of ICAO's 39794-5 application-profile samples:
  ``A1 { 65 FaceImageDataBlock { [0] versionBlock, [1] representationBlocks { SEQUENCE
  RepresentationBlock { [0] id, [1] imageRepresentation { [0] base { [0] 2D block {
  [0] representationData2D (the image), [1] imageInformation2DBlock { [0] imageDataFormat
  { [0] code: jpeg 2 / jpeg2000Lossy 3 / jpeg2000Lossless 4 }, …, [7] imageSizeBlock
  { [0] width, [1] height } … } } } } } } } }`` — from the ASN.1 module the ICAO/ISO working
  group publishes (ID-ICAO-ISO-IEC-39794-5-ed-1-v1) and the wrapper the ICAO samples use.

Either way the image is extracted with its format, its size in pixels as the record states it,
and the encoding.
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

ISO_19794_5 = "ISO/IEC 19794-5"
ISO_39794_5 = "ISO/IEC 39794-5"

# ISO/IEC 19794-5:2005: general header 14 bytes, facial record header 20, feature point 8,
# image information 12.
_FAC_GENERAL, _FAC_FACIAL, _FAC_POINT, _FAC_IMAGE_INFO = 14, 20, 8, 12
_FAC_IMAGE_TYPES = {0: "jpeg", 1: "jpeg2000"}
_39794_FORMATS = {2: "jpeg", 3: "jpeg2000", 4: "jpeg2000"}


@dataclass(frozen=True, repr=False)
class Face:
    image_format: str
    """"jpeg" or "jpeg2000"."""
    data: bytes
    encoding: str = ISO_19794_5
    """The face record's standard: "ISO/IEC 19794-5" or "ISO/IEC 39794-5"."""
    width: int | None = None
    height: int | None = None
    """Image size in pixels as the record states it (None when it does not)."""

    def __repr__(self) -> str:
        return f"Face({self.encoding}, {self.image_format}, {len(self.data)} bytes)"

    def to_json(self) -> dict[str, object]:
        return {"format": self.image_format, "bytes": len(self.data),
                "encoding": self.encoding, "width": self.width, "height": self.height}

    def image(self) -> Image:
        from PIL import Image, UnidentifiedImageError

        try:
            img = Image.open(io.BytesIO(self.data))
            img.load()
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise LdsFormatError(f"DG2 {self.image_format} image does not decode: "
                                 f"{type(exc).__name__}") from None
        return img


def _sniff(image: bytes) -> str | None:
    if image.startswith(JPEG_SOI):
        return "jpeg"
    if image.startswith(JP2_SIGNATURE) or image.startswith(J2K_CODESTREAM):
        return "jpeg2000"
    return None


def _image_in(record: bytes) -> tuple[str, bytes]:
    for sig, fmt in ((JPEG_SOI, "jpeg"), (JP2_SIGNATURE, "jpeg2000"),
                     (J2K_CODESTREAM, "jpeg2000")):
        pos = record.find(sig, _FAC_GENERAL)
        if pos >= 0:
            return fmt, record[pos:]
    raise LdsFormatError("DG2 holds neither a JPEG nor a JPEG 2000 image")


def parse_iso19794_5(record: bytes) -> Face:
    """The first facial image of an ISO/IEC 19794-5 face record."""
    if not record.startswith(b"FAC\x00"):
        raise LdsFormatError("DG2 data block is not an ISO 19794-5 face record")
    if record[4:8] == b"010\x00" and len(record) >= _FAC_GENERAL + _FAC_FACIAL:
        facial = record[_FAC_GENERAL:]
        block_len = int.from_bytes(facial[0:4], "big")
        points = int.from_bytes(facial[4:6], "big")
        info = _FAC_FACIAL + points * _FAC_POINT
        start = info + _FAC_IMAGE_INFO
        if len(facial) >= start and start <= block_len <= len(facial):
            image = facial[start:block_len]
            declared = _FAC_IMAGE_TYPES.get(facial[info + 1])
            fmt = _sniff(image)
            if fmt is not None and declared in (fmt, None):
                width = int.from_bytes(facial[info + 2:info + 4], "big")
                height = int.from_bytes(facial[info + 4:info + 6], "big")
                return Face(fmt, image, ISO_19794_5, width or None, height or None)
    # Another version (2011's 030) or a header whose lengths do not add up (documents exist
    # whose block length counts wrongly): the image still starts at its signature. Its size is
    # then not taken from fields this parser could not place.
    fmt, image = _image_in(record)
    return Face(fmt, image, ISO_19794_5)


def parse_iso39794_5(block: bytes) -> Face:
    """The image of an ISO/IEC 39794-5 face image data block (the value of DO'7F2E')."""
    try:
        root = tlv.decode(block, trailing=True)
        data = root.find(0x65) if root.tag == 0xA1 else root
        if data is None or data.tag != 0x65:
            raise LdsFormatError("DG2 data block is not an ISO 39794-5 face image data block")
        reps = data.require(0xA1).children()
        if not reps or reps[0].tag != 0x30:
            raise LdsFormatError("ISO 39794-5 face data has no representation block")
        # imageRepresentation [1] → base [0] → imageRepresentation2DBlock [0]
        rep2d = reps[0].require(0xA1).require(0xA0).require(0xA0)
        image = rep2d.require(0x80).value
        info = rep2d.require(0xA1)
        fmt_block = info.require(0xA0)
        code = fmt_block.find(0x80)
        declared = _39794_FORMATS.get(int.from_bytes(code.value, "big")) if code else None
        size = info.find(0xA7)
        width = height = None
        if size is not None:
            w, h = size.find(0x80), size.find(0x81)
            width = int.from_bytes(w.value, "big") if w is not None else None
            height = int.from_bytes(h.value, "big") if h is not None else None
    except LdsFormatError as exc:
        raise LdsFormatError(f"DG2 (ISO 39794-5): {exc}") from None
    fmt = _sniff(image)
    if fmt is None:
        raise LdsFormatError("DG2 (ISO 39794-5) holds neither a JPEG nor a JPEG 2000 image")
    if declared is not None and declared != fmt:
        raise LdsFormatError(f"DG2 (ISO 39794-5) says {declared}, holds {fmt}")
    return Face(fmt, image, ISO_39794_5, width, height)


def parse_dg2(data: bytes) -> Face:
    root = tlv.decode(data, trailing=True)
    if root.tag != 0x75:
        raise LdsFormatError("DG2 does not start with tag 75")
    group = root.require(0x7F61)
    template = group.require(0x7F60)
    block = template.find(0x5F2E)
    if block is not None:
        return parse_iso19794_5(block.value)
    block = template.find(0x7F2E)
    if block is None:
        raise LdsFormatError("DG2 has no biometric data block")
    if block.value.startswith(b"FAC\x00"):
        return parse_iso19794_5(block.value)  # a 19794-5 record under the constructed tag
    return parse_iso39794_5(block.value)
