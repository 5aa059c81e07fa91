"""The CCCD QR payload, the ID-number rules, the expiry milestones and the chip keys.

The QR on the 2021 chip CCCD (front) and on the 2024 identity card (back) holds one line of
``|``-separated fields::

    ID|oldID|name|ddMMyyyy|Nam/Nữ|address|ddMMyyyy

(12-digit personal ID number, old 9-digit CMND or empty, full name, date of birth, sex, place of
residence, date of issue). Newer cards append fields; they are kept in ``extra``, never refused.

The 12-digit number (Circular 07/2016/TT-BCA, Article 7; unchanged by Decree 70/2024/NĐ-CP):
3 digits province of birth registration, 1 digit century and sex, 2 digits year of birth,
6 random digits.

Errors are :class:`QrFormatError` naming the field and the problem, never the value: a payload is
a citizen's personal data and error messages reach logs.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from station.errors import QrFormatError
from station.mrz import mrz_information

if TYPE_CHECKING:
    from station.mrz.parse import Mrz

Sex = Literal["Nam", "Nữ"]

FIELDS = ("id_number", "old_id", "name", "birth", "sex", "address", "issued")
"""The seven fields every CCCD payload has, in order (the names used in QrFormatError)."""

PROVINCE_CODES: dict[str, str] = {
    # Circular 07/2016/TT-BCA, Annex: the province codes of the personal ID number, which are the
    # 63 province-level administrative unit codes of Decision 124/2004/QĐ-TTg. The 2025 merger
    # into 34 provinces re-used surviving codes and did not renumber anyone, so this list stays
    # the complete set of codes a real number can start with.
    "001": "Hà Nội", "002": "Hà Giang", "004": "Cao Bằng", "006": "Bắc Kạn",
    "008": "Tuyên Quang", "010": "Lào Cai", "011": "Điện Biên", "012": "Lai Châu",
    "014": "Sơn La", "015": "Yên Bái", "017": "Hòa Bình", "019": "Thái Nguyên",
    "020": "Lạng Sơn", "022": "Quảng Ninh", "024": "Bắc Giang", "025": "Phú Thọ",
    "026": "Vĩnh Phúc", "027": "Bắc Ninh", "030": "Hải Dương", "031": "Hải Phòng",
    "033": "Hưng Yên", "034": "Thái Bình", "035": "Hà Nam", "036": "Nam Định",
    "037": "Ninh Bình", "038": "Thanh Hóa", "040": "Nghệ An", "042": "Hà Tĩnh",
    "044": "Quảng Bình", "045": "Quảng Trị", "046": "Thừa Thiên Huế", "048": "Đà Nẵng",
    "049": "Quảng Nam", "051": "Quảng Ngãi", "052": "Bình Định", "054": "Phú Yên",
    "056": "Khánh Hòa", "058": "Ninh Thuận", "060": "Bình Thuận", "062": "Kon Tum",
    "064": "Gia Lai", "066": "Đắk Lắk", "067": "Đắk Nông", "068": "Lâm Đồng",
    "070": "Bình Phước", "072": "Tây Ninh", "074": "Bình Dương", "075": "Đồng Nai",
    "077": "Bà Rịa - Vũng Tàu", "079": "Hồ Chí Minh", "080": "Long An", "082": "Tiền Giang",
    "083": "Bến Tre", "084": "Trà Vinh", "086": "Vĩnh Long", "087": "Đồng Tháp",
    "089": "An Giang", "091": "Kiên Giang", "092": "Cần Thơ", "093": "Hậu Giang",
    "094": "Sóc Trăng", "095": "Bạc Liêu", "096": "Cà Mau",
}

NO_EXPIRY = "991231"
"""What the MRZ and the chip's BAC key carry for a card without expiry (holder 58 or older)."""

LAW_2023_FROM = dt.date(2024, 7, 1)
"""Cards issued from this day follow the 2023 Identification Law (adds the milestone 14)."""
MILESTONES_2014 = (25, 40, 60)
"""Law on Citizen Identification 2014, Article 21: renew at 25, 40 and 60."""
MILESTONES_2023 = (14, 25, 40, 60)
"""Identification Law 2023, Article 21: renew at 14, 25, 40 and 60."""
GRACE_YEARS = 2
"""A card issued within 2 years before a milestone stays valid to the next one (both laws)."""


def century_sex_digit(year: int, sex: Sex) -> int:
    """The 4th digit of the ID (Circular 07/2016 Art. 7(2)): 0/1 for men/women born in the 20th
    century, 2/3 in the 21st, 4/5 in the 22nd, 6/7 in the 23rd, 8/9 in the 24th."""
    if not 1900 <= year <= 2399:
        raise QrFormatError("birth", "year outside the centuries the ID number can encode")
    return 2 * ((year - 1900) // 100) + (1 if sex == "Nữ" else 0)


def _anniversary(birth: dt.date, years: int) -> dt.date:
    """The day a person turns ``years``. Born 29 February: 28 February in common years (an
    assumption: no issued card seen; the chip's PACE-CAN key does not depend on it)."""
    try:
        return birth.replace(year=birth.year + years)
    except ValueError:
        return birth.replace(year=birth.year + years, day=28)


def expiry(birth: dt.date, issued: dt.date) -> dt.date | None:
    """The date a card expires, or None when it never does.

    The card is valid until the holder reaches the first milestone age that lies more than
    ``GRACE_YEARS`` after the day of issue; a card issued within 2 years before a milestone
    (the day the holder turns milestone−2 counts as within) is valid to the next one. With no
    next one (issued at 58 or later) the card has no expiry.
    """
    milestones = MILESTONES_2023 if issued >= LAW_2023_FROM else MILESTONES_2014
    for age in milestones:
        if issued < _anniversary(birth, age - GRACE_YEARS):
            return _anniversary(birth, age)
    return None


def yymmdd(d: dt.date) -> str:
    return d.strftime("%y%m%d")


@dataclass(frozen=True, repr=False)
class ChipKeys:
    """What opens the card's chip: PACE with the CAN, or BAC/PACE with the MRZ information."""

    can: str
    """Card access number: the last 6 digits of the ID number."""
    document_number: str
    """The MRZ document number: the last 9 digits of the ID number."""
    birth: str
    """YYMMDD."""
    expiry: str
    """YYMMDD, or ``NO_EXPIRY`` (991231)."""

    def mrz_information(self) -> str:
        """Document number, date of birth, date of expiry with their check digits (ICAO 9303-11
        §9.7.2): the input of the BAC / PACE-MRZ key derivation."""
        return mrz_information(self.document_number, self.birth, self.expiry)

    def __repr__(self) -> str:  # keys are personal data: keep them out of logs and tracebacks
        return "ChipKeys(<redacted>)"


@dataclass(frozen=True, repr=False)
class CccdPayload:
    """A parsed, validated CCCD QR payload. Text fields are Unicode NFC."""

    id_number: str
    old_id: str
    """The old 9-digit CMND number, or '' when the card has none."""
    name: str
    birth: dt.date
    sex: Sex
    address: str
    issued: dt.date
    extra: tuple[str, ...] = ()
    """Fields after the seventh, as they were (newer cards append fields)."""

    @property
    def province(self) -> str:
        """Where the birth was registered (from the ID's first 3 digits)."""
        return PROVINCE_CODES[self.id_number[:3]]

    @property
    def expiry(self) -> dt.date | None:
        return expiry(self.birth, self.issued)

    def chip_keys(self) -> ChipKeys:
        exp = self.expiry
        return ChipKeys(
            can=self.id_number[-6:], document_number=self.id_number[-9:],
            birth=yymmdd(self.birth), expiry=NO_EXPIRY if exp is None else yymmdd(exp),
        )

    def format(self) -> str:
        """The payload text as a card's QR holds it."""
        return "|".join((
            self.id_number, self.old_id, self.name, self.birth.strftime("%d%m%Y"), self.sex,
            self.address, self.issued.strftime("%d%m%Y"), *self.extra,
        ))

    def to_json(self) -> dict[str, Any]:
        exp = self.expiry
        return {
            "id_number": self.id_number, "old_id": self.old_id, "name": self.name,
            "birth": self.birth.isoformat(), "sex": self.sex, "address": self.address,
            "issued": self.issued.isoformat(), "extra": list(self.extra),
            "expiry": None if exp is None else exp.isoformat(),
        }

    def __repr__(self) -> str:  # a citizen's data: keep it out of logs and tracebacks
        return "CccdPayload(<redacted>)"

    def __post_init__(self) -> None:
        # Built directly (simchip's synthetic citizens) or by parse(): the same rules either way.
        validate(self)


def _date(field: str, text: str) -> dt.date:
    if len(text) != 8 or not text.isascii() or not text.isdigit():
        raise QrFormatError(field, "must be a date ddMMyyyy (8 digits)")
    try:
        return dt.date(int(text[4:]), int(text[2:4]), int(text[:2]))
    except ValueError:
        raise QrFormatError(field, "is not a real calendar date") from None


def _text(field: str, text: str, *, required: bool) -> str:
    text = unicodedata.normalize("NFC", text).strip()
    if required and not text:
        raise QrFormatError(field, "is empty")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") for c in text):
        raise QrFormatError(field, "contains control or unassigned characters")
    return text


def _sex(text: str) -> Sex:
    text = unicodedata.normalize("NFC", text).strip()
    if text == "Nam":
        return "Nam"
    if text == "Nữ":
        return "Nữ"
    raise QrFormatError("sex", "must be 'Nam' or 'Nữ'")


def validate(p: CccdPayload) -> None:
    """Check the rules that do not depend on the day of reading (every one but "issued in the
    future", which parse() checks); raises QrFormatError naming the field."""
    n = p.id_number
    if len(n) != 12 or not n.isascii() or not n.isdigit():
        raise QrFormatError("id_number", "must be 12 digits")
    if n[:3] not in PROVINCE_CODES:
        raise QrFormatError("id_number", "province code is not in the official list")
    if p.old_id and (len(p.old_id) != 9 or not p.old_id.isascii() or not p.old_id.isdigit()):
        raise QrFormatError("old_id", "must be 9 digits or empty")
    if p.sex not in ("Nam", "Nữ"):
        raise QrFormatError("sex", "must be 'Nam' or 'Nữ'")
    if int(n[3]) != century_sex_digit(p.birth.year, p.sex):
        raise QrFormatError("id_number", "century/sex digit disagrees with birth date or sex")
    if n[4:6] != f"{p.birth.year % 100:02d}":
        raise QrFormatError("id_number", "year digits disagree with the year of birth")
    if p.issued <= p.birth:
        raise QrFormatError("issued", "is not after the date of birth")
    if not p.name or p.name != _text("name", p.name, required=True):
        raise QrFormatError("name", "must be non-empty NFC text without surrounding spaces")
    if p.address != _text("address", p.address, required=False):
        raise QrFormatError("address", "must be NFC text without surrounding spaces")
    if any("|" in f for f in (p.name, p.address, *p.extra)):
        raise QrFormatError("payload", "a field contains the separator '|'")


def parse(raw: str, *, today: dt.date | None = None) -> CccdPayload:
    """Parse and validate a decoded QR text. Names are normalised to NFC; ``extra`` keeps any
    fields after the seventh verbatim. ``today`` bounds the date of issue (default: today)."""
    if not isinstance(raw, str):
        raise QrFormatError("payload", "is not text")
    fields = raw.rstrip("\r\n").split("|")
    if len(fields) < len(FIELDS):
        raise QrFormatError(
            "payload", f"has {len(fields)} '|'-separated fields, expected at least {len(FIELDS)}")
    id_number = fields[0].strip()
    old_id = fields[1].strip()
    name = _text("name", fields[2], required=True)
    birth = _date("birth", fields[3].strip())
    sex = _sex(fields[4])
    address = _text("address", fields[5], required=False)
    issued = _date("issued", fields[6].strip())
    payload = CccdPayload(id_number, old_id, name, birth, sex, address, issued,
                          tuple(fields[7:]))
    if issued > (today or dt.date.today()):
        raise QrFormatError("issued", "is in the future")
    return payload


def is_cccd_mrz(document: Mrz) -> bool:
    """A Vietnamese citizen identity card's MRZ (or DG1): TD1 issued by VNM. Such a chip has
    PACE and must be read with it."""
    return document.format == "TD1" and document.issuer.strip("<") == "VNM"
