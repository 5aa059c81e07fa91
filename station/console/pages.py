"""Sign-in, sign-out, the account page and the admin's users and audit pages."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from station.console.auth import Signin, csrf_ok, csrf_token, hash_password, new_secret, sign_in
from station.console.security import (
    HOME,
    SESSION_COOKIE,
    SIGNIN_COOKIE,
    TEMPLATES,
    Principal,
    check_csrf,
    console,
    page_user,
    set_cookie,
)
from station.console.store import ROLES, ConsoleStoreError

router = APIRouter(include_in_schema=False)

TEXT = {
    "vi": {"title": "Đăng nhập", "name": "Tên đăng nhập", "password": "Mật khẩu",
           "submit": "Đăng nhập", "refused": "Sai tên đăng nhập hoặc mật khẩu.",
           "throttled": "Quá nhiều lần thử. Vui lòng thử lại sau một phút.",
           "signout": "Đăng xuất"},
    "en": {"title": "Sign in", "name": "User name", "password": "Password",
           "submit": "Sign in", "refused": "Wrong user name or password.",
           "throttled": "Too many attempts. Try again in a minute.", "signout": "Sign out"},
}


def _remote(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


@router.get("/")
def home(request: Request) -> Response:
    c = console(request)
    secret = request.cookies.get(SESSION_COOKIE, "")
    user = c.store.session_user(secret) if secret and secret.isascii() else None
    return RedirectResponse(HOME[user.role] if user else "/signin", 303)


def _signin_page(request: Request, message: str = "", status: int = 200) -> Response:
    c = console(request)
    pre = request.cookies.get(SIGNIN_COOKIE, "")
    if not pre or not pre.isascii():
        pre = new_secret()
    response = TEMPLATES.TemplateResponse(
        request, "signin.html",
        {"t": TEXT[c.cfg.language], "lang": c.cfg.language, "message": message,
         "csrf": csrf_token(c.cfg.session_secret, pre)}, status_code=status)
    set_cookie(response, c.cfg, SIGNIN_COOKIE, pre, 3600)
    return response


@router.get("/signin", response_class=HTMLResponse)
def signin_form(request: Request) -> Response:
    return _signin_page(request)


@router.post("/signin")
def signin(request: Request, name: Annotated[str, Form(max_length=64)],
           password: Annotated[str, Form(max_length=1024)],
           csrf: Annotated[str, Form(max_length=128)] = "") -> Response:
    c = console(request)
    pre = request.cookies.get(SIGNIN_COOKIE, "")
    if not pre or not pre.isascii() or not csrf_ok(c.cfg.session_secret, pre, csrf):
        raise HTTPException(403, "the form's CSRF token is missing or wrong")
    t = TEXT[c.cfg.language]
    result = sign_in(c.store, c.cfg.signin, name, password, _remote(request))
    if result.outcome is Signin.THROTTLED:
        return _signin_page(request, t["throttled"], 429)
    if result.outcome is not Signin.OK or result.user is None:
        if result.locked:
            c.store.audit(name.strip()[:64], "signin_locked")
        return _signin_page(request, t["refused"], 401)
    secret = new_secret()
    c.store.add_session(secret, result.user.id, time.time() + c.cfg.session_ttl_s)
    c.store.audit(result.user.name, "signin")
    response = RedirectResponse(HOME[result.user.role], 303)
    set_cookie(response, c.cfg, SESSION_COOKIE, secret, int(c.cfg.session_ttl_s))
    response.delete_cookie(SIGNIN_COOKIE, path="/")
    return response


@router.post("/signout")
def signout(request: Request, csrf: Annotated[str, Form(max_length=128)],
            who: Annotated[Principal, Depends(page_user(*ROLES))]) -> Response:
    check_csrf(request, who, csrf)
    c = console(request)
    c.store.end_session(who.session)
    c.store.audit(who.user.name, "signout")
    response = RedirectResponse("/signin", 303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/account", response_class=HTMLResponse)
def account(request: Request, who: Annotated[Principal, Depends(page_user(*ROLES))]
            ) -> Response:
    c = console(request)
    return TEMPLATES.TemplateResponse(request, "account.html", {
        "t": TEXT[c.cfg.language], "lang": c.cfg.language, "who": who})


@router.get("/admin", response_class=HTMLResponse)
def admin(request: Request, who: Annotated[Principal, Depends(page_user("admin"))],
          message: str = "") -> Response:
    c = console(request)
    return TEMPLATES.TemplateResponse(request, "admin.html", {
        "t": TEXT[c.cfg.language], "lang": c.cfg.language, "who": who,
        "users": c.store.users(), "audit": c.store.audit_log(limit=200), "roles": ROLES,
        "message": message[:200]})


@router.post("/admin/users")
def add_user(request: Request, who: Annotated[Principal, Depends(page_user("admin"))],
             csrf: Annotated[str, Form(max_length=128)],
             name: Annotated[str, Form(min_length=1, max_length=64, pattern=r"^[\w.@-]+$")],
             role: Annotated[str, Form(max_length=16)],
             password: Annotated[str, Form(max_length=1024)],
             desk: Annotated[str, Form(max_length=128)] = "") -> Response:
    check_csrf(request, who, csrf)
    c = console(request)
    if role not in ROLES:
        raise HTTPException(422, "unknown role")
    try:
        c.store.add_user(name, role, hash_password(password))
        if desk:
            c.store.bind(name, desk)
    except (ValueError, ConsoleStoreError) as exc:
        return RedirectResponse(f"/admin?message={type(exc).__name__}", 303)
    c.store.audit(who.user.name, "user_added", detail=f"{name} {role} {desk}".strip())
    return RedirectResponse("/admin", 303)
