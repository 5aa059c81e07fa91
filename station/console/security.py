"""Who may call what: the dependencies every route declares, the cookies, CSRF, headers.

- Pages take :func:`page_user` with the roles allowed: no session → a redirect to the
  sign-in page; a session of another role → 403. A form post also calls :func:`check_csrf`.
- The API takes :func:`api_user`: ``Authorization: Bearer <token>`` only (no cookies, so no
  CSRF to forge); no or unknown token → 401, another role → 403. Whether the account may see a
  desk is the route's own check (:func:`require_desk`).
- Every answer carries the Content-Security-Policy (scripts and styles from this origin only,
  no inline code), ``nosniff``, ``no-referrer`` and ``no-store``; over HTTPS also
  ``Strict-Transport-Security``.

Add a route for another role (the operator pages) the same way: ``Depends(page_user("operator",
"admin"))`` and, for a form, ``check_csrf``; tests/console/test_security.py lists every route
and checks it refuses the anonymous and the wrong roles.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.templating import Jinja2Templates

from station.console.auth import csrf_ok, csrf_token
from station.console.config import ConsoleConfig
from station.console.feed import FeedHub
from station.console.store import ConsoleStore, Role, User
from station.ingest.fleet import FleetStore, FleetTracker

SESSION_COOKIE = "station_session"
SIGNIN_COOKIE = "station_signin"
"""Binds the sign-in form's CSRF token to this browser before any session exists."""
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
HOME: dict[Role, str] = {"clerk": "/desk", "admin": "/admin", "operator": "/stations"}
"""Where each role lands after signing in."""


@dataclass(frozen=True)
class Console:
    """What every route reaches through ``request.app.state.console``."""

    cfg: ConsoleConfig
    store: ConsoleStore
    hub: FeedHub
    fleet: FleetStore
    """The fleet's tables (its own connection to the same database)."""
    tracker: FleetTracker | None = None
    """The fleet tracker of this process (commands go through it), when configured."""


@dataclass(frozen=True)
class Principal:
    user: User
    session: str
    """The session secret (the cookie's value), or "" for an API token."""
    csrf: str
    """The CSRF token forms of this session carry ("" for an API token)."""


class SignInRequired(Exception):
    """A page asked for without a valid session: answered with a redirect to /signin."""


def console(request: Request) -> Console:
    c: Console = request.app.state.console
    return c


def page_user(*roles: Role) -> Callable[[Request], Principal]:
    def dependency(request: Request) -> Principal:
        c = console(request)
        secret = request.cookies.get(SESSION_COOKIE, "")
        user = c.store.session_user(secret) if secret.isascii() and secret else None
        if user is None:
            raise SignInRequired
        if user.role not in roles:
            raise HTTPException(403, "not allowed for this role")
        return Principal(user, secret, csrf_token(c.cfg.session_secret, secret))
    return dependency


_BEARER = HTTPBearer(auto_error=False, description="An API token from `station console "
                     "add-token`, sent as `Authorization: Bearer <token>`.")


def api_user(*roles: Role) -> Callable[..., Principal]:
    def dependency(request: Request, credentials: Annotated[
            HTTPAuthorizationCredentials | None, Depends(_BEARER)]) -> Principal:
        c = console(request)
        token = credentials.credentials if credentials is not None else ""
        user = c.store.token_user(token) if token and token.isascii() else None
        if user is None:
            raise HTTPException(401, "a valid API token is required",
                                headers={"WWW-Authenticate": "Bearer"})
        if user.role not in roles:
            raise HTTPException(403, "not allowed for this role")
        return Principal(user, "", "")
    return dependency


def check_csrf(request: Request, principal: Principal, token: str) -> None:
    if not principal.session or not csrf_ok(console(request).cfg.session_secret,
                                            principal.session, token):
        raise HTTPException(403, "the form's CSRF token is missing or wrong")


def require_desk(principal: Principal, station_id: str) -> None:
    if station_id not in principal.user.desks:
        raise HTTPException(403, "this account is not bound to that desk")


def csp(cfg: ConsoleConfig) -> str:
    frames = " ".join(cfg.fill_origins) or "'none'"
    return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors {frames}")


def headers_middleware(cfg: ConsoleConfig) -> Callable[
        [Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]:
    policy = csp(cfg)

    async def middleware(request: Request,
                         call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = policy
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers.setdefault("Cache-Control", "no-store")
        if not cfg.fill_origins:
            response.headers["X-Frame-Options"] = "DENY"
        if request.url.scheme == "https":  # TLS here or at the proxy (--proxy): keep it so
            response.headers["Strict-Transport-Security"] = "max-age=31536000"
        return response
    return middleware


def set_cookie(response: Response, cfg: ConsoleConfig, name: str, value: str,
               max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", secure=cfg.secure_cookies,
                        httponly=True, samesite="strict")
