"""What the backend knows of each station, as values: a station's own account of itself parsed
from MQTT (retained status, heartbeat, command answers), its certificate's state from the
registry, and the verdicts the operator console filters on.

Parsing keeps only typed, bounded fields: a message that is not JSON of the published shape
(``contract/schemas/{status,health,command-reply}.json``) is refused with
:class:`~station.errors.FleetMessageError`, an unknown field is dropped, free text (alarms, a
command's answer) is cut to :data:`MAX_TEXT` characters. A station is trusted to describe
itself, not to put anything else in the operator's database.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from station import topics
from station.errors import FleetMessageError

STATION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
"""As ``contract/schemas/status.json`` has it (also the certificate's CN)."""
MAX_PAYLOAD = 16 * 1024
MAX_TEXT = 200
MAX_ALARMS = 16


class Verdict(enum.Enum):
    ONLINE = "online"
    OFFLINE = "offline"
    """The station said so: a clean stop, or its Last Will (the broker saw the connection
    die)."""
    SILENT = "silent"
    """No heartbeat for :attr:`FleetPolicy.stale_after_intervals` intervals while the status
    still says online: a cut network, a hung process, a broker that lost the Will."""
    UNKNOWN = "unknown"
    """Registered but never heard of."""

    @property
    def is_down(self) -> bool:
        return self in (Verdict.OFFLINE, Verdict.SILENT)


@dataclass(frozen=True)
class StationTopic:
    station_id: str
    leaf: str
    """``status``, ``health``, ``events/command``…"""


@dataclass(frozen=True)
class Status:
    state: str
    """``online`` or ``offline``."""
    station_time: float
    """The station's clock when it said so (the Will carries the connect time)."""


@dataclass(frozen=True)
class Heartbeat:
    uptime_s: int
    pending: int
    in_flight: int
    delivered: int
    oldest_pending_age_s: float | None
    expired: int
    last_seq: int
    outbox_full: bool
    acked: int
    refused: int
    alarms: tuple[str, ...]
    version: str | None = None
    """The station's software version (stations before 0.1 did not say)."""
    interval_s: float | None = None
    """Seconds between its heartbeats (stations before 0.1 did not say)."""


@dataclass(frozen=True)
class CommandReply:
    command_id: str
    cmd: str
    ok: bool
    message: str


@dataclass(frozen=True)
class FleetPolicy:
    """When the console calls a station silent, backlogged or its certificate near expiry."""

    stale_after_intervals: float = 3.0
    default_interval_s: float = 30.0
    """For a station whose heartbeat does not say its interval (the publisher's default)."""
    backlog_pending: int = 100
    backlog_age_s: float = 900.0
    """Oldest record still waiting for its receipt: 15 minutes is a station that cannot
    deliver, whatever the count."""
    cert_warning_days: float = 30.0


@dataclass(frozen=True)
class StationRow:
    """One station as the fleet store holds it."""

    station_id: str
    registered: bool
    tls_not_after: dt.datetime | None
    revoked_at: str | None
    state: str | None
    state_at: float | None
    """When the backend learnt the state (its own clock)."""
    health_at: float | None
    """When the last heartbeat arrived (the backend's clock)."""
    heartbeat: Heartbeat | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def last_seen(self) -> float | None:
        seen = [t for t in (self.state_at, self.health_at) if t is not None]
        return max(seen) if seen else None

    def verdict(self, now: float, policy: FleetPolicy) -> Verdict:
        if self.state is None and self.health_at is None:
            return Verdict.UNKNOWN
        if self.state == "offline":
            return Verdict.OFFLINE
        interval = (self.heartbeat.interval_s if self.heartbeat and self.heartbeat.interval_s
                    else policy.default_interval_s)
        last = self.last_seen
        if last is None or now - last > policy.stale_after_intervals * interval:
            return Verdict.SILENT
        return Verdict.ONLINE

    def backlogged(self, policy: FleetPolicy) -> bool:
        hb = self.heartbeat
        if hb is None:
            return False
        age = hb.oldest_pending_age_s
        return hb.pending >= policy.backlog_pending or (age is not None
                                                        and age >= policy.backlog_age_s)

    def alarmed(self) -> bool:
        hb = self.heartbeat
        return hb is not None and bool(hb.alarms or hb.outbox_full or hb.expired or hb.refused)

    def cert_days_left(self, now: float) -> float | None:
        if self.tls_not_after is None:
            return None
        return (self.tls_not_after.timestamp() - now) / 86400

    def cert_expiring(self, now: float, policy: FleetPolicy) -> bool:
        left = self.cert_days_left(now)
        return left is not None and left <= policy.cert_warning_days


class Filter(enum.Enum):
    """The console's station-list filters."""

    OFFLINE = "offline"
    """Offline or silent."""
    BACKLOGGED = "backlogged"
    ALARMED = "alarmed"
    CERT_EXPIRING = "cert-expiring"
    REVOKED = "revoked"

    def matches(self, row: StationRow, now: float, policy: FleetPolicy) -> bool:
        if self is Filter.OFFLINE:
            return row.verdict(now, policy).is_down
        if self is Filter.BACKLOGGED:
            return row.backlogged(policy)
        if self is Filter.ALARMED:
            return row.alarmed()
        if self is Filter.CERT_EXPIRING:
            return row.cert_expiring(now, policy)
        return row.revoked


@dataclass(frozen=True)
class FleetEvent:
    event_id: int
    station_id: str
    at: float
    kind: str
    """``status``, ``alarm``, ``alarm-cleared``, ``silent``, ``version``, ``command-sent``,
    ``command``, ``event``, ``revoked``, ``unrevoked``."""
    detail: str


@dataclass(frozen=True)
class CommandSent:
    """A command the console sent and what became of it. Its arguments (a CAN, a guest's entry
    details) are never kept."""

    command_id: str
    station_id: str
    cmd: str
    sent_by: str
    sent_at: float
    answered_at: float | None = None
    ok: bool | None = None
    message: str | None = None


# --- parsing what stations publish -----------------------------------------------------------


def parse_topic(topic: str) -> StationTopic:
    parts = topic.split("/", 2)
    if len(parts) != 3 or parts[0] != topics.ROOT or not STATION_ID.match(parts[1]):
        raise FleetMessageError(topic[:80], "not a stations/<id>/… topic")
    return StationTopic(parts[1], parts[2])


def _json(where: str, payload: bytes) -> dict[str, Any]:
    if len(payload) > MAX_PAYLOAD:
        raise FleetMessageError(where, f"{len(payload)} bytes, more than {MAX_PAYLOAD}")
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise FleetMessageError(where, "not JSON") from None
    if not isinstance(doc, dict):
        raise FleetMessageError(where, "not a JSON object")
    return doc


def _text(value: Any, where: str, field: str) -> str:
    if not isinstance(value, str):
        raise FleetMessageError(where, f"{field} is not a string")
    return value[:MAX_TEXT]


def _count(doc: dict[str, Any], where: str, field: str) -> int:
    value = doc.get(field)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FleetMessageError(where, f"{field} is not a count")
    return value


def _seconds(value: Any, where: str, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value < 0:
        raise FleetMessageError(where, f"{field} is not a number of seconds")
    return float(value)


def _own(doc: dict[str, Any], station_id: str, where: str) -> None:
    # The broker lets a station write only under its own id; a payload naming another is a
    # bug or a forgery, not a message about that other station.
    if doc.get("station", station_id) != station_id:
        raise FleetMessageError(where, "names another station than its topic")


def parse_status(station_id: str, payload: bytes) -> Status:
    where = f"stations/{station_id}/status"
    doc = _json(where, payload)
    _own(doc, station_id, where)
    state = doc.get("state")
    if state not in ("online", "offline"):
        raise FleetMessageError(where, "state is neither online nor offline")
    return Status(str(state), _seconds(doc.get("time", 0), where, "time"))


def parse_health(station_id: str, payload: bytes) -> Heartbeat:
    where = f"stations/{station_id}/health"
    doc = _json(where, payload)
    _own(doc, station_id, where)
    alarms = doc.get("alarms", [])
    if not isinstance(alarms, list):
        raise FleetMessageError(where, "alarms is not a list")
    age = doc.get("oldest_pending_age_s")
    version = doc.get("version")
    interval = doc.get("interval_s")
    full = doc.get("outbox_full", False)
    if not isinstance(full, bool):
        raise FleetMessageError(where, "outbox_full is not a boolean")
    return Heartbeat(
        uptime_s=_count(doc, where, "uptime_s"), pending=_count(doc, where, "pending"),
        in_flight=_count(doc, where, "in_flight"), delivered=_count(doc, where, "delivered"),
        oldest_pending_age_s=None if age is None else _seconds(age, where,
                                                               "oldest_pending_age_s"),
        expired=_count(doc, where, "expired"), last_seq=_count(doc, where, "last_seq"),
        outbox_full=full, acked=_count(doc, where, "acked"),
        refused=_count(doc, where, "refused"),
        alarms=tuple(_text(a, where, "alarms[]") for a in alarms[:MAX_ALARMS]),
        version=None if version is None else _text(version, where, "version")[:64],
        interval_s=None if interval is None or interval == 0
        else _seconds(interval, where, "interval_s"))


def parse_reply(station_id: str, payload: bytes) -> CommandReply:
    where = f"stations/{station_id}/events/command"
    doc = _json(where, payload)
    ok = doc.get("ok")
    if not isinstance(ok, bool):
        raise FleetMessageError(where, "ok is not a boolean")
    return CommandReply(_text(doc.get("id"), where, "id")[:64],
                        _text(doc.get("cmd"), where, "cmd")[:32], ok,
                        _text(doc.get("message", ""), where, "message"))
