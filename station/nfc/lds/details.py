"""What DG11 and DG12 share (ICAO 9303-10 §4.7.11/§4.7.12): a tag-list header (5C), then
primitive fields in any order, a content-specific constructed template A0 for a multi-valued
field (``02`` count, then the repeated value tag), dates as ``YYYYMMDD``.

Real chips differ in small ways the parsers accept rather than reject: some list tags in 5C that
are absent or omit ones that are present (:attr:`DetailFields.tag_list_mismatch` records both),
some split the multi-valued field into one A0 template per value, and some older ones encode
dates as four packed-BCD bytes. Text is UTF-8 per LDS 1.7; a field that is not valid UTF-8 is
read as ISO 8859-1 (the character set the 2006 LDS named) rather than failing the whole group.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

from station.errors import LdsFormatError
from station.nfc import tlv

TAG_LIST = 0x5C
OTHER_VALUES = 0xA0
COUNT = 0x02


@dataclass(frozen=True)
class DetailFields:
    """A DG11/DG12 split into its fields: single values by tag, the A0 values, what is odd."""

    values: Mapping[int, bytes]
    """Primitive fields by tag (first occurrence), raw value bytes."""
    multi: tuple[bytes, ...]
    """The repeated values inside A0 template(s), in order."""
    tag_list: tuple[int, ...]
    tag_list_mismatch: tuple[str, ...] = field(default=())
    """``"listed-absent:5F10"`` / ``"present-unlisted:5F12"`` entries (hex tags)."""


def _tag_list(value: bytes) -> tuple[int, ...]:
    tags: list[int] = []
    pos = 0
    while pos < len(value):
        tag, pos = tlv.read_tag(value, pos)
        tags.append(tag)
    return tuple(tags)


def split(data: bytes, *, file_tag: int, name: str, multi_tag: int) -> DetailFields:
    """Parse the outer template; raise :class:`LdsFormatError` on anything structurally wrong."""
    root = tlv.decode(data, trailing=True)
    if root.tag != file_tag:
        raise LdsFormatError(f"{name} does not start with tag {file_tag:02X}")
    if not root.constructed:
        raise LdsFormatError(f"{name} is not a constructed data object")
    children = root.children()
    if not children or children[0].tag != TAG_LIST:
        raise LdsFormatError(f"{name} has no tag list (5C) first")
    listed = _tag_list(children[0].value)
    values: dict[int, bytes] = {}
    multi: list[bytes] = []
    present: list[int] = []
    for child in children[1:]:
        present.append(child.tag)
        if child.tag == OTHER_VALUES:
            if not child.constructed:
                raise LdsFormatError(f"{name}: A0 is not a template")
            for inner in child.children():
                if inner.tag == COUNT:
                    if not 1 <= len(inner.value) <= 2:
                        raise LdsFormatError(f"{name}: A0 count is not a small INTEGER")
                elif inner.tag == multi_tag:
                    multi.append(inner.value)
                else:
                    raise LdsFormatError(f"{name}: unexpected tag {inner.tag:X} inside A0")
        elif child.constructed:
            raise LdsFormatError(f"{name}: unexpected template {child.tag:X}")
        elif child.tag == multi_tag:
            multi.append(child.value)  # outside A0 on some chips: still one of the values
        else:
            values.setdefault(child.tag, child.value)
    mismatch = tuple(
        [f"listed-absent:{t:X}" for t in listed if t not in present]
        + [f"present-unlisted:{t:X}" for t in dict.fromkeys(present) if t not in listed])
    return DetailFields(values, tuple(multi), listed, mismatch)


def text(raw: bytes) -> str:
    try:
        s = raw.decode("utf-8")
    except UnicodeDecodeError:
        s = raw.decode("latin-1")
    return unicodedata.normalize("NFC", s)


def date(raw: bytes, name: str, digits: int = 8) -> str:
    """``YYYYMMDD`` (or ``YYYYMMDDhhmmss`` with ``digits=14``) as 8/14 ASCII digits or, on older
    chips, packed BCD of half that many bytes. Unknown parts may be zeros; that is kept."""
    if len(raw) == digits // 2:
        s = raw.hex()
    else:
        try:
            s = raw.decode("ascii")
        except UnicodeDecodeError:
            raise LdsFormatError(f"{name} is not a date") from None
    if len(s) != digits or not s.isdigit():
        raise LdsFormatError(f"{name} is not a {digits}-digit date")
    return s

