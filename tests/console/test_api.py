"""The desk-system API: authorisation of every call, cursor paging, the output forms,
acknowledgement (deletes the citizen data, keeps the audit row) and the audit log."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from station.console.app import create_app
from station.console.auth import new_secret
from station.ingest.layout import parse_layout
from tests.console.conftest import Site, config


@pytest.fixture(params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: object) -> str:
    if request.param == "sqlite":
        return str(tmp_path) + "/ingest.sqlite3"  # type: ignore[operator]
    return str(request.getfixturevalue("pg_dsn"))


@pytest.fixture()
def api(site: Site) -> Iterator[TestClient]:
    with TestClient(create_app(config(site), site.store), base_url="https://testserver") as c:
        yield c


def token(site: Site, name: str, role: str = "clerk", *desks: str) -> dict[str, str]:
    site.user(name, role, *desks)  # type: ignore[arg-type]
    secret = new_secret()
    site.store.add_token(secret, name, "test")
    return {"Authorization": f"Bearer {secret}"}


def test_readings_are_paged_in_commit_order(api: TestClient, site: Site) -> None:
    ids = [site.reading("desk-a") for _ in range(5)]
    site.reading("desk-b")
    h = token(site, "his", "clerk", "desk-a")
    seen: list[str] = []
    after = ""
    pages = 0
    while True:
        r = api.get("/api/v1/desks/desk-a/readings", params={"after": after, "limit": 2},
                    headers=h)
        assert r.status_code == 200, r.text
        body = r.json()
        seen += [x["record_id"] for x in body["readings"]]
        assert all("full_name" not in str(x) for x in body["readings"])  # metadata only
        after = body["next"]
        pages += 1
        if not body["more"]:
            break
    assert seen == ids and pages == 3
    later = site.reading("desk-a")
    r = api.get("/api/v1/desks/desk-a/readings", params={"after": after}, headers=h).json()
    assert [x["record_id"] for x in r["readings"]] == [later]
    assert r["readings"][0]["badge"] == "authentic" and r["readings"][0]["available"]


def test_opened_forms_and_audit(api: TestClient, site: Site) -> None:
    rid = site.reading("desk-a", profile="hospital", outcome="genuine")
    h = token(site, "his", "clerk", "desk-a")
    opened = api.get(f"/api/v1/readings/{rid}", params={"form": "record-json"}, headers=h)
    assert opened.headers["content-type"].startswith("application/json")
    body = opened.json()
    assert body["citizen"]["full_name"] == "Trần Thị Bình" and body["outcome"] == "genuine"
    # The hospital's own form by default: the FHIR R4 Patient.
    default = api.get(f"/api/v1/readings/{rid}", headers=h)
    patient = default.json()
    assert patient["resourceType"] == "Patient"
    assert patient["meta"]["source"] == f"urn:station:record:{rid}"
    assert f"fhir-patient-{rid}" in default.headers["content-disposition"]
    csv = api.get(f"/api/v1/readings/{rid}", params={"form": "lodging-csv"}, headers=h)
    assert csv.headers["content-type"].startswith("text/csv")
    assert "Trần Thị Bình" in csv.content.decode("utf-8-sig")
    # A form the hospital profile does not take, and one that does not exist.
    assert api.get(f"/api/v1/readings/{rid}", params={"form": "bank-json"},
                   headers=h).status_code == 422
    assert api.get(f"/api/v1/readings/{rid}", params={"form": "nope"},
                   headers=h).status_code == 422
    log = site.store.audit_log(rid)
    assert [(e.user_name, e.action, e.detail) for e in reversed(log)] == [
        ("his", "opened", "record-json"), ("his", "opened", "fhir-patient"),
        ("his", "opened", "lodging-csv")]
    assert all("Bình" not in f"{e}" for e in site.store.audit_log())


def test_lodging_forms_in_the_configured_layout(site: Site, tmp_path: Path) -> None:
    layout = parse_layout({"citizens": {"row_number": "", "columns": [
        {"header": "HoTen", "value": "full_name"}, {"header": "Loai", "text": "CCCD"},
        {"header": "GioiTinh", "value": "sex", "map": {"Nam": "1", "Nữ": "2"}}]}})
    rid = site.reading("desk-a", profile="hospital", outcome="genuine")
    with TestClient(create_app(config(site, lodging_layout=layout), site.store),
                    base_url="https://testserver") as api:
        h = token(site, "his", "clerk", "desk-a")
        r = api.get(f"/api/v1/readings/{rid}", params={"form": "lodging-csv"}, headers=h)
    assert r.status_code == 200, r.text
    assert r.content.decode("utf-8-sig") == "HoTen,Loai,GioiTinh\r\nTrần Thị Bình,CCCD,2\r\n"


def test_ack_deletes_the_citizen_data_keeps_the_audit(api: TestClient, site: Site) -> None:
    rid = site.reading("desk-a")
    h = token(site, "his", "clerk", "desk-a")
    r = api.post(f"/api/v1/readings/{rid}/ack", headers=h)
    assert r.status_code == 200 and r.json() == {"record_id": rid, "deleted": True}
    assert site.ingest.token(rid) is None
    audit = site.ingest.audit(rid)
    assert audit is not None and audit.purged_at is not None
    assert api.get(f"/api/v1/readings/{rid}", headers=h).status_code == 410
    again = api.post(f"/api/v1/readings/{rid}/ack", headers=h).json()
    assert again["deleted"] is False
    listed = api.get("/api/v1/desks/desk-a/readings", headers=h).json()["readings"]
    assert [(x["record_id"], x["available"]) for x in listed] == [(rid, False)]
    assert [e.action for e in site.store.audit_log(rid)] == ["acknowledged"]


def test_every_api_call_refuses_other_desks_roles_and_strangers(api: TestClient,
                                                                site: Site) -> None:
    rid = site.reading("desk-a")
    other = token(site, "other", "clerk", "desk-b")
    operator = token(site, "op", "operator", "desk-a")
    admin = token(site, "root", "admin", "desk-a")
    calls = [("GET", "/api/v1/desks/desk-a/readings"), ("GET", f"/api/v1/readings/{rid}"),
             ("GET", f"/api/v1/readings/{rid}?form=fhir-patient"),
             ("POST", f"/api/v1/readings/{rid}/ack")]
    for method, url in calls:
        assert api.request(method, url).status_code == 401, url
        assert api.request(method, url, headers={"Authorization": "Bearer nope"}
                           ).status_code == 401, url
        for h in (other, operator, admin):
            assert api.request(method, url, headers=h).status_code == 403, (url, h)
    # An unknown record id answers like another desk's: no probing.
    assert api.get("/api/v1/readings/0000", headers=other).status_code == 403
    assert site.ingest.token(rid) is not None  # nothing was acknowledged
    assert site.store.audit_log(rid) == []
    # A clerk's session cookie is no API credential.
    assert api.get("/api/v1/desks/desk-a/readings").status_code == 401


def test_revoked_token_and_malformed_cursor(api: TestClient, site: Site) -> None:
    h = token(site, "his", "clerk", "desk-a")
    assert api.get("/api/v1/desks/desk-a/readings", params={"after": "x"},
                   headers=h).status_code == 422
    site.store.revoke_tokens("his")
    assert api.get("/api/v1/desks/desk-a/readings", headers=h).status_code == 401


def test_no_citizen_data_in_the_server_log(api: TestClient, site: Site,
                                           caplog: pytest.LogCaptureFixture) -> None:
    # Everything the console and the libraries under it log while a clerk lists, opens in
    # every form, fails to open, and acknowledges readings: ids, never the data.
    caplog.set_level(logging.DEBUG)
    rid = site.reading("desk-a", profile="hospital", outcome="genuine")
    h = token(site, "his", "clerk", "desk-a")
    assert api.get("/api/v1/desks/desk-a/readings", headers=h).status_code == 200
    for form in ("record-json", "fhir-patient", "lodging-csv", "lodging-xlsx", "bank-json"):
        api.get(f"/api/v1/readings/{rid}", params={"form": form}, headers=h)
    assert api.post(f"/api/v1/readings/{rid}/ack", headers=h).status_code == 200
    assert api.get(f"/api/v1/readings/{rid}", headers=h).status_code in (404, 410)
    text = caplog.text + " ".join(str(r.args) for r in caplog.records)
    assert caplog.records  # the console did log (the test can see its lines)
    for value in ("Trần Thị Bình", "Bình", "0010990", "01/02/1990", "1990-02-01"):
        assert value not in text
