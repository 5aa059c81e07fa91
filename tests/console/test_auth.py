"""Sign-in, sessions, CSRF, lockout and the web side's headers, through the real app."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from station.console.app import create_app
from station.console.auth import SigninPolicy
from tests.console.conftest import PASSWORD, Site, config, csrf_of, sign_in


def test_argon2id_hashes_only(site: Site) -> None:
    site.user("lan", "clerk", "desk-a")
    user = site.store.user("lan")
    assert user is not None and user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


def test_sign_in_sets_a_strict_session_cookie(client: TestClient, site: Site) -> None:
    site.user("lan", "clerk", "desk-a")
    r = sign_in(client, "lan")
    assert r.status_code == 303 and r.headers["location"] == "/desk"
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("station_session="))
    low = cookie.lower()
    assert "httponly" in low and "secure" in low and "samesite=strict" in low
    page = client.get("/desk")
    assert page.status_code == 200 and "desk-a" in page.text
    # The database holds the session's hash, not the secret.
    secret = client.cookies.get("station_session")
    assert secret and site.store.session_user(secret) is not None
    raw = site.store._rows("SELECT token_sha256 FROM console_session")
    assert all(secret.encode() not in bytes(r[0]) for r in raw)
    assert [e.action for e in site.store.audit_log()] == ["signin"]


def test_wrong_password_and_unknown_user_look_alike(client: TestClient, site: Site) -> None:
    site.user("lan", "clerk", "desk-a")
    wrong = sign_in(client, "lan", "not the password")
    unknown = sign_in(client, "nobody", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.text.replace("lan", "") .count("Sai") == unknown.text.count("Sai") == 1
    assert "station_session" not in client.cookies


def test_sign_in_form_without_its_csrf_token_is_refused(client: TestClient, site: Site) -> None:
    site.user("lan", "clerk", "desk-a")
    client.get("/signin")
    r = client.post("/signin", data={"name": "lan", "password": PASSWORD, "csrf": "0" * 64},
                    follow_redirects=False)
    assert r.status_code == 403
    fresh = TestClient(client.app, base_url="https://testserver")  # no pre-session cookie
    page = client.get("/signin")
    r = fresh.post("/signin", data={"name": "lan", "password": PASSWORD,
                                    "csrf": csrf_of(page.text)}, follow_redirects=False)
    assert r.status_code == 403


def test_lockout_after_failures_even_with_the_right_password(site: Site) -> None:
    site.user("lan", "clerk", "desk-a")
    app = create_app(config(site), site.store)
    with TestClient(app, base_url="https://testserver") as c:
        for _ in range(3):
            assert sign_in(c, "lan", "wrong password!").status_code == 401
        assert sign_in(c, "lan").status_code == 401  # locked: the right password is refused
        assert "signin_locked" in [e.action for e in site.store.audit_log()]
    # After the lockout period the right password works again (policy of 0 s lockout).
    quick = config(site, signin=SigninPolicy(max_failures=3, window_s=60, lockout_s=0.0,
                                             per_remote=100))
    with TestClient(create_app(quick, site.store), base_url="https://testserver") as c:
        assert sign_in(c, "lan").status_code == 303


def test_rate_limit_per_address(site: Site) -> None:
    site.user("lan", "clerk", "desk-a")
    cfg = config(site, signin=SigninPolicy(max_failures=100, per_remote=4))
    with TestClient(create_app(cfg, site.store), base_url="https://testserver") as c:
        codes = [sign_in(c, "lan", "wrong password!").status_code for _ in range(5)]
        assert codes == [401] * 4 + [429]
        assert sign_in(c, "lan").status_code == 429  # the right password waits too


def test_disabled_account_session_ends(client: TestClient, site: Site) -> None:
    site.user("lan", "clerk", "desk-a")
    assert sign_in(client, "lan").status_code == 303
    site.store.disable_user("lan")
    r = client.get("/desk", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/signin"
    assert sign_in(client, "lan").status_code == 401


def test_sign_out_needs_csrf_and_ends_the_session(client: TestClient, site: Site) -> None:
    site.user("lan", "clerk", "desk-a")
    sign_in(client, "lan")
    page = client.get("/desk")
    assert client.post("/signout", data={"csrf": "f" * 64},
                       follow_redirects=False).status_code == 403
    assert client.get("/desk", follow_redirects=False).status_code == 200
    r = client.post("/signout", data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/desk", follow_redirects=False).status_code == 303


def test_headers_csp_without_inline_scripts(client: TestClient, site: Site) -> None:
    site.user("lan", "clerk", "desk-a")
    sign_in(client, "lan")
    r = client.get("/desk")
    policy = r.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["strict-transport-security"] == "max-age=31536000"  # served over https
    plain = TestClient(client.app, base_url="http://localhost").get("/signin")
    assert "strict-transport-security" not in plain.headers
    assert "<script>" not in r.text and not re.search(r"\son[a-z]+=", r.text)
    assert client.get("/static/desk.js").status_code == 200
