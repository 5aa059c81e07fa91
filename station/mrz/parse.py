"""Parsing ICAO 9303 machine-readable zones: TD1 (3×30), TD2 (2×36) and TD3 (2×44).

Every check digit is verified (ICAO 9303-3 §4.9; field positions from 9303-5 TD1, 9303-6 TD2,
9303-4 TD3). With ``correct=True`` the usual OCR confusions (O/0, I/1, B/8, S/5, Z/2, G/6) are
repaired, but only where check digits prove the repair: a numeric field is repaired only when the
result passes its check digit; an alphanumeric document number only when exactly one variant
passes both its own and the composite check digit (and, on a CCCD, equals the last 9 digits of
the ID number in the optional data, whose own check digit issued cards print after it); the
composite must pass over the repaired text. A wrong MRZ
therefore never reaches a chip as a BAC/PACE key.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from typing import Any, Literal

from station.errors import MrzError
from station.mrz import check_digit, mrz_information

Format = Literal["TD1", "TD2", "TD3"]
_LENGTHS: dict[Format, tuple[int, int]] = {"TD1": (3, 30), "TD2": (2, 36), "TD3": (2, 44)}
_ALLOWED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<")
# OCR confusions: letter read where a digit was printed, and the other way round.
_TO_DIGIT = {"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "Z": "2", "S": "5", "G": "6",
             "B": "8"}
_TO_LETTER = {"0": "O", "1": "I", "2": "Z", "5": "S", "6": "G", "8": "B"}
_CONFUSABLE = ("0OQD", "1IL", "2Z", "5S", "6G", "8B")
_MAX_CANDIDATES = 512
NO_EXPIRY = "991231"
"""CCCD cards without expiry carry 991231 in the expiry field."""


@dataclass(frozen=True)
class Mrz:
    format: Format
    document_code: str
    issuer: str
    document_number: str
    nationality: str
    birth: str
    """YYMMDD as printed (may hold '<' for unknown parts)."""
    sex: str
    """'M', 'F' or '<' (unspecified)."""
    expiry: str
    primary_identifier: str
    secondary_identifier: str
    optional1: str
    optional2: str
    lines: tuple[str, ...]
    corrected: bool = False
    """True when OCR confusions were repaired (each repair proven by check digits)."""
    id_number: str = ""
    """A CCCD's 12-digit personal ID number from the optional data (TD1, issuer VNM), checked
    against its own check digit when the card prints one and against the document number (its
    last 9 digits); "" on other documents."""

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def key_information(self) -> str:
        """The MRZ information that BAC and PACE-MRZ derive their keys from."""
        return mrz_information(self.document_number, self.birth, self.expiry)

    def birth_date(self, today: dt.date | None = None) -> dt.date | None:
        """Date of birth; a two-digit year in the future of ``today`` is taken as 19YY."""
        today = today or dt.date.today()
        d = _date(self.birth, 2000)
        if d is not None and d > today:
            d = d.replace(year=d.year - 100)
        return d

    def expiry_date(self) -> dt.date | None:
        """Date of expiry, or None when the document has none (991231) or it is unreadable."""
        if self.expiry == NO_EXPIRY:
            return None
        return _date(self.expiry, 2000)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format, "document_code": self.document_code, "issuer": self.issuer,
            "document_number": self.document_number, "nationality": self.nationality,
            "birth": self.birth, "sex": self.sex, "expiry": self.expiry,
            "primary_identifier": self.primary_identifier,
            "secondary_identifier": self.secondary_identifier,
            "optional1": self.optional1, "optional2": self.optional2,
            "corrected": self.corrected,
        }


def _date(yymmdd: str, century: int) -> dt.date | None:
    if not yymmdd.isdigit():
        return None
    try:
        return dt.date(century + int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:6]))
    except ValueError:
        return None


def split_lines(text: str) -> tuple[Format, list[str]]:
    """Normalise MRZ text (strip spaces, upper-case, drop blank lines) and tell its format."""
    lines = ["".join(line.split()).upper() for line in text.strip().splitlines()]
    lines = [line for line in lines if line]
    if len(lines) == 1:
        # One run of characters: split by the known total lengths.
        flat = lines[0]
        for fmt, (n, width) in _LENGTHS.items():
            if len(flat) == n * width:
                return fmt, [flat[i * width:(i + 1) * width] for i in range(n)]
    for fmt, (n, width) in _LENGTHS.items():
        if len(lines) == n and all(len(line) == width for line in lines):
            return fmt, lines
    shape = "×".join(str(len(line)) for line in lines) or "0"
    raise MrzError("layout", f"{len(lines)} line(s) of length {shape} is not TD1, TD2 or TD3")


def _valid(s: str) -> bool:
    return set(s) <= _ALLOWED


def parse_mrz(text: str, *, correct: bool = False) -> Mrz:
    """Parse and verify an MRZ; raise :class:`MrzError` naming the first failing field."""
    fmt, lines = split_lines(text)
    for i, line in enumerate(lines, start=1):
        if not _valid(line) and not correct:
            raise MrzError(f"line {i}", "contains characters outside A-Z, 0-9 and '<'")
    return _Parser(fmt, lines, correct).parse()


# Field positions (line, start, end) per format; check digits follow their field.
_TD1 = {"code": (0, 0, 2), "issuer": (0, 2, 5), "number": (0, 5, 14), "number_cd": (0, 14, 15),
        "opt1": (0, 15, 30), "birth": (1, 0, 6), "birth_cd": (1, 6, 7), "sex": (1, 7, 8),
        "expiry": (1, 8, 14), "expiry_cd": (1, 14, 15), "nationality": (1, 15, 18),
        "opt2": (1, 18, 29), "composite_cd": (1, 29, 30), "name": (2, 0, 30)}
_TD2 = {"code": (0, 0, 2), "issuer": (0, 2, 5), "name": (0, 5, 36), "number": (1, 0, 9),
        "number_cd": (1, 9, 10), "nationality": (1, 10, 13), "birth": (1, 13, 19),
        "birth_cd": (1, 19, 20), "sex": (1, 20, 21), "expiry": (1, 21, 27),
        "expiry_cd": (1, 27, 28), "opt1": (1, 28, 35), "composite_cd": (1, 35, 36)}
_TD3 = {**_TD2, "name": (0, 5, 44), "opt1": (1, 28, 42), "personal_cd": (1, 42, 43),
        "composite_cd": (1, 43, 44)}
# Composite check digit coverage (line, start, end) per ICAO 9303-4/5/6.
_COMPOSITE = {
    "TD1": ((0, 5, 30), (1, 0, 7), (1, 8, 15), (1, 18, 29)),
    "TD2": ((1, 0, 10), (1, 13, 20), (1, 21, 35)),
    "TD3": ((1, 0, 10), (1, 13, 20), (1, 21, 43)),
}


class _Parser:
    def __init__(self, fmt: Format, lines: list[str], correct: bool) -> None:
        self.fmt = fmt
        self.lines = [list(line) for line in lines]
        self.original = tuple(lines)
        self.pos = {"TD1": _TD1, "TD2": _TD2, "TD3": _TD3}[fmt]
        self.correct = correct

    def get(self, name: str) -> str:
        line, a, b = self.pos[name]
        return "".join(self.lines[line][a:b])

    def put(self, name: str, value: str) -> None:
        line, a, b = self.pos[name]
        self.lines[line][a:b] = list(value)

    def digits(self, name: str, *, cd: str | None = None, allow_filler: bool = False) -> str:
        """A digits-only field (letters repaired to digits only if its check digit agrees)."""
        value = self.get(name)
        cd_value = self.get(cd) if cd else None
        if self.correct:
            value = "".join(_TO_DIGIT.get(c, c) for c in value)
            if cd_value is not None:
                cd_value = _TO_DIGIT.get(cd_value, cd_value)
        label = _LABELS[name]
        empty = allow_filler and set(value) == {"<"}
        if not empty and not value.isdigit():
            raise MrzError(label, "must be digits")
        if cd is not None and cd_value is not None:
            if empty:
                if cd_value not in ("<", "0"):
                    raise MrzError(label, "check digit does not match")
            elif cd_value != check_digit(value):
                raise MrzError(label, "check digit does not match")
            self.put(cd, cd_value)
        self.put(name, value)
        return value

    def letters(self, name: str) -> str:
        value = self.get(name)
        if self.correct:
            value = "".join(_TO_LETTER.get(c, c) for c in value)
        if not all(c.isalpha() or c == "<" for c in value) or not _valid(value):
            raise MrzError(_LABELS[name], "must be letters or '<'")
        self.put(name, value)
        return value

    def document_number_candidates(self) -> tuple[list[str], str]:
        """Candidate document numbers (one unless OCR repair is ambiguous) and what is left of
        the optional data after the number.

        ICAO 9303-5 §4.2.2 note j: a number longer than 9 characters continues in the optional
        data with its check digit after it, and '<' stands in the check-digit position."""
        number, cd, opt = self.get("number"), self.get("number_cd"), self.get("opt1")
        if cd == "<" and self.fmt != "TD3":
            rest = opt.split("<", 1)[0]
            if len(rest) < 2:
                raise MrzError("document number", "extended document number is truncated")
            return self._alnum(number + rest[:-1], rest[-1]), opt[len(rest):]
        return self._alnum(number, cd), opt

    def place_document_number(self, full: str) -> None:
        if len(full) > 9:
            rest = self.get("opt1").split("<", 1)[0]
            self.put("number", full[:9])
            self.put("opt1", full[9:] + rest[-1] + self.get("opt1")[len(rest):])
        else:
            self.put("number", full)
            self.put("number_cd", check_digit(full))

    def _alnum(self, value: str, cd: str) -> list[str]:
        """Alphanumeric field with its check digit: the value itself if it passes, else (when
        correcting) every OCR-confusion variant that passes; the composite check digit later
        picks among them, and more than one survivor is refused."""
        cd = _TO_DIGIT.get(cd, cd) if self.correct else cd
        if not cd.isdigit():
            raise MrzError("document number", "check digit is not a digit")
        if _valid(value) and check_digit(value) == cd:
            return [value]
        if not self.correct:
            raise MrzError("document number", "check digit does not match")
        options = []
        for c in value:
            alts = {c}.union(*(set(cls) for cls in _CONFUSABLE if c in cls)) & _ALLOWED
            if not alts:
                raise MrzError("document number", "unreadable character")
            options.append(sorted(alts))
        total = 1
        for o in options:
            total *= len(o)
        if total > _MAX_CANDIDATES:
            raise MrzError("document number", "too many ambiguous characters to repair")
        passing = sorted({"".join(p) for p in itertools.product(*options)
                          if check_digit("".join(p)) == cd})
        if not passing:
            raise MrzError("document number", "check digit does not match")
        return passing

    def composite_ok(self, composite_cd: str) -> bool:
        text = "".join("".join(self.lines[line][a:b]) for line, a, b in _COMPOSITE[self.fmt])
        # OCR noise outside the MRZ alphabet (e.g. '|' in the optional data) that repair left
        # in place cannot pass a check digit; check_digit() itself would raise ValueError.
        return _valid(text) and check_digit(text) == composite_cd

    def parse(self) -> Mrz:
        issuer = self.letters("issuer")
        candidates, opt1 = self.document_number_candidates()
        birth = self.digits("birth", cd="birth_cd", allow_filler=True)
        sex = self.get("sex")
        if sex not in ("M", "F", "<", "X"):
            raise MrzError("sex", "must be M, F, X or '<'")
        expiry = self.digits("expiry", cd="expiry_cd")
        nationality = self.letters("nationality")
        if self.fmt == "TD3":
            personal = self.get("opt1")
            pcd = self.get("personal_cd")
            if not (set(personal) == {"<"} and pcd in ("<", "0")) and (
                    not _valid(personal) or check_digit(personal) != pcd):
                raise MrzError("personal number", "check digit does not match")
        composite_cd = self.digits("composite_cd")
        id_number = self.cccd_id_number(issuer, opt1)
        cccd = bool(id_number)
        if cccd and self.correct:
            # A CCCD's document number is digits (the ID's last 9): a letter in it is an OCR
            # confusion even where its check digit cannot tell (G/6, S/8, B/8 differ by 10).
            cd = _TO_DIGIT.get(self.get("number_cd"), self.get("number_cd"))
            digits = {"".join(_TO_DIGIT.get(c, c) for c in cand) for cand in candidates}
            candidates = sorted({*candidates, *(d for d in digits
                                                if d.isdigit() and check_digit(d) == cd)})
        survivors = []
        for candidate in candidates:
            self.place_document_number(candidate)
            # CCCD (ICAO 9303-5 TD1 as Vietnam issues it): the document number is the last 9
            # digits of the 12-digit ID in the optional data: a cross-check the check digits
            # cannot give (they miss S/8 and G/6 swaps, whose values differ by 10 or 20).
            if self.composite_ok(composite_cd) and (not cccd or candidate == id_number[3:]):
                survivors.append(candidate)
        if len(survivors) != 1:
            if len(candidates) == 1 and cccd and self.composite_ok(composite_cd):
                raise MrzError("document number", "does not match the ID number")
            raise MrzError("composite check digit",
                           "does not match" if not survivors else "repair is ambiguous")
        number = survivors[0]
        self.place_document_number(number)
        number = number.rstrip("<")
        primary, _, secondary = self.get("name").partition("<<")
        if not _valid(self.get("name")):
            raise MrzError("name", "contains characters outside A-Z, 0-9 and '<'")
        opt2 = self.get("opt2").rstrip("<") if self.fmt == "TD1" else ""
        lines = tuple("".join(line) for line in self.lines)
        opt1 = self.get("opt1") if cccd else opt1
        return Mrz(self.fmt, self.get("code").rstrip("<"), issuer, number, nationality, birth,
                   "<" if sex == "X" else sex, expiry, primary.replace("<", " ").strip(),
                   secondary.replace("<", " ").strip(), opt1.rstrip("<"), opt2, lines,
                   lines != self.original, id_number)

    def cccd_id_number(self, issuer: str, opt1: str) -> str:
        """The 12-digit ID of a CCCD's TD1 optional data, or "" when this is not one.

        Issued CCCDs print ``ID(12) << C`` in positions 16-30 of line 1, C being the ID's own
        check digit (9303-3 §4.9 over the 12 digits); virtual cards of earlier versions printed
        ``ID(12) <<<``. With ``correct``, letters in the ID are read as the digits they are
        confused with, kept only when the ID's check digit (or, without one, the composite
        check digit the caller verifies over the repaired line) agrees."""
        if self.fmt != "TD1" or issuer != "VNM" or len(opt1) != 15:
            return ""
        digits, tail = opt1[:12], opt1[12:]
        if self.correct:
            digits = "".join(_TO_DIGIT.get(c, c) for c in digits)
            if tail[:2] == "<<" and tail[2] != "<":
                tail = "<<" + _TO_DIGIT.get(tail[2], tail[2])
        if not digits.isdigit() or tail[:2] != "<<":
            return ""
        if tail[2] != "<":
            if not tail[2].isdigit():
                return ""
            if check_digit(digits) != tail[2]:
                raise MrzError("ID number", "check digit does not match")
        line, a, _ = self.pos["opt1"]
        self.lines[line][a:a + 15] = list(digits + tail)
        return digits


_LABELS = {"birth": "date of birth", "expiry": "date of expiry",
           "composite_cd": "composite check digit", "issuer": "issuing state",
           "nationality": "nationality"}
