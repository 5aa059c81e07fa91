"""Synthetic Vietnamese citizens for the virtual CCCD chip. Never real people.

:func:`generate` draws one citizen from a seed, reproducibly (the same seed gives the same
citizen on every machine and Python ≥ 3.11): a full name with diacritics (NFC), sex, date of
birth in 1930–2020, the 12-digit personal ID number built by the real rule (Circular
07/2016/TT-BCA Art. 7: province code of birth registration, century/sex digit, two digits of the
year of birth, six random digits), sometimes the old 9-digit CMND, hometown and residence with
real province names, ethnicity, religion, parents, spouse (only when married), date of issue,
and the expiry by the age milestones (``station.qr.cccd.expiry``: the QR helper owns the rule).

From a :class:`Citizen` come the QR payload (``station.qr.cccd.CccdPayload``), the TD1 MRZ of
the card (document number = last 9 digits of the ID, optional data = the full ID, VNM, 991231
for no expiry) and the access keys (CAN, MRZ information).

The walking skeleton's :func:`skeleton_files` (EF.COM + DG1 for the plain file card) stays for
the plain-card contract tests.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import unicodedata
from dataclasses import asdict, dataclass
from typing import Any

from station.mrz import check_digit, mrz_information
from station.nfc import tlv
from station.qr import cccd
from station.sim import lds

# --- name and place material (common Vietnamese words; combinations are synthetic) ------------

# Surnames weighted roughly by how common they are (Nguyễn is about four in ten).
_SURNAMES: tuple[tuple[str, int], ...] = (
    ("Nguyễn", 38), ("Trần", 11), ("Lê", 9), ("Phạm", 7), ("Hoàng", 5), ("Huỳnh", 4),
    ("Phan", 4), ("Vũ", 4), ("Võ", 3), ("Đặng", 2), ("Bùi", 2), ("Đỗ", 2), ("Hồ", 2),
    ("Ngô", 2), ("Dương", 1), ("Lý", 1), ("Đinh", 1), ("Trương", 1), ("Lương", 1), ("Đoàn", 1),
)
_MIDDLE = {
    "Nam": ("Văn", "Hữu", "Đức", "Minh", "Quốc", "Công", "Thanh", "Xuân", "Đình", "Trọng",
            "Quang", "Gia"),
    "Nữ": ("Thị", "Thị", "Ngọc", "Thu", "Thanh", "Kim", "Minh", "Bảo", "Phương", "Diệu",
           "Hồng", "Khánh"),
}
_GIVEN = {
    "Nam": ("An", "Bình", "Cường", "Dũng", "Đạt", "Hải", "Hiếu", "Hoàng", "Hùng", "Huy",
            "Khải", "Khánh", "Khoa", "Long", "Lộc", "Nam", "Nghĩa", "Phong", "Phúc", "Quân",
            "Quang", "Sơn", "Tài", "Thắng", "Thành", "Thịnh", "Toàn", "Trung", "Tuấn", "Tùng",
            "Việt", "Vinh"),
    "Nữ": ("Anh", "Chi", "Dung", "Duyên", "Giang", "Hà", "Hạnh", "Hằng", "Hiền", "Hoa",
           "Hồng", "Hương", "Huyền", "Lan", "Liên", "Linh", "Loan", "Mai", "My", "Ngân",
           "Ngọc", "Nhung", "Oanh", "Phương", "Quyên", "Thảo", "Thủy", "Trang", "Tuyết", "Vân",
           "Xuân", "Yến"),
}
# Ethnic groups (of the 54 recognised), weighted: Kinh is about 85 %.
_ETHNICITIES: tuple[tuple[str, int], ...] = (
    ("Kinh", 170), ("Tày", 4), ("Thái", 4), ("Mường", 3), ("Khmer", 3), ("Hoa", 2),
    ("Nùng", 2), ("Mông", 3), ("Dao", 2), ("Gia Rai", 1), ("Ê Đê", 1), ("Ba Na", 1),
    ("Chăm", 1), ("Sán Chay", 1), ("Xơ Đăng", 1),
)
_RELIGIONS: tuple[tuple[str, int], ...] = (
    ("Không", 80), ("Phật giáo", 8), ("Công giáo", 7), ("Cao Đài", 2), ("Phật giáo Hòa Hảo", 2),
    ("Tin Lành", 1),
)
_PLACE_WORDS = (
    "An", "Bình", "Phú", "Tân", "Hòa", "Phước", "Long", "Thạnh", "Mỹ", "Hưng", "Thuận",
    "Đông", "Tây", "Nam", "Bắc", "Trung", "Xuân", "Quang", "Vĩnh", "Yên", "Hiệp", "Lợi",
    "Thới", "Định", "Lộc", "Sơn", "Thành", "Hải", "Minh", "Đức",
)
_STREETS = (
    "Lê Lợi", "Trần Hưng Đạo", "Nguyễn Trãi", "Hai Bà Trưng", "Lý Thường Kiệt", "Quang Trung",
    "Phan Chu Trinh", "Điện Biên Phủ", "Nguyễn Du", "Hùng Vương", "Lê Duẩn", "Võ Thị Sáu",
)
_CITIES = frozenset({"001", "031", "048", "079", "092"})  # centrally governed cities
_MARKS = (
    "Nốt ruồi C:2cm dưới sau đuôi mắt trái",
    "Nốt ruồi C:1cm trên trước đầu mày phải",
    "Sẹo chấm C:1,5cm dưới sau cánh mũi phải",
    "Sẹo chấm C:2cm trên đuôi mày trái",
    "Nốt ruồi C:3cm dưới trước tai phải",
    "Sẹo dài 1cm trên trán",
)

BIRTH_FIRST = dt.date(1930, 1, 1)
BIRTH_LAST = dt.date(2020, 12, 31)
CHIP_CARDS_FROM = dt.date(2021, 1, 1)
"""The first chip CCCDs were issued in 2021."""
LAST_ISSUE = dt.date(2025, 12, 31)
"""Synthetic cards are issued no later than this (fixed, so a seed never depends on today)."""

NATIONALITY = "Việt Nam"
NO_EXPIRY_TEXT = "Không thời hạn"
"""What DG13 field 12 and the card face say for a card without expiry."""


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _weighted(rng: random.Random, table: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([v for v, _ in table], weights=[w for _, w in table])[0]


def _person_name(rng: random.Random, sex: cccd.Sex, surname: str | None = None) -> str:
    surname = surname or _weighted(rng, _SURNAMES)
    return _nfc(f"{surname} {rng.choice(_MIDDLE[sex])} {rng.choice(_GIVEN[sex])}")


def _place(rng: random.Random) -> str:
    return " ".join(rng.sample(_PLACE_WORDS, 2))


def _province_suffix(code: str) -> str:
    name = cccd.PROVINCE_CODES[code]
    return f"Thành phố {name}" if code in _CITIES else f"Tỉnh {name}"


def _hometown(rng: random.Random, code: str) -> str:
    return _nfc(f"Xã {_place(rng)}, Huyện {_place(rng)}, {_province_suffix(code)}")


def _residence(rng: random.Random, code: str) -> str:
    if code in _CITIES:
        return _nfc(f"Số {rng.randint(1, 300)} {rng.choice(_STREETS)}, Phường {_place(rng)}, "
                    f"Quận {_place(rng)}, {_province_suffix(code)}")
    return _nfc(f"Thôn {rng.randint(1, 12)}, Xã {_place(rng)}, Huyện {_place(rng)}, "
                f"{_province_suffix(code)}")


def _random_date(rng: random.Random, first: dt.date, last: dt.date) -> dt.date:
    return first + dt.timedelta(days=rng.randint(0, (last - first).days))


def _anniversary(d: dt.date, years: int) -> dt.date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def ascii_fold(text: str) -> str:
    """Vietnamese text → the MRZ alphabet: diacritics dropped, Đ → D, upper case."""
    text = text.replace("Đ", "D").replace("đ", "d")
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).upper()


@dataclass(frozen=True, repr=False)
class Citizen:
    """A synthetic card holder (repr hides everything: it looks like citizen data)."""

    id_number: str
    old_id: str
    """The old 9-digit CMND, or ''."""
    full_name: str
    birth: dt.date
    sex: cccd.Sex
    nationality: str
    ethnicity: str
    religion: str
    hometown: str
    residence: str
    identification_marks: str
    issued: dt.date
    father: str
    mother: str
    spouse: str | None
    card_identifier: str
    """DG13 field 16: 16 characters of unknown meaning on issued cards (synthetic here)."""
    seed: int | None = None

    def __repr__(self) -> str:
        return f"Citizen(seed={self.seed})"

    # --- derived ---------------------------------------------------------------------------

    @property
    def expiry(self) -> dt.date | None:
        """The age-milestone expiry (None: no expiry), by the QR helper's rule."""
        return cccd.expiry(self.birth, self.issued)

    @property
    def can(self) -> str:
        """Card access number: the last 6 digits of the ID."""
        return self.id_number[-6:]

    @property
    def document_number(self) -> str:
        """The MRZ document number: the last 9 digits of the ID."""
        return self.id_number[-9:]

    @property
    def mrz_birth(self) -> str:
        return cccd.yymmdd(self.birth)

    @property
    def mrz_expiry(self) -> str:
        exp = self.expiry
        return cccd.NO_EXPIRY if exp is None else cccd.yymmdd(exp)

    @property
    def mrz_information(self) -> str:
        """What BAC and PACE-MRZ derive their keys from."""
        return mrz_information(self.document_number, self.mrz_birth, self.mrz_expiry)

    def payload(self) -> cccd.CccdPayload:
        return cccd.CccdPayload(self.id_number, self.old_id, self.full_name, self.birth,
                                self.sex, self.residence, self.issued)

    def qr_text(self) -> str:
        """The text of the card's QR code (``ID|oldID|name|ddMMyyyy|Nam/Nữ|address|ddMMyyyy``)."""
        return self.payload().format()

    def mrz(self) -> str:
        """The TD1 MRZ (3 × 30, newline-separated) as on a chip CCCD."""
        doc = self.document_number
        line1 = "IDVNM" + doc + check_digit(doc) + cccd_optional_data(self.id_number)
        sex = "M" if self.sex == "Nam" else "F"
        birth, expiry = self.mrz_birth, self.mrz_expiry
        line2 = birth + check_digit(birth) + sex + expiry + check_digit(expiry) + "VNM"
        line2 += "<" * 11
        composite = line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29]
        line2 += check_digit(composite)
        parts = ascii_fold(self.full_name).split()
        name = parts[0] + "<<" + "<".join(parts[1:])
        line3 = name[:30].ljust(30, "<")
        return "\n".join((line1, line2, line3))

    def expiry_text(self) -> str:
        exp = self.expiry
        return NO_EXPIRY_TEXT if exp is None else exp.strftime("%d/%m/%Y")

    # --- JSON ----------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["birth"] = self.birth.isoformat()
        d["issued"] = self.issued.isoformat()
        exp = self.expiry
        d["expiry"] = None if exp is None else exp.isoformat()
        d["can"] = self.can
        d["qr"] = self.qr_text()
        d["mrz"] = self.mrz()
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Citizen:
        fields = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        fields["birth"] = dt.date.fromisoformat(d["birth"])
        fields["issued"] = dt.date.fromisoformat(d["issued"])
        for k in ("full_name", "hometown", "residence", "father", "mother", "ethnicity",
                  "religion", "identification_marks", "nationality"):
            fields[k] = _nfc(fields[k])
        if fields.get("spouse") is not None:
            fields["spouse"] = _nfc(fields["spouse"])
        citizen = cls(**fields)
        citizen.payload()  # the QR helper's rules (ID digits agree with birth and sex, …)
        return citizen

    def dumps(self) -> str:
        return json.dumps(self.to_json(), ensure_ascii=False, indent=2)


def generate(seed: int) -> Citizen:
    """One synthetic citizen; the same seed always gives the same one."""
    rng = random.Random(f"station-citizen-{seed}")
    sex: cccd.Sex = rng.choice(("Nam", "Nữ"))
    birth = _random_date(rng, BIRTH_FIRST, BIRTH_LAST)
    birth_code = rng.choice(sorted(cccd.PROVINCE_CODES))
    id_number = (f"{birth_code}{cccd.century_sex_digit(birth.year, sex)}"
                 f"{birth.year % 100:02d}{rng.randrange(10**6):06d}")
    # Before the 2016 CCCD, people of 14+ had a 9-digit CMND; many cards still carry it.
    had_cmnd = _anniversary(birth, 14) < dt.date(2016, 1, 1) and rng.random() < 0.6
    old_id = f"{rng.randrange(10**8, 4 * 10**8):09d}" if had_cmnd else ""
    # Chip cards from 2021 for people of 14+; younger children only under the 2023 law.
    first_issue = max(CHIP_CARDS_FROM, _anniversary(birth, 14))
    if first_issue > LAST_ISSUE:
        first_issue = max(cccd.LAW_2023_FROM, birth + dt.timedelta(days=30))
    issued = _random_date(rng, first_issue, LAST_ISSUE)
    father_surname = _weighted(rng, _SURNAMES)
    full_name = _person_name(rng, sex, father_surname)
    father = _person_name(rng, "Nam", father_surname)
    mother = _person_name(rng, "Nữ")
    age_at_issue = (issued - birth).days // 365
    married = age_at_issue >= 20 and rng.random() < 0.7
    spouse = _person_name(rng, "Nữ" if sex == "Nam" else "Nam") if married else None
    residence_code = birth_code if rng.random() < 0.6 else rng.choice(sorted(cccd.PROVINCE_CODES))
    citizen = Citizen(
        id_number=id_number, old_id=old_id, full_name=full_name, birth=birth, sex=sex,
        nationality=NATIONALITY, ethnicity=_weighted(rng, _ETHNICITIES),
        religion=_weighted(rng, _RELIGIONS), hometown=_hometown(rng, birth_code),
        residence=_residence(rng, residence_code),
        identification_marks=_nfc(rng.choice(_MARKS)), issued=issued, father=father,
        mother=mother, spouse=spouse,
        card_identifier="".join(rng.choice("0123456789ABCDEF") for _ in range(16)),
        seed=seed,
    )
    citizen.payload()  # validated by the QR helper's rules
    return citizen


# --- the walking skeleton's plain file card (kept for the plain-card contract tests) -----------

_SK_SURNAMES = ("NGUYEN", "TRAN", "LE", "PHAM", "HOANG", "VU", "DANG", "BUI", "DO", "HO")
_SK_GIVEN = ("VAN AN", "THI BINH", "MINH CHAU", "QUOC DUNG", "THU HA", "DUC HUY", "NGOC LAN")


@dataclass(frozen=True)
class SkeletonCitizen:
    id_number: str
    surname: str
    given_names: str
    birth: str  # YYMMDD
    sex: str  # M / F
    expiry: str  # YYMMDD, 991231 = no expiry


def skeleton_citizen(seed: int) -> SkeletonCitizen:
    rng = random.Random(seed)
    year = rng.randint(1950, 2005)
    sex = rng.choice("MF")
    century_sex = (0 if year < 2000 else 2) + (1 if sex == "F" else 0)
    province = rng.randint(1, 96)
    id_number = f"{province:03d}{century_sex}{year % 100:02d}{rng.randrange(10**6):06d}"
    birth = f"{year % 100:02d}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    return SkeletonCitizen(
        id_number, rng.choice(_SK_SURNAMES), rng.choice(_SK_GIVEN), birth, sex, "991231"
    )


def cccd_optional_data(id_number: str) -> str:
    """Positions 16-30 of a CCCD's MRZ line 1 as issued cards print them: the 12-digit ID, two
    fillers, and the ID's own check digit (ICAO 9303-3 §4.9 over the 12 digits)."""
    return id_number + "<<" + check_digit(id_number)


def td1_mrz(c: SkeletonCitizen) -> str:
    """TD1 MRZ of a skeleton citizen, unseparated (90 characters)."""
    doc = c.id_number[-9:]
    line1 = "IDVNM" + doc + check_digit(doc) + cccd_optional_data(c.id_number)
    line2a = c.birth + check_digit(c.birth) + c.sex + c.expiry + check_digit(c.expiry) + "VNM"
    line2 = line2a + "<" * 11
    composite = line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29]
    line2 += check_digit(composite)
    name = (c.surname + "<<" + c.given_names.replace(" ", "<"))[:30].ljust(30, "<")
    return line1 + line2 + name


def ef_com(tags: bytes) -> bytes:
    """EF.COM with a raw tag list (kept for callers of the skeleton API)."""

    return tlv.encode(0x60, tlv.encode(0x5F01, b"0107") + tlv.encode(0x5F36, b"040000")
                      + tlv.encode(0x5C, tags))


def dg1(mrz: str) -> bytes:
    """DG1 around an MRZ (kept for callers of the skeleton API; see ``station.sim.lds.dg1``)."""

    return lds.dg1(mrz)


def skeleton_files(seed: int) -> dict[int, bytes]:
    """EF.COM (FID 011E) and DG1 (FID 0101) of a skeleton citizen for the plain file card."""
    return {0x011E: ef_com(b"\x61"), 0x0101: dg1(td1_mrz(skeleton_citizen(seed)))}
