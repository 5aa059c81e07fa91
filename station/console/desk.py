"""The desk view: a clerk's page and its server-sent-events stream.

The stream starts with the readings of the clerk's desks still due on screen
(:func:`~station.console.feed.recent`), then every reading :class:`~station.console.feed.FeedHub`
sees committed at those desks. Each event is one opened reading (``event: reading``); a
comment every :data:`KEEPALIVE_S` keeps proxies from closing the stream and re-checks the
session, so a signed-out or disabled account's stream ends. Every reading sent is one
``shown`` line in the audit log (who, which record id).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, StreamingResponse

from station.console.feed import BADGES, present, recent
from station.console.security import TEMPLATES, Console, Principal, console, page_user
from station.console.store import FeedRow
from station.log import event
from station.pipeline.records import RecordError

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
KEEPALIVE_S = 10.0
WAKE_S = 0.5
"""How often an idle stream looks whether the server is stopping."""

TEXT = {
    "vi": {"title": "Quầy tiếp nhận", "desks": "Quầy", "waiting": "Đang chờ công dân chạm thẻ…",
           "copy": "Sao chép", "copied": "Đã chép", "fill": "Điền vào hồ sơ",
           "close": "Đóng", "signout": "Đăng xuất", "no_desk": "Tài khoản chưa được gán quầy.",
           "refused": "Thẻ bị từ chối: không chứng minh được là thẻ thật. Không dùng dữ liệu "
                      "của thẻ này; đề nghị công dân xuất trình giấy tờ khác."},
    "en": {"title": "Desk", "desks": "Desks", "waiting": "Waiting for a card…",
           "copy": "Copy", "copied": "Copied", "fill": "Fill the form", "close": "Close",
           "signout": "Sign out", "no_desk": "This account is bound to no desk.",
           "refused": "Card refused: it could not be proven genuine. Do not use its data; ask "
                      "for another document."},
}


@router.get("/desk", response_class=HTMLResponse)
def desk_page(request: Request, who: Annotated[Principal, Depends(page_user("clerk"))]
              ) -> Response:
    c = console(request)
    return TEMPLATES.TemplateResponse(request, "desk.html", {
        "t": TEXT[c.cfg.language], "lang": c.cfg.language, "who": who,
        "desks": sorted(who.user.desks), "ttl": c.cfg.reading_ttl_s,
        "origins": " ".join(c.cfg.fill_origins), "badges": BADGES[c.cfg.language]})


def _event(c: Console, who: Principal, row: FeedRow) -> str | None:
    """The SSE message for one row, audited; None when there is nothing to show (data gone,
    or a token that does not open — logged by record id)."""
    if row.token is None:
        return None
    try:
        reading = present(row, c.cfg.backend_key, c.cfg.language)
    except RecordError as exc:
        event(log, "console.unopenable", logging.ERROR, record=row.record_id,
              reason=type(exc).__name__)
        return None
    c.store.audit(who.user.name, "shown", row.record_id, row.station_id)
    left = c.cfg.reading_ttl_s - (time.time() - row.received_at)
    data = json.dumps(reading.to_json(left), ensure_ascii=False)
    return f"event: reading\nid: {row.record_id}\ndata: {data}\n\n"


async def _stream(c: Console, who: Principal) -> AsyncIterator[str]:
    sub = c.hub.subscribe(who.user.desks)
    try:
        yield "retry: 1000\n\n"
        for row in await asyncio.to_thread(recent, c.store, who.user.desks, c.cfg.reading_ttl_s):
            message = await asyncio.to_thread(_event, c, who, row)
            if message:
                yield message
        idle = 0.0
        while not c.hub.closing:
            try:
                row = await asyncio.wait_for(sub.queue.get(), WAKE_S)
            except TimeoutError:
                idle += WAKE_S
                if idle < KEEPALIVE_S:
                    continue
                idle = 0.0
                if await asyncio.to_thread(c.store.session_user, who.session) is None:
                    return
                yield ": keepalive\n\n"
                continue
            message = await asyncio.to_thread(_event, c, who, row)
            if message:
                yield message
    finally:
        c.hub.unsubscribe(sub)


@router.get("/desk/events")
def desk_events(request: Request, who: Annotated[Principal, Depends(page_user("clerk"))]
                ) -> Response:
    return StreamingResponse(_stream(console(request), who), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
