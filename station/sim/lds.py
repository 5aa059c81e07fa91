"""Encoders for the files of a virtual CCCD (ICAO 9303-10 LDS 1.7, BSI TR-03110-3 SecurityInfos).

Every function returns the complete file content (tag, length, value) as the chip serves it:
EF.COM, EF.CardAccess, DG1 (TD1 MRZ), DG2 (a drawn face in an ISO 19794-5 record inside a CBEFF
template), DG13 (the Vietnamese citizen details), DG14 (chip-authentication public key),
DG15 (active-authentication public key). EF.SOD comes from the trust helper's
``station.sim.pki.build_sod``.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from station.nfc.crypto import encode_oid
from station.nfc.lds.secinfo import BSI_DE, ID_AA, ID_CA, ID_PACE, ID_PK, ID_TA
from station.nfc.tlv import encode as tlv

# LDS file tags (ICAO 9303-10 table 33) by data group number.
DG_TAGS: dict[int, int] = {
    1: 0x61, 2: 0x75, 3: 0x63, 4: 0x76, 5: 0x65, 6: 0x66, 7: 0x67, 8: 0x68, 9: 0x69, 10: 0x6A,
    11: 0x6B, 12: 0x6C, 13: 0x6D, 14: 0x6E, 15: 0x6F, 16: 0x70,
}

# The object identifiers are the reader's (station.nfc.lds.secinfo): one definition for both
# sides; the ".2" arcs select ECDH (PK, CA) and ECDH Generic Mapping (PACE).
ID_PK_ECDH = ID_PK + ".2"
ID_CA_ECDH = ID_CA + ".2"
ID_PACE_ECDH_GM = ID_PACE + ".2"
ECDSA_PLAIN_SHA256 = BSI_DE + ".1.1.4.1.3"
UTF8_OID = "1.0.10646.1.0.8"

CipherName = Literal["3DES", "AES-128", "AES-192", "AES-256"]
# Last OID arc of id-PACE-* / id-CA-* (TR-03110-3 §A.1.1).
CIPHER_ARC: dict[str, int] = {"3DES": 1, "AES-128": 2, "AES-192": 3, "AES-256": 4}
# Standardized domain parameter ids (ICAO 9303-11 §9.5.1).
CURVE_PARAMETER_IDS: dict[str, int] = {
    "secp256r1": 12, "brainpoolP256r1": 13, "secp384r1": 15, "brainpoolP384r1": 16,
    "brainpoolP512r1": 17, "secp521r1": 18,
}
_EC_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "secp256r1": ec.SECP256R1, "brainpoolP256r1": ec.BrainpoolP256R1,
    "secp384r1": ec.SECP384R1, "brainpoolP384r1": ec.BrainpoolP384R1,
    "brainpoolP512r1": ec.BrainpoolP512R1, "secp521r1": ec.SECP521R1,
}


def ec_curve(name: str) -> ec.EllipticCurve:
    try:
        return _EC_CURVES[name]()
    except KeyError:
        raise ValueError(f"unsupported curve {name!r}") from None


def _int(n: int) -> bytes:
    return tlv(0x02, n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big", signed=True))


def _oid(oid: str) -> bytes:
    return tlv(0x06, encode_oid(oid))


def _seq(*parts: bytes) -> bytes:
    return tlv(0x30, b"".join(parts))


def _set(parts: Iterable[bytes]) -> bytes:
    # DER SET OF: elements sorted by their encoding (X.690 §11.6).
    return tlv(0x31, b"".join(sorted(parts)))


# --- EF.COM, EF.CardAccess, DG14 ------------------------------------------------------------


def ef_com(data_groups: Sequence[int]) -> bytes:
    """EF.COM: LDS version 1.7, Unicode 4.0.0, the tag list of the data groups present."""
    tags = bytes(DG_TAGS[n] for n in data_groups)
    return tlv(0x60, tlv(0x5F01, b"0107") + tlv(0x5F36, b"040000") + tlv(0x5C, tags))


@dataclass(frozen=True)
class PaceOption:
    curve: str = "brainpoolP256r1"
    cipher: CipherName = "AES-128"

    @property
    def oid(self) -> str:
        return f"{ID_PACE_ECDH_GM}.{CIPHER_ARC[self.cipher]}"

    @property
    def parameter_id(self) -> int:
        return CURVE_PARAMETER_IDS[self.curve]

    def info(self) -> bytes:
        """PACEInfo ::= SEQUENCE { protocol, version 2, parameterId }."""
        return _seq(_oid(self.oid), _int(2), _int(self.parameter_id))


def chip_authentication_info(cipher: CipherName, key_id: int | None = None) -> bytes:
    """ChipAuthenticationInfo ::= SEQUENCE { id-CA-ECDH-<cipher>, version 1, keyId OPTIONAL }."""
    parts = [_oid(f"{ID_CA_ECDH}.{CIPHER_ARC[cipher]}"), _int(1)]
    if key_id is not None:
        parts.append(_int(key_id))
    return _seq(*parts)


def terminal_authentication_info() -> bytes:
    return _seq(_oid(ID_TA), _int(1))


def ef_card_access(pace: Sequence[PaceOption], ca_cipher: CipherName | None = "AES-128",
                   ta: bool = True) -> bytes:
    """EF.CardAccess: SET OF SecurityInfo (PACEInfo per option, CA info, TA info), as on the
    CCCD (ICAO 9303-11 §9.2.1)."""
    infos = [p.info() for p in pace]
    if ca_cipher is not None:
        infos.append(chip_authentication_info(ca_cipher))
    if ta:
        infos.append(terminal_authentication_info())
    return _set(infos)


def spki(public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def dg14(ca_key: ec.EllipticCurvePublicKey, ca_cipher: CipherName = "AES-128",
         pace: Sequence[PaceOption] = (), aa_ecdsa: bool = False) -> bytes:
    """DG14: ChipAuthenticationPublicKeyInfo (id-PK-ECDH, the SubjectPublicKeyInfo),
    ChipAuthenticationInfo, the PACEInfos, and ActiveAuthenticationInfo when AA uses ECDSA
    (ICAO 9303-11 §6.1: the signature algorithm is named there)."""
    infos = [_seq(_oid(ID_PK_ECDH), spki(ca_key)), chip_authentication_info(ca_cipher)]
    infos += [p.info() for p in pace]
    if aa_ecdsa:
        infos.append(_seq(_oid(ID_AA), _int(1), _oid(ECDSA_PLAIN_SHA256)))
    infos.append(terminal_authentication_info())
    return tlv(0x6E, _set(infos))


def dg15(aa_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey) -> bytes:
    """DG15: the active-authentication public key as a SubjectPublicKeyInfo."""
    return tlv(0x6F, spki(aa_key))


# --- DG1 ------------------------------------------------------------------------------------


def dg1(mrz: str) -> bytes:
    """DG1: 61 { 5F1F MRZ } with the MRZ lines concatenated (TD1: 90 characters)."""
    text = mrz.replace("\n", "")
    return tlv(0x61, tlv(0x5F1F, text.encode("ascii")))


# --- DG2 ------------------------------------------------------------------------------------

ImageFormat = Literal["jpeg", "jpeg2000"]


def face_image(seed: int, fmt: ImageFormat = "jpeg", size: tuple[int, int] = (240, 320),
               quality: int = 85) -> bytes:
    """Draw a synthetic portrait with Pillow and encode it (JPEG, or JPEG 2000 codestream in a
    JP2 box). The same seed draws the same face."""
    from PIL import Image, ImageDraw, ImageFilter

    rng = random.Random(f"station-face-{seed}")
    w, h = size
    bg = tuple(rng.randint(200, 240) for _ in range(3))
    img = Image.new("RGB", size, bg)
    d = ImageDraw.Draw(img)
    skin = (rng.randint(190, 240), rng.randint(150, 200), rng.randint(120, 170))
    hair = (rng.randint(10, 60),) * 3
    shirt = tuple(rng.randint(30, 200) for _ in range(3))
    cx = w // 2
    d.ellipse((cx - w * 0.45, h * 0.78, cx + w * 0.45, h * 1.25), fill=shirt)
    d.rectangle((cx - w * 0.08, h * 0.6, cx + w * 0.08, h * 0.82), fill=skin)
    hw, hh = w * rng.uniform(0.27, 0.32), h * rng.uniform(0.28, 0.32)
    top = h * 0.16
    d.ellipse((cx - hw - 4, top - 12, cx + hw + 4, top + hh * 1.2), fill=hair)
    d.ellipse((cx - hw, top, cx + hw, top + 2 * hh), fill=skin)
    d.chord((cx - hw - 2, top - 10, cx + hw + 2, top + hh * 0.9), 180, 360, fill=hair)
    ey = top + hh * 0.95
    for sx in (-1, 1):
        ex = cx + sx * hw * 0.42
        d.ellipse((ex - 10, ey - 5, ex + 10, ey + 5), fill=(250, 250, 250))
        d.ellipse((ex - 4, ey - 4, ex + 4, ey + 4), fill=(30, 20, 10))
        d.line((ex - 12, ey - 14, ex + 12, ey - 14 - sx * rng.randint(-2, 2)), fill=hair,
               width=3)
    d.line((cx, ey + 4, cx - 5, ey + hh * 0.45), fill=(150, 100, 80), width=2)
    my = top + hh * 1.5
    d.arc((cx - hw * 0.35, my - 10, cx + hw * 0.35, my + 10), 20, 160, fill=(150, 60, 60),
          width=3)
    # Sensor-like noise so the file size resembles a real portrait rather than flat colour.
    noise = Image.frombytes("L", size, rng.randbytes(w * h)).convert("RGB")
    img = Image.blend(img, noise, 0.08).filter(ImageFilter.SMOOTH)
    out = io.BytesIO()
    if fmt == "jpeg":
        img.save(out, "JPEG", quality=quality)
    else:
        img.save(out, "JPEG2000", irreversible=True, quality_mode="rates",
                 quality_layers=[max(4, 100 - quality)])
    return out.getvalue()


def iso19794_5_record(image: bytes, fmt: ImageFormat, size: tuple[int, int],
                      sex: Literal["M", "F"] | None = None) -> bytes:
    """An ISO/IEC 19794-5:2005 face record with one facial record and no feature points."""
    gender = {None: 0, "M": 1, "F": 2}[sex]
    facial_info = (
        b"\x00\x00\x00\x00"  # facial record data length: patched below
        + b"\x00\x00"  # number of feature points
        + bytes((gender, 0x00, 0x00))  # gender, eye colour, hair colour
        + b"\x00\x00\x00"  # feature mask
        + b"\x00\x00"  # expression
        + b"\x00\x00\x00"  # pose angle (yaw, pitch, roll)
        + b"\x00\x00\x00"  # pose angle uncertainty
    )
    image_info = (
        bytes((0x01, 0x00 if fmt == "jpeg" else 0x01))  # full frontal; JPEG / JPEG 2000
        + size[0].to_bytes(2, "big") + size[1].to_bytes(2, "big")
        + bytes((0x01, 0x02))  # colour space sRGB 24 bit; source: digital still camera
        + b"\x00\x00"  # device type
        + b"\x00\x00"  # quality
    )
    facial_len = len(facial_info) + len(image_info) + len(image)
    facial = facial_len.to_bytes(4, "big") + facial_info[4:] + image_info + image
    record_len = 14 + len(facial)
    return b"FAC\x00" + b"010\x00" + record_len.to_bytes(4, "big") + b"\x00\x01" + facial


def _der_int(n: int) -> bytes:
    return n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big")


def iso39794_5_block(image: bytes, fmt: ImageFormat, size: tuple[int, int]) -> bytes:
    """An ISO/IEC 39794-5 face image data block (DER, IMPLICIT TAGS) with the mandatory
    fields and the image size, written from the published ASN.1 module
    (ID-ICAO-ISO-IEC-39794-5-ed-1-v1) inside the ``A1`` wrapper of ICAO's samples."""
    code = 2 if fmt == "jpeg" else 3  # jpeg / jpeg2000Lossy (ImageDataFormatCode)
    version = tlv(0xA0, tlv(0x80, b"\x03") + tlv(0x81, _der_int(2019)))  # generation, year
    info = tlv(0xA1, tlv(0xA0, tlv(0x80, bytes((code,))))  # imageDataFormat: code
               + tlv(0xA7, tlv(0x80, _der_int(size[0])) + tlv(0x81, _der_int(size[1]))))
    rep2d = tlv(0xA0, tlv(0x80, image) + info)  # representationData2D, imageInformation2D
    representation = tlv(0x30, tlv(0x80, b"\x00")  # representationId
                         + tlv(0xA1, tlv(0xA0, rep2d)))  # imageRepresentation → base → 2D
    data_block = tlv(0x65, version + tlv(0xA1, representation))
    return tlv(0xA1, data_block)


def dg2(image: bytes, fmt: ImageFormat = "jpeg", size: tuple[int, int] = (240, 320),
        sex: Literal["M", "F"] | None = None,
        encoding: Literal["19794-5", "39794-5"] = "19794-5") -> bytes:
    """DG2: 75 { 7F61 { 02 count=1, 7F60 { A1 biometric header, 5F2E face record } } }
    (ICAO 9303-10 §4.7.2, CBEFF patron format of ISO/IEC 7816-11); with ``encoding="39794-5"``
    the data block is ``7F2E`` holding an ISO/IEC 39794-5 face image data block."""
    header = tlv(0xA1, tlv(0x80, b"\x01\x01")  # ICAO header version 1.1
                 + tlv(0x81, b"\x02")  # biometric type: face
                 + tlv(0x87, b"\x01\x01")  # format owner: ISO/IEC JTC 1/SC 37
                 + tlv(0x88, b"\x00\x08" if encoding == "19794-5" else b"\x00\x40"))
    if encoding == "19794-5":
        block = tlv(0x5F2E, iso19794_5_record(image, fmt, size, sex))
    else:
        block = tlv(0x7F2E, iso39794_5_block(image, fmt, size))
    template = tlv(0x7F60, header + block)
    return tlv(0x75, tlv(0x7F61, tlv(0x02, b"\x01") + template))


# --- DG13 -----------------------------------------------------------------------------------


def _utf8(text: str) -> bytes:
    return tlv(0x0C, text.encode("utf-8"))


def _printable(text: str) -> bytes:
    return tlv(0x13, text.encode("ascii"))


def dg13_fields(fields: dict[int, bytes]) -> bytes:
    """DG13 from already encoded field values (number → the DER value objects that follow the
    field number): 6D { SEQUENCE { INTEGER 1, OID UTF-8, SET { SEQUENCE { INTEGER n, value }… }}}
    — the layout observed on issued CCCDs."""
    entries = [_seq(_int(n), value) for n, value in sorted(fields.items())]
    body = _seq(_int(1), _oid(UTF8_OID), tlv(0x31, b"".join(entries)))
    return tlv(0x6D, body)


def dg13(*, id_number: str, full_name: str, birth: str, sex: str, nationality: str,
         ethnicity: str, religion: str, hometown: str, residence: str,
         identification_marks: str, issued: str, expiry: str, father: str, mother: str,
         spouse: str | None, old_id: str, identifier: str) -> bytes:
    """All 16 fields of the Vietnamese DG13 (dates ``dd/mm/yyyy``; ``expiry`` a date or
    ``Không thời hạn``). The ID, dates and old ID are PrintableString, text is UTF8String; field
    13 nests the parents' names, field 14 holds the spouse only when there is one."""
    fields: dict[int, bytes] = {
        1: _printable(id_number), 2: _utf8(full_name), 3: _printable(birth), 4: _utf8(sex),
        5: _utf8(nationality), 6: _utf8(ethnicity), 7: _utf8(religion), 8: _utf8(hometown),
        9: _utf8(residence), 10: _utf8(identification_marks), 11: _printable(issued),
        12: _printable(expiry) if expiry.isascii() else _utf8(expiry),
        13: _seq(_utf8(father)) + _seq(_utf8(mother)),
        14: _seq(_utf8(spouse)) if spouse else b"",
        15: _printable(old_id), 16: _printable(identifier),
    }
    return dg13_fields(fields)
