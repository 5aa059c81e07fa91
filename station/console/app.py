"""The console application: :func:`create_app` builds it from a :class:`ConsoleConfig`.

One process = one store connection and one :class:`~station.console.feed.FeedHub` poller,
started and stopped with the app (ASGI lifespan). Run several processes behind the TLS proxy
for more clerks: each polls the store on its own; none holds state another needs (sessions live
in the database). The operator pages read the fleet's tables over a connection of their own;
with :attr:`FleetConfig.broker` set, this process also runs the fleet tracker (one process per
``operator…`` identity: the broker binds the client id to the certificate).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from station import __version__
from station.console import api, desk, operator, pages
from station.console.config import ConsoleConfig
from station.console.feed import FeedHub
from station.console.security import Console, SignInRequired, headers_middleware
from station.console.store import ConsoleStore
from station.ingest.fleet import FleetTracker, open_fleet_store

OPENAPI_URL = "/api/v1/openapi.json"


def create_app(cfg: ConsoleConfig, store: ConsoleStore | None = None) -> FastAPI:
    """``store``: an open store to use (tests); by default one is opened on ``cfg.store``
    and closed with the app."""
    own = store is None
    db = store if store is not None else ConsoleStore(cfg.store)
    hub = FeedHub(db, cfg.poll_interval_s)
    fleet = open_fleet_store(cfg.store)
    f = cfg.fleet
    tracker = None if f.broker is None else FleetTracker(
        fleet, f.broker, client_id=f.client_id, policy=f.policy,
        registry_path=f.registry or (f.ca_dir / "registry.json" if f.ca_dir else None))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(hub.run(), name="console-feed")
        if tracker is not None:
            tracker.start(wait=False)  # a broker that is away must not keep the pages down
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if tracker is not None:
                await asyncio.to_thread(tracker.stop)
            fleet.close()
            if own:
                db.close()

    app = FastAPI(title="station console API", version=__version__, lifespan=lifespan,
                  openapi_url=OPENAPI_URL, docs_url=None, redoc_url=None,
                  description="Readings of the reader stations for the systems behind the "
                              "desks. Every call carries an API token of a clerk account "
                              "bound to the desk.")
    app.state.console = Console(cfg, db, hub, fleet, tracker)
    app.middleware("http")(headers_middleware(cfg))

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": "sign in first"}, 401)
        return RedirectResponse("/signin", 303)

    app.include_router(pages.router)
    app.include_router(desk.router)
    app.include_router(operator.router)
    app.include_router(api.router)
    app.include_router(operator.api)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), "static")
    return app


def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI document as served (contract/console-openapi.json is this)."""
    store = ConsoleStore(":memory:")
    app = create_app(ConsoleConfig(":memory:", b"\0" * 32), store)
    try:
        return app.openapi()
    finally:
        app.state.console.fleet.close()
        store.close()
