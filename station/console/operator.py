"""The operator's pages and API: every station with its verdict, filters, a station's page with
its recent events, command and revoke forms (operator and admin roles; forms carry the CSRF
token), and the same under ``/api/v1/fleet`` for operator tools with an API token.

Everything shown comes from the fleet's tables (:mod:`station.ingest.fleet`): what stations say
about themselves and the registry's certificate state, never a record. A command's arguments
(a CAN, a guest's entry details) travel in the POST body to the tracker and on to the station;
they are not stored, logged, audited or put in a URL. Each command sent and each revocation is
one line in the console's audit log (who, which station, which command).
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field

from station.console.security import (
    TEMPLATES,
    Console,
    Principal,
    api_user,
    check_csrf,
    console,
    page_user,
)
from station.errors import CommandRefused
from station.ingest.fleet import (
    CommandSent,
    Filter,
    FleetEvent,
    StationRow,
    set_revoked,
)
from station.ingest.fleet.model import STATION_ID
from station.ingest.fleet.revoke import REMAINING
from station.pipeline.publisher import COMMANDS

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1/fleet", tags=["operators"])

OperatorPage = Annotated[Principal, Depends(page_user("operator", "admin"))]
OperatorApi = Annotated[Principal, Depends(api_user("operator", "admin"))]

FORMS: dict[str, tuple[tuple[str, str], ...]] = {
    "ping": (),
    "purge_acked": (),
    "can": (("can", "text"),),
    "booking": (("booking_id", "text"), ("room", "text"), ("arrival", "date"),
                ("departure", "date"), ("close", "checkbox")),
    "entry": (("visa_number", "text"), ("entry_date", "date"), ("entry_port", "text"),
              ("purpose", "text"), ("stay_until", "date"), ("clear", "checkbox")),
}
"""The command forms of the station page: each command the desk takes from an operator, with
its arguments as :mod:`station.service.commands` reads them (``reload``/``profile`` only
answer "restart the service": API only)."""

TEXT = {
    "vi": {"stations": "Trạm đọc", "station": "Trạm", "verdict": "Trạng thái",
           "last_seen": "Lần cuối", "pending": "Chờ gửi", "oldest": "Cũ nhất (s)",
           "alarms": "Cảnh báo", "cert": "Chứng thư còn (ngày)", "version": "Phiên bản",
           "revoked": "Đã thu hồi", "all": "Tất cả", "events": "Sự kiện gần đây",
           "commands": "Lệnh", "sent": "Đã gửi lệnh", "send": "Gửi", "revoke": "Thu hồi trạm",
           "unrevoke": "Bỏ thu hồi", "confirm": "Gõ mã trạm để xác nhận",
           "manual": "Còn phải làm tay, theo thứ tự:", "uptime": "Thời gian chạy (s)",
           "none": "Không có trạm nào.", "signout": "Đăng xuất", "heartbeat": "Nhịp tim",
           "no_ca": "Console này không giữ CA: thu hồi bằng python -m provisioning revoke.",
           "no_tracker": "Console này không kết nối broker: không gửi được lệnh.",
           "tracker_down": "Console chưa kết nối được broker: trạng thái có thể đã cũ."},
    "en": {"stations": "Stations", "station": "Station", "verdict": "Status",
           "last_seen": "Last seen", "pending": "Pending", "oldest": "Oldest (s)",
           "alarms": "Alarms", "cert": "Certificate (days left)", "version": "Version",
           "revoked": "Revoked", "all": "All", "events": "Recent events",
           "commands": "Commands", "sent": "Command sent", "send": "Send",
           "revoke": "Revoke station",
           "unrevoke": "Unrevoke", "confirm": "Type the station id to confirm",
           "manual": "Still to do by hand, in order:", "uptime": "Uptime (s)",
           "none": "No stations.", "signout": "Sign out", "heartbeat": "Heartbeat",
           "no_ca": "This console holds no CA: revoke with python -m provisioning revoke.",
           "no_tracker": "This console has no broker connection: commands cannot be sent.",
           "tracker_down": "The console cannot reach the broker: states may be out of date."},
}
VERDICTS = {
    "vi": {"online": "trực tuyến", "offline": "ngoại tuyến", "silent": "mất tín hiệu",
           "unknown": "chưa thấy"},
    "en": {"online": "online", "offline": "offline", "silent": "silent", "unknown": "never seen"},
}
FILTERS = {
    "vi": {"offline": "ngoại tuyến", "backlogged": "tồn đọng", "alarmed": "cảnh báo",
           "cert-expiring": "chứng thư sắp hết hạn", "revoked": "đã thu hồi"},
    "en": {"offline": "offline", "backlogged": "backlogged", "alarmed": "alarmed",
           "cert-expiring": "certificate near expiry", "revoked": "revoked"},
}

VerdictName = Literal["online", "offline", "silent", "unknown"]
FilterName = Literal["offline", "backlogged", "alarmed", "cert-expiring", "revoked"]
CommandName = Literal["ping", "purge_acked", "reload", "profile", "can", "booking", "entry"]
assert set(CommandName.__args__) == set(COMMANDS)  # type: ignore[attr-defined]


# --- what the pages and the API show ---------------------------------------------------------


class HeartbeatOut(BaseModel):
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
    alarms: list[str]
    version: str | None
    interval_s: float | None


class StationOut(BaseModel):
    station_id: str
    registered: bool = Field(description="Listed in provisioning's registry")
    verdict: VerdictName = Field(description=(
        "offline: said so or its Last Will; silent: no heartbeat for several of its "
        "intervals while its status says online"))
    state: Literal["online", "offline"] | None
    last_seen: float | None = Field(description="Epoch seconds, the backend's clock")
    heartbeat: HeartbeatOut | None
    cert_not_after: str | None
    cert_days_left: float | None
    revoked_at: str | None
    flags: list[FilterName] = Field(description="The filters this station matches")


class StationsOut(BaseModel):
    now: float
    stations: list[StationOut]


class EventOut(BaseModel):
    at: float
    kind: str
    detail: str


class CommandOut(BaseModel):
    command_id: str
    station_id: str
    cmd: str
    sent_by: str
    sent_at: float
    answered_at: float | None
    ok: bool | None
    message: str | None


class StationDetail(StationOut):
    events: list[EventOut]
    commands: list[CommandOut]


class CommandIn(BaseModel):
    cmd: CommandName
    args: dict[str, str | int | bool] = Field(default_factory=dict, description=(
        "The command's arguments as the station takes them (never stored or logged)"))


class RevocationIn(BaseModel):
    revoked: bool = True


class RevocationOut(BaseModel):
    station_id: str
    revoked: bool
    revoked_at: str | None
    remaining: list[str] = Field(description="What the operator still has to do, in order")


def _station(row: StationRow, c: Console, now: float) -> StationOut:
    policy = c.cfg.fleet.policy
    hb = row.heartbeat
    days = row.cert_days_left(now)
    return StationOut(
        station_id=row.station_id, registered=row.registered,
        verdict=row.verdict(now, policy).value,
        state=row.state,  # type: ignore[arg-type]
        last_seen=row.last_seen,
        heartbeat=None if hb is None else HeartbeatOut(
            uptime_s=hb.uptime_s, pending=hb.pending, in_flight=hb.in_flight,
            delivered=hb.delivered, oldest_pending_age_s=hb.oldest_pending_age_s,
            expired=hb.expired, last_seq=hb.last_seq, outbox_full=hb.outbox_full,
            acked=hb.acked, refused=hb.refused, alarms=list(hb.alarms), version=hb.version,
            interval_s=hb.interval_s),
        cert_not_after=None if row.tls_not_after is None else row.tls_not_after.isoformat(),
        cert_days_left=None if days is None else round(days, 1),
        revoked_at=row.revoked_at,
        flags=[f.value for f in Filter if f.matches(row, now, policy)])


def _command(sent: CommandSent) -> CommandOut:
    return CommandOut(command_id=sent.command_id, station_id=sent.station_id, cmd=sent.cmd,
                      sent_by=sent.sent_by, sent_at=sent.sent_at, answered_at=sent.answered_at,
                      ok=sent.ok, message=sent.message)


def _event(e: FleetEvent) -> EventOut:
    return EventOut(at=e.at, kind=e.kind, detail=e.detail)


def _stations(c: Console, filters: list[FilterName]) -> StationsOut:
    now = time.time()
    chosen = [Filter(f) for f in filters]
    policy = c.cfg.fleet.policy
    rows = [r for r in c.fleet.stations()
            if all(f.matches(r, now, policy) for f in chosen)]
    return StationsOut(now=now, stations=[_station(r, c, now) for r in rows])


def _row(c: Console, station_id: str) -> StationRow:
    row = c.fleet.station(station_id) if STATION_ID.match(station_id) else None
    if row is None:
        raise HTTPException(404, "no such station")
    return row


def _detail(c: Console, row: StationRow) -> StationDetail:
    base = _station(row, c, time.time())
    return StationDetail(**base.model_dump(),
                         events=[_event(e) for e in c.fleet.events(row.station_id, 50)],
                         commands=[_command(s) for s in c.fleet.commands(row.station_id, 20)])


def _send(c: Console, who: Principal, station_id: str, cmd: str,
          args: dict[str, Any]) -> CommandSent:
    if c.tracker is None:
        raise CommandRefused("this console has no broker connection")
    sent = c.tracker.send_command(station_id, cmd, args, by=who.user.name)
    c.store.audit(who.user.name, "command", detail=f"{station_id} {cmd}")
    return sent


def _revoke(c: Console, who: Principal, station_id: str, revoked: bool) -> RevocationOut:
    if c.cfg.fleet.ca_dir is None:
        raise CommandRefused("this console holds no CA directory")
    done = set_revoked(c.cfg.fleet.ca_dir, c.fleet, station_id, revoked=revoked,
                       by=who.user.name)
    c.store.audit(who.user.name, "revoke" if revoked else "unrevoke", detail=station_id)
    return RevocationOut(station_id=done.station_id, revoked=done.revoked,
                         revoked_at=done.revoked_at,
                         remaining=list(done.remaining) if revoked else [])


# --- pages -------------------------------------------------------------------------------


def _utc(t: float | str | None) -> str:
    """Epoch seconds as the pages show them (fleet.js writes the same)."""
    if t is None or t == "":
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(float(t)))


TEMPLATES.env.filters["utc"] = _utc


def _page(request: Request, name: str, who: Principal, **context: Any) -> Response:
    c = console(request)
    lang = c.cfg.language
    return TEMPLATES.TemplateResponse(request, name, {
        "t": TEXT[lang], "lang": lang, "who": who, "verdicts": VERDICTS[lang],
        "filter_names": FILTERS[lang], **context})


@router.get("/stations", response_class=HTMLResponse)
def stations_page(request: Request, who: OperatorPage,
                  filter: Annotated[list[FilterName], Query()] = []) -> Response:  # noqa: B006
    c = console(request)
    return _page(request, "stations.html", who, fleet=_stations(c, filter), chosen=filter,
                 tracker_down=c.tracker is not None and not c.tracker.connected)


@router.get("/stations.json", response_model=StationsOut)
def stations_live(request: Request, who: OperatorPage,
                  filter: Annotated[list[FilterName], Query()] = []  # noqa: B006
                  ) -> StationsOut:
    """What the list page's script polls (the session's cookie; the API takes tokens)."""
    return _stations(console(request), filter)


@router.get("/stations/{station_id}", response_class=HTMLResponse)
def station_page(request: Request, station_id: str, who: OperatorPage,
                 sent: Annotated[str, Query(max_length=64)] = "",
                 error: Annotated[str, Query(max_length=200)] = "") -> Response:
    c = console(request)
    detail = _detail(c, _row(c, station_id))
    return _page(request, "station.html", who, s=detail, forms=FORMS, sent=sent,
                 error=error, remaining=REMAINING, can_revoke=c.cfg.fleet.ca_dir is not None,
                 can_send=c.tracker is not None)


def _back(station_id: str, **query: str) -> Response:
    from urllib.parse import urlencode

    return RedirectResponse(f"/stations/{station_id}?{urlencode(query)}", 303)


@router.post("/stations/{station_id}/commands")
async def command_form(request: Request, station_id: str, who: OperatorPage) -> Response:
    form = await request.form()
    check_csrf(request, who, str(form.get("csrf", "")))
    c = console(request)
    row = _row(c, station_id)
    cmd = str(form.get("cmd", ""))
    if cmd not in FORMS:
        return _back(row.station_id, error="unknown command")
    args: dict[str, Any] = {}
    for name, kind in FORMS[cmd]:
        value = form.get(name)
        if kind == "checkbox":
            if value:
                args[name] = True
        elif isinstance(value, str) and value.strip():
            args[name] = value.strip()
    try:
        sent = _send(c, who, row.station_id, cmd, args)
    except CommandRefused as exc:
        return _back(row.station_id, error=str(exc)[:200])
    return _back(row.station_id, sent=sent.command_id)


@router.post("/stations/{station_id}/revocation")
async def revocation_form(request: Request, station_id: str, who: OperatorPage) -> Response:
    form = await request.form()
    check_csrf(request, who, str(form.get("csrf", "")))
    c = console(request)
    row = _row(c, station_id)
    if str(form.get("confirm", "")) != row.station_id:
        return _back(row.station_id, error="type the station id to confirm")
    try:
        _revoke(c, who, row.station_id, str(form.get("action", "")) != "unrevoke")
    except CommandRefused as exc:
        return _back(row.station_id, error=str(exc)[:200])
    return _back(row.station_id)


# --- API ---------------------------------------------------------------------------------


@api.get("/stations", response_model=StationsOut, summary="Every station with its verdict")
def api_stations(request: Request, who: OperatorApi,
                 filter: Annotated[list[FilterName], Query(description=(
                     "Only stations matching every filter given"))] = []  # noqa: B006
                 ) -> StationsOut:
    return _stations(console(request), filter)


@api.get("/stations/{station_id}", response_model=StationDetail,
         summary="One station with its recent events and commands")
def api_station(request: Request, station_id: str, who: OperatorApi) -> StationDetail:
    c = console(request)
    return _detail(c, _row(c, station_id))


@api.post("/stations/{station_id}/commands", response_model=CommandOut, status_code=202,
          summary="Send a station a command; its answer completes the command",
          responses={409: {"description": "Refused: revoked station, bad arguments, no broker"}})
def api_command(request: Request, station_id: str, body: CommandIn,
                who: OperatorApi) -> CommandOut:
    c = console(request)
    row = _row(c, station_id)
    try:
        return _command(_send(c, who, row.station_id, body.cmd, body.args))
    except CommandRefused as exc:
        raise HTTPException(409, str(exc)[:200]) from exc


@api.get("/commands/{command_id}", response_model=CommandOut,
         summary="A command sent and the station's answer (once it came)")
def api_command_state(request: Request, command_id: str, who: OperatorApi) -> CommandOut:
    sent = console(request).fleet.command(command_id[:64])
    if sent is None:
        raise HTTPException(404, "no such command")
    return _command(sent)


@api.post("/stations/{station_id}/revocation", response_model=RevocationOut,
          summary="Revoke (or unrevoke) a station: CRL and registry; says what is left to do",
          responses={409: {"description": "Refused: no CA on this console, unknown station"}})
def api_revocation(request: Request, station_id: str, body: RevocationIn,
                   who: OperatorApi) -> RevocationOut:
    c = console(request)
    row = _row(c, station_id)
    try:
        return _revoke(c, who, row.station_id, body.revoked)
    except CommandRefused as exc:
        raise HTTPException(409, str(exc)[:200]) from exc
