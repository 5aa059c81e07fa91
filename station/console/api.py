"""The HTTP API for the systems behind the desks (one-stop software, HIS, lodging software).

Authenticated by API token (``Authorization: Bearer``); the token's account is a clerk account
bound to the desks whose readings it may read. A reading of another desk is 403, whether it
exists or not being no secret of that desk's (record ids are random).

- ``GET /api/v1/desks/{desk}/readings?after=<cursor>&limit=<n>`` — the desk's readings in
  commit order after the cursor (metadata only, no citizen data); ``next`` is the cursor to
  ask with next, ``more`` whether a full page was returned.
- ``GET /api/v1/readings/{record_id}?form=<form>`` — the opened record in an output form of
  :mod:`station.ingest.outputs` (default: the profile's own, ``DEFAULT_FORMS``); audited
  (``opened``, the form's name).
- ``POST /api/v1/readings/{record_id}/ack`` — the desk system has what it needs: the citizen
  data is deleted (the audit row in ``received`` stays, and an ``acknowledged`` line in the
  audit log). Idempotent: a second ack answers ``deleted: false``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from station.console.feed import Badge, badge, record_of
from station.console.security import Principal, api_user, console, require_desk
from station.console.store import START, Cursor, FeedRow
from station.errors import OutputError
from station.ingest.outputs import DEFAULT_FORMS, Form, OpenedRecord, render
from station.pipeline.records import RecordError

router = APIRouter(prefix="/api/v1", tags=["desk systems"])
_FORMS_DOC = ("lodging-csv and lodging-xlsx (lodging, hospital), foreigners-csv (lodging), "
              "fhir-patient (hospital), one-stop-json (reception), bank-json (bank), "
              "record-json (any); default: the profile's own")


class Reading(BaseModel):
    cursor: str = Field(description="This reading's position in the desk feed")
    record_id: str
    station_id: str
    seq: int
    wall: str = Field(description="The station's clock when it read the card (UTC, ISO 8601)")
    profile: str
    outcome: str = Field(description="genuine, authentic, unverified or invalid")
    badge: Badge
    received_at: float = Field(description="When ingest committed it (epoch seconds)")
    available: bool = Field(description="False once acknowledged or deleted by retention")


class ReadingsPage(BaseModel):
    readings: list[Reading]
    next: str = Field(description="The cursor to pass as `after` for the next page")
    more: bool = Field(description="A full page was returned: ask again with `next`")


class Acknowledged(BaseModel):
    record_id: str
    deleted: bool = Field(description="False when the citizen data was already gone")


def _reading(row: FeedRow) -> Reading:
    protocol = None
    if row.token is not None:
        try:
            protocol = record_of(row.token).protocol
        except RecordError:
            protocol = None
    return Reading(cursor=str(row.cursor), record_id=row.record_id, station_id=row.station_id,
                   seq=row.seq, wall=row.wall, profile=row.profile, outcome=row.outcome,
                   badge=badge(row.outcome, protocol), received_at=row.received_at,
                   available=row.token is not None)


ClerkApi = Annotated[Principal, Depends(api_user("clerk"))]


@router.get("/desks/{station_id}/readings", response_model=ReadingsPage,
            summary="A desk's readings since a cursor")
def readings(request: Request, station_id: str, who: ClerkApi,
             after: Annotated[str, Query(max_length=64, description=(
                 "A cursor from an earlier page's `next` (or a reading's `cursor`); "
                 "omit to start at the beginning"))] = "",
             limit: Annotated[int, Query(ge=1, le=500)] = 100) -> ReadingsPage:
    require_desk(who, station_id)
    c = console(request)
    try:
        cursor = Cursor.parse(after) if after else START
    except ValueError as exc:
        raise HTTPException(422, "malformed cursor") from exc
    rows = c.store.feed([station_id], cursor, min(limit, c.cfg.api_page_max))
    page = [_reading(r) for r in rows]
    return ReadingsPage(readings=page, next=page[-1].cursor if page else str(cursor),
                        more=len(page) == limit)


def _row(request: Request, who: Principal, record_id: str) -> FeedRow:
    row = console(request).store.record(record_id)
    if row is None:
        # Not found and not yours look alike: a record id is no way to probe other desks.
        raise HTTPException(403, "this account is not bound to that reading's desk")
    require_desk(who, row.station_id)
    return row


@router.get("/readings/{record_id}", summary="The opened reading in an output form",
            response_class=Response, responses={
                200: {"description": "The reading in the form asked for", "content": {
                    "application/json": {}, "text/csv": {},
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {},
                    "application/fhir+json": {}}},
                410: {"description": "Acknowledged or deleted by retention"},
                422: {"description": "A form this reading's profile does not take"}})
def reading(request: Request, record_id: str, who: ClerkApi,
            form: Annotated[Form | None, Query(description=_FORMS_DOC)] = None) -> Response:
    c = console(request)
    row = _row(request, who, record_id)
    if row.token is None:
        raise HTTPException(410, "the citizen data of this reading is deleted")
    if c.cfg.backend_key is None:
        raise HTTPException(503, "this console holds no backend key")
    try:
        opened = OpenedRecord.from_token(row.token, c.cfg.backend_key)
    except RecordError as exc:
        raise HTTPException(500, "the stored reading does not open") from exc
    chosen = form or DEFAULT_FORMS.get(opened.record.profile, Form.RECORD_JSON)
    try:
        out = render(opened, chosen, layout=c.cfg.lodging_layout)
    except OutputError as exc:
        raise HTTPException(422, str(exc)) from exc
    c.store.audit(who.user.name, "opened", record_id, chosen.value)
    return Response(out.body, media_type=out.media_type, headers={
        "Content-Disposition": f'attachment; filename="{out.filename}"'})


@router.post("/readings/{record_id}/ack", response_model=Acknowledged,
             summary="Acknowledge a reading: its citizen data is deleted")
def acknowledge(request: Request, record_id: str, who: ClerkApi) -> Acknowledged:
    row = _row(request, who, record_id)
    deleted = console(request).store.acknowledge(row.record_id, who.user.name)
    return Acknowledged(record_id=row.record_id, deleted=deleted)
