"""An establishment's upload template as a lodging layout file (TOML).

The lodging forms' columns (:data:`~station.ingest.outputs.DEFAULT_LAYOUT`) are ours: the
public-service portals' bulk-upload templates are not published where we could read them, and
they differ between portals and change. An operator who has the template writes it down once::

    [citizens]
    sheet = "Lưu trú"          # the XLSX sheet (≤ 31 characters)
    row_number = "STT"         # header of a row-number column; "" for none
    date_format = "%d/%m/%Y"   # strftime

    [[citizens.columns]]
    header = "Họ và tên"
    value = "full_name"        # a value by key (README: contract/README.md)

    [[citizens.columns]]
    header = "Giới tính"
    value = "sex"
    map = { "Nam" = "1", "Nữ" = "2" }   # a portal's codes; other values as they are

    [[citizens.columns]]
    header = "Loại giấy tờ"
    text = "CCCD"              # the same text in every row

and ``[foreigners]`` likewise. A table left out keeps the default one; a table given lists all
of its columns. ``contract/lodging-layout.example.toml`` is the default layout written out.
Every mistake is a :class:`~station.errors.ConfigError` naming the key and what is allowed,
before anything is rendered.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from station.errors import ConfigError
from station.ingest.outputs import (
    CITIZEN_VALUES,
    DEFAULT_LAYOUT,
    FOREIGNER_VALUES,
    Column,
    LodgingLayout,
    OpenedRecord,
    Stay,
    Table,
)

_TABLE_KEYS = ("sheet", "row_number", "date_format", "columns")
_COLUMN_KEYS = ("header", "value", "text", "map")
_SHEET_FORBIDDEN = set("[]:*?/\\")
# Three dates that differ in day, month and year alone: a format that writes any two the same
# drops a part of every date.
_PROBES = (dt.date(2001, 2, 3), dt.date(2001, 3, 2), dt.date(2002, 2, 3), dt.date(2001, 2, 4))


def load_layout(path: Path) -> LodgingLayout:
    """The layout in ``path``; :class:`ConfigError` (key ``lodging-layout…``) if it cannot be
    read or is not a valid layout."""
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError("lodging-layout", f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError("lodging-layout", f"{path} is not UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("lodging-layout", f"{path} is not TOML: {exc}") from None
    return parse_layout(doc)


def parse_layout(doc: Mapping[str, Any]) -> LodgingLayout:
    """A layout from its parsed TOML document (see the module's docstring)."""
    unknown = sorted(set(doc) - {"citizens", "foreigners"})
    if unknown:
        raise ConfigError(f"lodging-layout.{unknown[0]}",
                          "unknown table (known: citizens, foreigners)")
    citizens = _table("citizens", doc.get("citizens"), DEFAULT_LAYOUT.citizens, CITIZEN_VALUES)
    foreigners = _table("foreigners", doc.get("foreigners"), DEFAULT_LAYOUT.foreigners,
                        FOREIGNER_VALUES)
    if citizens.sheet == foreigners.sheet:
        raise ConfigError("lodging-layout.foreigners.sheet",
                          "the two sheets need different names")
    return LodgingLayout(citizens, foreigners)


def _table(name: str, doc: Any, default: Table, values: Mapping[str, Column]) -> Table:
    if doc is None:
        return default
    key = f"lodging-layout.{name}"
    if not isinstance(doc, dict):
        raise ConfigError(key, "must be a table")
    unknown = sorted(set(doc) - set(_TABLE_KEYS))
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]}", "unknown key (known: "
                          + ", ".join(_TABLE_KEYS) + ")")
    sheet = _string(doc, "sheet", key, default.sheet)
    if not sheet or len(sheet) > 31 or _SHEET_FORBIDDEN & set(sheet):
        raise ConfigError(f"{key}.sheet", "1–31 characters, none of [ ] : * ? / \\ "
                          "(an XLSX sheet name)")
    row_number = _string(doc, "row_number", key, default.row_number)
    date_format = _string(doc, "date_format", key, default.date_format)
    try:
        probes = {d.strftime(date_format) for d in _PROBES}
    except ValueError as exc:
        raise ConfigError(f"{key}.date_format", f"not a strftime format: {exc}") from None
    if len(probes) < len(_PROBES):
        raise ConfigError(f"{key}.date_format",
                          f"{date_format!r} does not write the day, month and year "
                          "(e.g. %d/%m/%Y, %Y-%m-%d)")
    columns = doc.get("columns")
    if not isinstance(columns, list) or not columns:
        raise ConfigError(f"{key}.columns", "a table lists its columns ([[" + name
                          + ".columns]] with header and value or text)")
    return Table(sheet, tuple(_column(f"{key}.columns[{n}]", c, values)
                              for n, c in enumerate(columns, 1)),
                 row_number, date_format)


def _column(key: str, doc: Any, values: Mapping[str, Column]) -> Column:
    if not isinstance(doc, dict):
        raise ConfigError(key, "must be a table (header, value or text, map)")
    unknown = sorted(set(doc) - set(_COLUMN_KEYS))
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]}", "unknown key (known: "
                          + ", ".join(_COLUMN_KEYS) + ")")
    header = _string(doc, "header", key, "")
    if not header.strip():
        raise ConfigError(f"{key}.header", "every column needs a header")
    if ("value" in doc) == ("text" in doc):
        raise ConfigError(key, "give either value (a key) or text (the same in every row)")
    if "text" in doc:
        base = Column("text", header, _same(_string(doc, "text", key, "")), "fixed text")
    else:
        name = _string(doc, "value", key, "")
        if name not in values:
            raise ConfigError(f"{key}.value", f"unknown value {name!r} (known: "
                              + ", ".join(values) + ")")
        base = values[name]
    mapping = doc.get("map", {})
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        raise ConfigError(f"{key}.map", "a table of text replacements, e.g. "
                          '{ "Nam" = "1", "Nữ" = "2" }')
    return Column(base.key, header, base.value, base.source, base.date,
                  MappingProxyType(dict(mapping)))


def _string(doc: Mapping[str, Any], name: str, key: str, default: str) -> str:
    value = doc.get(name, default)
    if not isinstance(value, str):
        raise ConfigError(f"{key}.{name}", "must be a string")
    return value


def _same(text: str) -> Callable[[OpenedRecord, Stay | None], str]:
    return lambda o, s: text
