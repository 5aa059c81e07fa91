"""DG2 in both face encodings: ISO/IEC 19794-5 (5F2E) and ISO/IEC 39794-5 (7F2E).

CI runs our writer's records (station.sim.lds, written from the standards' published
descriptions) and a passport carrying a 39794-5 DG2 through pcscd + vpcd. What no one here
wrote: with ``STATION_PUBLIC_EMRTD_DATA`` naming a directory holding ``dg2/icao-39794-5-ap/``
(ICAO's 39794-5 application-profile DG2 samples as gmrtd ships them in ``document/test_data``:
``ICAO_39794_5_AP_DG2_{AllFields,MandFields}.dat`` and the expected ``..._Face.jpg``) and
``doc/GB/DG2`` (gmrtd's imported UK document, 19794-5), those are parsed too (see README,
"Tested against")."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from station.drivers.reader.pcsc import PcscReader
from station.errors import LdsFormatError
from station.nfc import tlv
from station.nfc.access import AccessKey
from station.nfc.lds.chip import ChipData
from station.nfc.lds.dg2 import ISO_19794_5, ISO_39794_5, parse_dg2
from station.nfc.session import ChipSession
from station.sim import lds, passport
from station.sim.chip import CccdChip
from station.sim.vpcd import VpcdLink
from station.testing.pcscd import PcscdTestbed

PUBLIC = Path(os.environ.get("STATION_PUBLIC_EMRTD_DATA", "/nonexistent"))


@pytest.mark.parametrize("fmt", ["jpeg", "jpeg2000"])
@pytest.mark.parametrize("encoding", ["19794-5", "39794-5"])
def test_both_encodings_give_the_image_its_format_and_size(fmt: lds.ImageFormat,
                                                           encoding: str) -> None:
    image = lds.face_image(5, fmt, (120, 160))
    face = parse_dg2(lds.dg2(image, fmt, (120, 160), "F", encoding))  # type: ignore[arg-type]
    assert face.data == image and face.image_format == fmt
    assert (face.width, face.height) == (120, 160)
    assert face.encoding == (ISO_19794_5 if encoding == "19794-5" else ISO_39794_5)
    assert face.image().size == (120, 160)
    assert face.to_json() == {"format": fmt, "bytes": len(image), "encoding": face.encoding,
                              "width": 120, "height": 160}


def test_39794_5_structure_is_what_the_asn1_module_says() -> None:
    """Tags by hand from ID-ICAO-ISO-IEC-39794-5-ed-1-v1 (IMPLICIT TAGS): [APPLICATION 5]
    FaceImageDataBlock = 65, its [1] representationBlocks = A1, a RepresentationBlock
    SEQUENCE = 30, [1] imageRepresentation → [0] base → [0] 2D block = A1 A0 A0, whose [0]
    representationData2D OCTET STRING = 80."""
    image = lds.face_image(6, "jpeg", (64, 80))
    block = lds.iso39794_5_block(image, "jpeg", (64, 80))
    outer = tlv.decode(block)
    assert outer.tag == 0xA1
    data = outer.require(0x65)
    assert [c.tag for c in data.children()] == [0xA0, 0xA1]
    rep = data.require(0xA1).require(0x30)
    assert rep.require(0x80).value == b"\x00"
    two_d = rep.require(0xA1).require(0xA0).require(0xA0)
    assert two_d.require(0x80).value == image
    assert two_d.require(0xA1).require(0xA0).require(0x80).value == b"\x02"  # jpeg (2)


def test_39794_5_with_a_format_that_lies_is_refused() -> None:
    image = lds.face_image(7, "jpeg", (64, 80))
    block = lds.iso39794_5_block(image, "jpeg2000", (64, 80))
    dg2 = tlv.encode(0x75, tlv.encode(0x7F61, tlv.encode(0x02, b"\x01") + tlv.encode(
        0x7F60, tlv.encode(0xA1, b"") + tlv.encode(0x7F2E, block))))
    with pytest.raises(LdsFormatError, match="says jpeg2000, holds jpeg"):
        parse_dg2(dg2)


@pytest.mark.parametrize("cut", [10, 40, 200])
def test_truncated_39794_5_is_a_typed_error(cut: int) -> None:
    raw = lds.dg2(lds.face_image(8, "jpeg", (64, 80)), "jpeg", (64, 80), None, "39794-5")
    with pytest.raises(LdsFormatError):
        parse_dg2(raw[:-cut])


def test_19794_5_header_lengths_that_do_not_add_up_still_give_the_image() -> None:
    image = lds.face_image(9, "jpeg", (64, 80))
    record = bytearray(lds.iso19794_5_record(image, "jpeg", (64, 80)))
    record[14:18] = (len(record) + 100).to_bytes(4, "big")  # facial block length too long
    dg2 = tlv.encode(0x75, tlv.encode(0x7F61, tlv.encode(0x02, b"\x01") + tlv.encode(
        0x7F60, tlv.encode(0xA1, b"") + tlv.encode(0x5F2E, bytes(record)))))
    face = parse_dg2(dg2)
    assert face.data == image and face.width is None


@pytest.mark.skipif(not (PUBLIC / "dg2" / "icao-39794-5-ap").is_dir(),
                    reason="STATION_PUBLIC_EMRTD_DATA has no dg2/icao-39794-5-ap (ICAO samples)")
@pytest.mark.parametrize("name, size", [("AllFields", (572, 731)), ("MandFields", (None, None))])
def test_icao_39794_5_application_profile_samples(name: str,
                                                  size: tuple[int | None, int | None]) -> None:
    d = PUBLIC / "dg2" / "icao-39794-5-ap"
    face = parse_dg2((d / f"ICAO_39794_5_AP_DG2_{name}.dat").read_bytes())
    assert face.encoding == ISO_39794_5 and face.image_format == "jpeg2000"
    assert face.data == (d / "ICAO_39794_5_AP_DG2_Face.jpg").read_bytes()  # what gmrtd expects
    # The AllFields sample's imageSizeBlock states 572 × 731 for a 413 × 531 image: the size
    # reported is the record's, the decoded one is the image's.
    assert (face.width, face.height) == size
    assert face.image().size == (413, 531)


@pytest.mark.skipif(not (PUBLIC / "doc" / "GB" / "DG2").is_file(),
                    reason="STATION_PUBLIC_EMRTD_DATA has no doc/GB/DG2 (gmrtd's UK document)")
def test_real_uk_dg2_in_19794_5() -> None:
    face = parse_dg2((PUBLIC / "doc" / "GB" / "DG2").read_bytes())
    assert face.encoding == ISO_19794_5 and face.image_format == "jpeg"
    assert (face.width, face.height) == face.image().size == (384, 480)


def test_a_passport_with_a_39794_5_dg2_read_through_pcscd(pcscd: PcscdTestbed) -> None:
    p = passport.issue(passport.generate(31, state="FRA"),
                       passport.PassportOptions(face_encoding="39794-5"))
    link = VpcdLink(CccdChip(p.image, p.options), pcscd.slot_port(1))
    link.insert()
    conn = PcscReader(pcscd.readers[1]).wait_for_card(10)
    try:
        read = ChipSession(AccessKey.parse_mrz_key(p.traveller.mrz_key),
                           ("COM", "DG1", "DG2", "SOD")).read(conn)
    finally:
        conn.close()
        link.remove()
    face = ChipData.from_files(read.protocol, read.files, read.skipped).face
    assert face is not None and face.encoding == ISO_39794_5
    assert (face.width, face.height) == (240, 320) and face.image().size == (240, 320)
