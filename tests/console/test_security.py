"""Every route of the console refuses who may not call it: the anonymous, the wrong roles,
forged forms. The table below must list every route the app has (a new route without a row
fails the first test)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from provisioning.registry import RegistryEntry
from station.console.app import create_app
from station.ingest.fleet import open_fleet_store
from tests.console.conftest import Site, config, csrf_of, sign_in

PUBLIC = {("GET", "/"), ("GET", "/signin"), ("POST", "/signin"),
          ("GET", "/api/v1/openapi.json")}
# (method, path) → roles allowed (pages: session cookie; /api: bearer token, tested in test_api)
PAGES = {
    ("POST", "/signout"): {"clerk", "operator", "admin"},
    ("GET", "/account"): {"clerk", "operator", "admin"},
    ("GET", "/admin"): {"admin"},
    ("POST", "/admin/users"): {"admin"},
    ("GET", "/desk"): {"clerk"},
    ("GET", "/desk/events"): {"clerk"},
    ("GET", "/stations"): {"operator", "admin"},
    ("GET", "/stations.json"): {"operator", "admin"},
    ("GET", "/stations/{station_id}"): {"operator", "admin"},
    ("POST", "/stations/{station_id}/commands"): {"operator", "admin"},
    ("POST", "/stations/{station_id}/revocation"): {"operator", "admin"},
}
API = {("GET", "/api/v1/desks/{station_id}/readings"), ("GET", "/api/v1/readings/{record_id}"),
       ("POST", "/api/v1/readings/{record_id}/ack"),
       # The operators' API (tests/console/test_operator.py checks its tokens and roles).
       ("GET", "/api/v1/fleet/stations"), ("GET", "/api/v1/fleet/stations/{station_id}"),
       ("POST", "/api/v1/fleet/stations/{station_id}/commands"),
       ("GET", "/api/v1/fleet/commands/{command_id}"),
       ("POST", "/api/v1/fleet/stations/{station_id}/revocation")}


def _flatten(routes: list[Any], prefix: str = "") -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for r in routes:
        inner = getattr(r, "original_router", None)  # FastAPI >= 0.16x keeps routers whole
        if inner is not None:
            out |= _flatten(inner.routes, prefix + r.include_context.prefix)
        elif isinstance(r, APIRoute) or getattr(r, "path", "") == "/api/v1/openapi.json":
            out |= {(m, prefix + r.path) for m in r.methods}
    return out


def _routes(site: Site) -> set[tuple[str, str]]:
    return _flatten(create_app(config(site), site.store).routes)


def test_the_table_lists_every_route(site: Site) -> None:
    routes = {r for r in _routes(site) if r[0] != "HEAD"}
    assert routes == PUBLIC | set(PAGES) | API


def test_pages_refuse_the_anonymous_and_other_roles(client: TestClient, site: Site) -> None:
    for name, role in (("c", "clerk"), ("o", "operator"), ("a", "admin")):
        site.user(name, role, "desk-a")  # type: ignore[arg-type]
    fleet = open_fleet_store(site.target)  # desk-a as a station the operator pages know
    fleet.sync_registry({"desk-a": RegistryEntry("pem", "kid", "5c", "2030-01-01T00:00:00")})
    fleet.close()
    anonymous = TestClient(client.app, base_url="https://testserver")
    for (method, path) in PAGES:
        r = anonymous.request(method, path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/signin", path
    for name, role in (("c", "clerk"), ("o", "operator"), ("a", "admin")):
        c = TestClient(client.app, base_url="https://testserver")
        assert sign_in(c, name).status_code == 303
        csrf = csrf_of(c.get("/account").text)
        for (method, route), allowed in PAGES.items():
            if route in ("/desk/events", "/signout"):
                continue  # a stream, and the end of this session: below
            path = route.replace("{station_id}", "desk-a")
            r = c.request(method, path, data={"csrf": csrf, "name": "x1", "role": "clerk",
                                              "password": "long enough pw"},
                          follow_redirects=False)
            if role in allowed:
                assert r.status_code in (200, 303), (role, path, r.status_code)
            else:
                assert r.status_code == 403, (role, path, r.status_code)
        if role != "clerk":
            assert c.get("/desk/events").status_code == 403


def test_admin_form_refuses_a_forged_request(client: TestClient, site: Site) -> None:
    site.user("a", "admin")
    sign_in(client, "a")
    r = client.post("/admin/users", data={"csrf": "0" * 64, "name": "mallory", "role": "admin",
                                          "password": "long enough pw"},
                    follow_redirects=False)
    assert r.status_code == 403 and site.store.user("mallory") is None
    r = client.post("/admin/users", data={"name": "mallory", "role": "admin",
                                          "password": "long enough pw"},
                    follow_redirects=False)
    assert r.status_code in (403, 422) and site.store.user("mallory") is None
    csrf = csrf_of(client.get("/admin").text)
    r = client.post("/admin/users", data={"csrf": csrf, "name": "lan", "role": "clerk",
                                          "password": "long enough pw", "desk": "desk-a"},
                    follow_redirects=False)
    assert r.status_code == 303
    lan = site.store.user("lan")
    assert lan is not None and lan.role == "clerk" and lan.desks == {"desk-a"}
    assert client.get("/admin").text.count("user_added") == 1


def test_openapi_is_public_and_lists_only_the_api(client: TestClient) -> None:
    doc = client.get("/api/v1/openapi.json").json()
    assert set(doc["paths"]) == {p for _, p in API}
    assert "HTTPBearer" in doc["components"]["securitySchemes"]


def test_committed_openapi_document_is_the_served_one(client: TestClient) -> None:
    """contract/console-openapi.json is what the API serves: regenerate it with
    `station console openapi > contract/console-openapi.json` when the API changes."""
    committed = json.loads((Path(__file__).parents[2] / "contract" / "console-openapi.json")
                           .read_text())
    assert client.get("/api/v1/openapi.json").json() == committed
