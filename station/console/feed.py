"""From committed records to what a desk's screen shows, and the live feed that carries them.

:class:`FeedHub` is one poller per console process: every ``poll_interval_s`` it asks the store
for records committed after its cursor (:meth:`ConsoleStore.feed`, commit order, sound with
several ingest workers and several console processes, each polling on its own) and hands each
one to the subscribers bound to that record's desk. A subscriber is one open desk view (one
server-sent-events stream); it opens the record itself, so a record is opened only for a clerk
of its own desk, and the audit log gets one ``shown`` line per record and clerk.

:func:`present` turns an opened record into a :class:`DeskReading`: the outcome badge, the
profile's fields in the profile's order with their labels, and the photo when the profile keeps
one. Nothing here logs a field.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric import x25519

from station.console.config import Language
from station.console.store import ConsoleStore, ConsoleStoreError, Cursor, FeedRow
from station.errors import StationError
from station.ingest.outputs import OpenedRecord
from station.log import event
from station.pipeline.records import Record, RecordError, parse_unverified
from station.service.profiles import FIELDS, FOREIGN_FIELDS

log = logging.getLogger(__name__)

Badge = Literal["genuine", "authentic", "not_genuine", "mrz_only", "unverified"]

BADGES: Mapping[Language, Mapping[Badge, str]] = {
    "vi": {"genuine": "THẺ THẬT — xác thực chip", "authentic": "HỢP LỆ — chữ ký số",
           "not_genuine": "KHÔNG HỢP LỆ", "mrz_only": "CHỈ MRZ — chưa đọc chip",
           "unverified": "CHƯA XÁC THỰC"},
    "en": {"genuine": "GENUINE — chip verified", "authentic": "AUTHENTIC — signature valid",
           "not_genuine": "NOT GENUINE", "mrz_only": "MRZ ONLY — chip not read",
           "unverified": "UNVERIFIED"},
}

LABELS: Mapping[Language, Mapping[str, str]] = {
    "vi": {
        "id_number": "Số định danh cá nhân", "full_name": "Họ và tên",
        "date_of_birth": "Ngày sinh", "sex": "Giới tính", "nationality": "Quốc tịch",
        "ethnicity": "Dân tộc", "religion": "Tôn giáo", "place_of_origin": "Quê quán",
        "place_of_residence": "Nơi thường trú",
        "personal_identification": "Đặc điểm nhận dạng", "date_of_issue": "Ngày cấp",
        "date_of_expiry": "Có giá trị đến", "father_name": "Họ tên cha",
        "mother_name": "Họ tên mẹ", "spouse_name": "Họ tên vợ/chồng",
        "old_id_number": "Số CMND cũ", "source": "Nguồn dữ liệu", "chip_failure": "Lỗi chip",
        "document_kind": "Loại giấy tờ", "issuing_state": "Quốc gia cấp",
        "passport_number": "Số hộ chiếu", "document_expiry": "Ngày hết hạn giấy tờ",
        "visa_number": "Số thị thực", "entry_date": "Ngày nhập cảnh",
        "entry_port": "Cửa khẩu nhập cảnh", "purpose": "Mục đích",
        "stay_until": "Tạm trú đến ngày",
    },
    "en": {
        "id_number": "Personal ID number", "full_name": "Full name",
        "date_of_birth": "Date of birth", "sex": "Sex", "nationality": "Nationality",
        "ethnicity": "Ethnicity", "religion": "Religion", "place_of_origin": "Place of origin",
        "place_of_residence": "Place of residence",
        "personal_identification": "Identifying marks", "date_of_issue": "Date of issue",
        "date_of_expiry": "Valid until", "father_name": "Father", "mother_name": "Mother",
        "spouse_name": "Spouse", "old_id_number": "Old ID number", "source": "Source",
        "chip_failure": "Chip failure", "document_kind": "Document", "issuing_state":
        "Issuing state", "passport_number": "Passport number", "document_expiry":
        "Document expiry", "visa_number": "Visa number", "entry_date": "Entry date",
        "entry_port": "Port of entry", "purpose": "Purpose", "stay_until": "Staying until",
    },
}
_ORDER: dict[str, int] = {}
for _name in (*FIELDS, *FOREIGN_FIELDS):  # a CCCD's order first; a guest's extras after
    _ORDER.setdefault(_name, len(_ORDER))


def badge(outcome: str, protocol: str | None) -> Badge:
    if outcome == "genuine":
        return "genuine"
    if outcome == "authentic":
        return "authentic"
    if outcome == "invalid":
        return "not_genuine"
    return "mrz_only" if protocol == "MRZ" else "unverified"


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    value: str


@dataclass(frozen=True)
class DeskReading:
    """What one desk view shows of one record (the citizen's data: never logged)."""

    record_id: str
    station_id: str
    profile: str
    outcome: str
    badge: Badge
    badge_text: str
    wall: str
    received_at: float
    fields: tuple[Field, ...]
    photo: str | None
    """A ``data:`` URL of the face, when the profile keeps one."""

    def to_json(self, expires_in_s: float) -> dict[str, Any]:
        return {"record_id": self.record_id, "station_id": self.station_id,
                "profile": self.profile, "outcome": self.outcome, "badge": self.badge,
                "badge_text": self.badge_text, "wall": self.wall,
                "expires_in_s": round(max(expires_in_s, 0.0), 1),
                "fields": [{"name": f.name, "label": f.label, "value": f.value}
                           for f in self.fields], "photo": self.photo}


def record_of(token: bytes) -> Record:
    """The clear part of a stored token (ingest verified its signature when it arrived)."""
    _header, payload, _si, _sig = parse_unverified(token)
    try:
        return Record.from_json(json.loads(payload))
    except ValueError as exc:
        raise RecordError("stored record is not JSON") from exc


def _photo(face: bytes) -> str | None:
    if face[:3] == b"\xff\xd8\xff":
        kind = "image/jpeg"
    elif face[:8] == b"\x89PNG\r\n\x1a\n":
        kind = "image/png"
    else:
        return None  # JPEG 2000: browsers do not render it; the API still returns it
    return f"data:{kind};base64,{base64.b64encode(face).decode('ascii')}"


def present(row: FeedRow, key: x25519.X25519PrivateKey | None, lang: Language) -> DeskReading:
    """Raises :class:`RecordError` when the stored token does not open."""
    fields: list[Field] = []
    photo = None
    protocol = None
    if row.token is not None:
        if key is not None:
            opened = OpenedRecord.from_token(row.token, key)
            record, citizen = opened.record, dict(opened.fields)
            face = citizen.pop("face", None)
            if isinstance(face, bytes) and face:
                photo = _photo(face)
            labels = LABELS[lang]
            for name in sorted(citizen, key=lambda n: _ORDER.get(n, len(_ORDER))):
                value = citizen[name]
                if isinstance(value, bytes | dict | list):
                    continue
                fields.append(Field(name, labels.get(name, name), str(value)))
        else:
            record = record_of(row.token)
        protocol = record.protocol
    b = badge(row.outcome, protocol)
    return DeskReading(row.record_id, row.station_id, row.profile, row.outcome, b,
                       BADGES[lang][b], row.wall, row.received_at, tuple(fields), photo)


class Subscriber:
    """One open desk view: the desks it shows and a queue of rows for it."""

    def __init__(self, desks: frozenset[str]) -> None:
        self.desks = desks
        self.queue: asyncio.Queue[FeedRow] = asyncio.Queue(maxsize=1000)


class FeedHub:
    """Polls the store in commit order and fans rows out to the subscribed desk views."""

    def __init__(self, store: ConsoleStore, poll_interval_s: float) -> None:
        self.store = store
        self.poll_interval_s = poll_interval_s
        self._subscribers: set[Subscriber] = set()
        self._cursor: Cursor | None = None
        self.polls = 0
        self.closing = False
        """Set (from any thread) before the server stops: open desk views end their streams
        within :data:`~station.console.desk.WAKE_S` instead of being cut at the shutdown
        timeout."""

    def subscribe(self, desks: frozenset[str]) -> Subscriber:
        sub = Subscriber(desks)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)

    async def poll_once(self) -> int:
        if self._cursor is None:
            self._cursor = await asyncio.to_thread(self.store.head)
        rows = await asyncio.to_thread(self.store.feed, None, self._cursor, 500)
        self.polls += 1
        for row in rows:
            self._cursor = row.cursor
            for sub in list(self._subscribers):
                if row.station_id in sub.desks:
                    try:
                        sub.queue.put_nowait(row)
                    except asyncio.QueueFull:  # a stalled view; it reloads what is recent
                        event(log, "console.feed_overflow", logging.WARNING)
        return len(rows)

    async def run(self) -> None:
        while True:
            try:
                n = await self.poll_once()
            except (ConsoleStoreError, StationError) as exc:
                event(log, "console.feed_failed", logging.ERROR, reason=type(exc).__name__)
                n = 0
            if n < 500:
                await asyncio.sleep(self.poll_interval_s)


def recent(store: ConsoleStore, desks: frozenset[str], ttl_s: float) -> list[FeedRow]:
    """Readings of ``desks`` still due on screen (received within ``ttl_s``, not yet
    acknowledged), oldest first: what a desk view opened now starts with."""
    return store.recent(sorted(desks), time.time() - ttl_s)
