"""Virtual foreign travel documents: synthetic travellers of several ICAO states, their TD3
passports and TD1 identity cards, as chips the station reads at a lodging desk. Never real people.

Built on the CCCD's pieces — the chip (:class:`station.sim.chip.CccdChip`), the LDS encoders
(:mod:`station.sim.lds`) and the test PKI (:mod:`station.sim.pki`) — with what foreign documents
do differently:

- access control BAC only (many older passports: no EF.CardAccess at all) or PACE with the MRZ
  password (no CAN printed on most passports);
- no DG13 (a Vietnamese data group) and no DG14 (these chips do no chip authentication);
  DG15 only with active authentication;
- DG11 (additional personal details) and DG12 (additional document details) present or not;
- the face as JPEG or JPEG 2000;
- EF.SOD signed by a Document Signer of the *issuing state's* CSCA (one per state, made once per
  process), so passive authentication needs that state's CSCA in the trust store;
- optionally an EF.COM tag list that does not match the files present, as some issuers' chips
  have (``com_extra``: listed but absent, ``com_omit``: present but not listed).
"""

from __future__ import annotations

import datetime as dt
import functools
import random
import unicodedata
from dataclasses import dataclass, field
from typing import Literal

from station.mrz import check_digit, mrz_information
from station.nfc import tlv
from station.sim import lds, pki
from station.sim.chip import EF_CARD_ACCESS, EF_COM, EF_SOD, CardImage, ChipOptions
from station.sim.issuer import new_chip_keys

DocumentKind = Literal["passport", "id"]

# Issuing states: MRZ code (ICAO 9303-3 §5: Germany is "D"), ISO 3166 alpha-2 for the CSCA's
# country, and name material (synthetic combinations; accents appear in DG11, not in the MRZ).
STATES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "D": ("DE", ("MÜLLER", "SCHMIDT", "WAGNER", "BECKER", "HOFFMANN"),
          ("JÜRGEN", "ANNA", "LUKAS", "SOPHIE", "FELIX")),
    "FRA": ("FR", ("MARTIN", "BERNARD", "DUBOIS", "LEFÈVRE", "GIRARD"),
            ("ÉLODIE", "JEAN", "CHLOÉ", "THÉO", "CAMILLE")),
    "JPN": ("JP", ("SATO", "SUZUKI", "TAKAHASHI", "TANAKA", "ITO"),
            ("HARUTO", "YUI", "SOTA", "AOI", "REN")),
    "KOR": ("KR", ("KIM", "LEE", "PARK", "CHOI", "JUNG"),
            ("MINJUN", "SEOYEON", "JIHO", "HAEUN", "DOYUN")),
    "USA": ("US", ("SMITH", "JOHNSON", "WILLIAMS", "BROWN", "JONES"),
            ("OLIVIA", "LIAM", "EMMA", "NOAH", "AVA")),
    "AUS": ("AU", ("TAYLOR", "WILSON", "NGUYEN", "WHITE", "HARRIS"),
            ("CHARLOTTE", "JACK", "MIA", "OLIVER", "ISLA")),
}


def mrz_text(name: str) -> str:
    """A name as the MRZ writes it: accents dropped, spaces and hyphens as ``<``."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(c if c.isalnum() else "<" for c in plain.upper())


def _field(value: str, width: int) -> str:
    return value[:width].ljust(width, "<")


@dataclass(frozen=True, repr=False)
class Traveller:
    """A synthetic foreign guest and the document they carry."""

    seed: int
    state: str
    kind: DocumentKind
    document_number: str
    surname: str
    given_names: str
    birth: dt.date
    sex: Literal["M", "F"]
    issued: dt.date
    expiry: dt.date
    personal_number: str
    other_names: tuple[str, ...]
    place_of_birth: str
    address: str
    telephone: str
    profession: str

    def __repr__(self) -> str:
        return f"Traveller(seed={self.seed}, {self.state}, {self.kind})"

    @property
    def birth_yymmdd(self) -> str:
        return self.birth.strftime("%y%m%d")

    @property
    def expiry_yymmdd(self) -> str:
        return self.expiry.strftime("%y%m%d")

    @property
    def mrz_information(self) -> str:
        return mrz_information(self.document_number, self.birth_yymmdd, self.expiry_yymmdd)

    @property
    def mrz_key(self) -> str:
        """``DOCNO,YYMMDD,YYMMDD`` as ``station read --mrz-key`` takes it."""
        return f"{self.document_number},{self.birth_yymmdd},{self.expiry_yymmdd}"

    def mrz(self) -> str:
        return self._td3() if self.kind == "passport" else self._td1()

    def _name_field(self, width: int) -> str:
        return _field(mrz_text(self.surname) + "<<" + mrz_text(self.given_names), width)

    def _td3(self) -> str:
        """ICAO 9303-4 §4.2.2: two lines of 44."""
        state = _field(self.state, 3)
        line1 = "P<" + state + self._name_field(39)
        doc = _field(self.document_number, 9)
        personal = _field(self.personal_number, 14)
        parts = [doc + check_digit(doc), state,
                 self.birth_yymmdd + check_digit(self.birth_yymmdd), self.sex,
                 self.expiry_yymmdd + check_digit(self.expiry_yymmdd),
                 personal + check_digit(personal)]
        composite = parts[0] + parts[2] + parts[4] + parts[5]
        line2 = "".join(parts) + check_digit(composite)
        return line1 + "\n" + line2

    def _td1(self) -> str:
        """ICAO 9303-5 §4.2.2: three lines of 30."""
        state = _field(self.state, 3)
        doc = _field(self.document_number, 9)
        line1 = "ID" + state + doc + check_digit(doc) + _field(self.personal_number, 15)
        line2 = (self.birth_yymmdd + check_digit(self.birth_yymmdd) + self.sex
                 + self.expiry_yymmdd + check_digit(self.expiry_yymmdd) + state + "<" * 11)
        composite = line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29]
        line2 += check_digit(composite)
        return line1 + "\n" + line2 + "\n" + self._name_field(30)


def generate(seed: int, *, state: str | None = None,
             kind: DocumentKind = "passport") -> Traveller:
    """One traveller from ``seed`` (the same seed, state and kind give the same traveller)."""
    rng = random.Random(f"station-traveller-{seed}-{state}-{kind}")
    state = state or rng.choice(sorted(STATES))
    if state not in STATES:
        raise ValueError(f"no synthetic material for state {state!r}")
    _, surnames, given = STATES[state]
    alnum = "ABCDEFGHJKLMNPRTUVWXYZ0123456789"
    number = rng.choice("CFGHJK") + "".join(rng.choice(alnum) for _ in range(8))
    birth = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(55 * 365))
    issued = dt.date(2020, 1, 1) + dt.timedelta(days=rng.randrange(6 * 365))
    expiry = issued.replace(year=issued.year + 10) - dt.timedelta(days=1)
    first, second = rng.sample(given, 2)
    return Traveller(
        seed=seed, state=state, kind=kind, document_number=number,
        surname=rng.choice(surnames), given_names=first + (" " + second if rng.random() < 0.4
                                                            else ""),
        birth=birth, sex=rng.choice(("M", "F")), issued=issued, expiry=expiry,
        personal_number="".join(rng.choice("0123456789") for _ in range(10))
        if rng.random() < 0.5 else "",
        other_names=tuple(rng.sample(given, rng.randrange(3))),
        place_of_birth=f"CITY {rng.randrange(1, 99)}<{state}",
        address=f"{rng.randrange(1, 300)} EXAMPLE STREET<TOWN {rng.randrange(1, 50)}<"
                f"{rng.randrange(10000, 99999)}",
        telephone="+00 " + "".join(rng.choice("0123456789") for _ in range(9)),
        profession=rng.choice(("ENGINEER", "TEACHER", "NURSE", "STUDENT", "RETIRED")),
    )


# --- DG11 / DG12 encoders (ICAO 9303-10 §4.7.11/§4.7.12) -------------------------------------


def details(file_tag: int, fields: list[tuple[int, bytes]],
            multi: tuple[int, list[bytes]] | None = None, *,
            tag_list: list[int] | None = None) -> bytes:
    """``file_tag { 5C tag list, fields… }`` with the multi-valued field as
    ``A0 { 02 count, tag value… }`` after the first field (where 9303-10 places the other
    names). The tag list names what is present unless ``tag_list`` says otherwise."""
    body = b"".join(tlv.encode(t, v) for t, v in fields[:1])
    present = [t for t, _ in fields[:1]]
    if multi is not None and multi[1]:
        tag, items = multi
        body += tlv.encode(0xA0, tlv.encode(0x02, bytes((len(items),)))
                           + b"".join(tlv.encode(tag, v) for v in items))
        present.append(0xA0)
    body += b"".join(tlv.encode(t, v) for t, v in fields[1:])
    present += [t for t, _ in fields[1:]]
    listed = present if tag_list is None else tag_list
    tags = b"".join(t.to_bytes((t.bit_length() + 7) // 8, "big") for t in listed)
    return tlv.encode(file_tag, tlv.encode(0x5C, tags) + body)


def dg11(t: Traveller) -> bytes:
    def u(s: str) -> bytes:
        return s.encode("utf-8")

    name = t.surname.replace(" ", "<") + "<<" + t.given_names.replace(" ", "<")
    fields = [(0x5F0E, u(name))]
    if t.personal_number:
        fields.append((0x5F10, u(t.personal_number)))
    fields += [(0x5F2B, t.birth.strftime("%Y%m%d").encode()), (0x5F11, u(t.place_of_birth)),
               (0x5F42, u(t.address)), (0x5F12, u(t.telephone)), (0x5F13, u(t.profession))]
    return details(0x6B, fields, (0x5F0F, [u(n) for n in t.other_names]))


def dg12(t: Traveller) -> bytes:
    authority = f"AUTHORITY OF {t.state}"
    fields = [(0x5F19, authority.encode()), (0x5F26, t.issued.strftime("%Y%m%d").encode()),
              (0x5F55, t.issued.strftime("%Y%m%d").encode() + b"101500"),
              (0x5F56, f"PERSO-{t.seed % 1000:03d}".encode())]
    return details(0x6C, fields)


# --- issuing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PassportOptions:
    """What kind of chip the traveller's document has."""

    access: Literal["BAC", "PACE-MRZ"] = "BAC"
    """BAC only (no EF.CardAccess), or PACE with the MRZ password (BAC still offered)."""
    pace: lds.PaceOption = field(default_factory=lds.PaceOption)
    face_format: lds.ImageFormat = "jpeg"
    face_encoding: Literal["19794-5", "39794-5"] = "19794-5"
    """DG2's face record: ISO/IEC 19794-5 (5F2E) or ISO/IEC 39794-5 (7F2E), as newer
    documents carry."""
    dg11: bool = True
    dg12: bool = True
    aa: Literal["rsa", "ecdsa"] | None = None
    """Active authentication (then DG15 is present)."""
    com_extra: tuple[int, ...] = ()
    """Data groups EF.COM lists although the chip does not have them."""
    com_omit: tuple[int, ...] = ()
    """Data groups the chip has but EF.COM does not list."""
    sod_content_type: str = pki.OID_LDS_SECURITY_OBJECT
    """EF.SOD's eContentType (real ones: id-data on CN passports)."""
    sod_issuer_rdn_order: tuple[int, ...] | None = None
    """The SignerInfo names the DSC's issuer with its RDNs in this order (as on MY ones)."""
    sod_indefinite_length: bool = False
    """EF.SOD's outer CMS levels in BER indefinite-length form (as on NZ ones)."""
    sod_unlisted: tuple[int, ...] = ()
    """Data groups the chip has but EF.SOD does not list (DG4, DG15 on the BSI test
    passport)."""

    def chip_options(self) -> ChipOptions:
        return ChipOptions(
            pace=(self.pace,) if self.access == "PACE-MRZ" else (), bac=True, ca_cipher=None,
            aa=self.aa, face_format=self.face_format, select_mf="9000")


@functools.cache
def state_pki(country: str) -> tuple[pki.Issued, pki.Issued]:
    """(CSCA, Document Signer) of an issuing state (ISO 3166 alpha-2), once per process."""
    csca = pki.make_csca(country=country, common_name=f"CSCA {country} TEST")
    return csca, pki.make_dsc(csca, common_name=f"DS {country} TEST 1")


@dataclass(frozen=True, repr=False)
class Passport:
    traveller: Traveller
    image: CardImage
    options: ChipOptions
    """Pass these (or a copy with quirk knobs, ``dataclasses.replace``) to the chip."""
    csca: pki.Issued
    data_groups: tuple[int, ...]

    def __repr__(self) -> str:
        return f"Passport({self.traveller!r}, DG{self.data_groups})"


def issue(t: Traveller, options: PassportOptions | None = None, *,
          face_size: tuple[int, int] = (240, 320)) -> Passport:
    options = options or PassportOptions()
    chip = options.chip_options()
    _, aa_key = new_chip_keys(chip)
    face = lds.face_image(t.seed, options.face_format, face_size)
    dgs: dict[int, bytes] = {
        1: lds.dg1(t.mrz()), 2: lds.dg2(face, options.face_format, face_size, t.sex,
                                      options.face_encoding)}
    if options.dg11:
        dgs[11] = dg11(t)
    if options.dg12:
        dgs[12] = dg12(t)
    if aa_key is not None:
        dgs[15] = lds.dg15(aa_key.public_key())
    csca, dsc = state_pki(STATES[t.state][0])
    signed = {n: raw for n, raw in dgs.items() if n not in options.sod_unlisted}
    sod = pki.build_sod(pki.hash_data_groups(signed), dsc.key, dsc.der,
                        content_type=options.sod_content_type,
                        issuer_rdn_order=options.sod_issuer_rdn_order,
                        indefinite_length=options.sod_indefinite_length)
    listed = sorted((set(dgs) | set(options.com_extra)) - set(options.com_omit))
    app: dict[int, bytes] = {EF_COM: lds.ef_com(listed), EF_SOD: sod}
    app.update({0x0100 + n: content for n, content in dgs.items()})
    mf: dict[int, bytes] = {}
    if options.access == "PACE-MRZ":
        mf[EF_CARD_ACCESS] = lds.ef_card_access(chip.pace, ca_cipher=None, ta=False)
    # Most passports print no CAN; the chip still needs a value, which no test uses.
    can = f"{t.seed % 1_000_000:06d}"
    image = CardImage(mf, app, can, t.mrz_information, None, aa_key)
    return Passport(t, image, chip, csca, tuple(sorted(dgs)))
