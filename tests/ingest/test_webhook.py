"""Webhook delivery against a local HTTP receiver that fails, then accepts: retried with
backoff, at least once, each POST signed (HMAC-SHA256, checked here with the standard library)
and carrying the record id as idempotency key; on SQLite and on PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from station import keys
from station.errors import ConfigError
from station.ingest import Ingest
from station.ingest.outputs import Form
from station.ingest.webhook import WebhookDeliverer, check_url, forms_of
from station.pipeline.mqtt import BrokerSettings
from station.pipeline.records import Check, Reading, RecordSigner

SECRET = b"webhook-test-secret"


class Receiver:
    """Answers 503 to the first ``fail`` POSTs, then 204; keeps what it accepted (JSON bodies
    parsed)."""

    def __init__(self, fail: int) -> None:
        self.fail = fail
        self.posts: list[tuple[dict[str, str], bytes]] = []
        self.accepted: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.posts.append((dict(self.headers), body))
                if len(outer.posts) <= outer.fail:
                    self.send_response(503)
                else:
                    if self.headers["Content-Type"].endswith("json"):
                        outer.accepted.append(json.loads(body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "ingest.sqlite3")
    return str(request.getfixturevalue("pg_dsn"))


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver(fail=3)
    yield r
    r.close()


def test_fails_then_accepts_each_record_once_signed(db: str, receiver: Receiver) -> None:
    sk, bk = keys.generate_signing_key(), keys.generate_seal_key()
    ingest = Ingest(db, BrokerSettings(), stations={"desk-h": sk.public_key()}, backend_key=bk,
                    webhook=True)
    signer = RecordSigner("desk-h", sk, bk.public_key())
    tokens = [signer.build(Reading("hospital", "PACE", "genuine",
                                   (Check("passive_authentication", True),),
                                   {"id_number": f"0010990{n:05d}", "full_name": "Lê Văn Tám",
                                    "sex": "Nam", "date_of_birth": "01/02/1990"}), n + 1).token
              for n in range(2)]
    for t in tokens:
        ingest.accept("stations/desk-h/records", t)
        ingest.accept("stations/desk-h/records", t)  # a QoS 1 duplicate: not queued twice
    ingest.flush()
    deliverer = WebhookDeliverer(receiver.url, SECRET, bk, ingest.locked,
                                 backoff_base_s=0.05, backoff_max_s=0.2)
    deadline = time.monotonic() + 20
    while len(receiver.accepted) < 2:
        assert time.monotonic() < deadline, (len(receiver.posts), deliverer.failures)
        deliverer.run_once()
        time.sleep(0.02)
    deliverer.run_once()  # nothing left: no further POST
    assert len(receiver.posts) == 3 + 2 and deliverer.failures == 3
    ids = sorted(h["Station-Record"] for h, _ in receiver.posts[3:])
    assert len(set(ids)) == 2
    for headers, body in receiver.posts:
        t, mac = (kv.split("=", 1)[1] for kv in headers["Station-Signature"].split(","))
        expected = hmac.new(SECRET, t.encode() + b"." + body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(mac, expected)
        assert abs(int(t) - time.time()) < 60
        # The hospital's default form: its FHIR Patient; the key is record id + form.
        assert headers["Station-Form"] == "fhir-patient"
        assert headers["Content-Type"] == "application/fhir+json"
        assert headers["Idempotency-Key"] == f"{headers['Station-Record']}:fhir-patient"
        assert json.loads(body)["meta"]["source"].endswith(headers["Station-Record"])
    numbers = sorted(a["identifier"][0]["value"] for a in receiver.accepted)
    assert numbers == ["001099000000", "001099000001"]
    assert receiver.accepted[0]["name"][0]["family"] == "Lê"
    for rid in ids:
        state = ingest.store.webhook_state(rid)
        assert state is not None and state[1] is not None and state[2] is None
    ingest.store.close()


def test_each_profile_posts_its_configured_form(tmp_path: Path) -> None:
    """Lodging configured to lodging-csv: a citizen's record is posted as the notification CSV;
    a foreign guest, for whom that form has no row, is closed as ``form``, never posted
    empty."""
    receiver = Receiver(fail=0)
    sk, bk = keys.generate_signing_key(), keys.generate_seal_key()
    ingest = Ingest(tmp_path / "i.sqlite3", BrokerSettings(),
                    stations={"desk-l": sk.public_key()}, backend_key=bk, webhook=True)
    signer = RecordSigner("desk-l", sk, bk.public_key())
    ctx = {"profile": "lodging", "establishment_id": "LT-9", "booking_id": "B", "room": "7",
           "arrival": "2030-01-02", "departure": "2030-01-03", "guest": 0}
    citizen = {"id_number": "001099012345", "full_name": "Trần Thị Ánh", "sex": "Nữ",
               "date_of_birth": "01/02/1990", "nationality": "Việt Nam",
               "place_of_residence": "Hà Nội"}
    foreign = {"source": "mrz", "nationality": "FRA", "passport_number": "X1",
               "full_name": "DUPONT JEAN", "date_of_birth": "1980-01-01", "sex": "M"}
    received = [ingest.accept("stations/desk-l/records", signer.build(
        Reading("lodging", "PACE", "authentic", (), fields, {}, ctx), n + 1).token)
        for n, fields in enumerate((citizen, foreign))]
    ingest.flush()
    deliverer = WebhookDeliverer(receiver.url, SECRET, bk, ingest.locked,
                                 forms=forms_of(["lodging=lodging-csv"]))
    try:
        assert deliverer.run_once() == 1
        assert len(receiver.posts) == 1
        headers, body = receiver.posts[0]
        assert headers["Content-Type"] == "text/csv; charset=utf-8"
        assert headers["Idempotency-Key"].endswith(":lodging-csv")
        assert "Trần Thị Ánh" in body.decode("utf-8-sig")
        assert received[1] is not None
        state = ingest.store.webhook_state(received[1].record.record_id)
        assert state is not None and state[1] is None and state[2] == "form"
        assert ingest.store.due_webhooks(time.time() + 3600, 10) == []
    finally:
        receiver.close()
        ingest.store.close()


def test_a_record_that_no_longer_opens_is_closed_not_retried(tmp_path: Path) -> None:
    """The deliverer holds another backend key than the one the record was sealed to (a key
    rotated without re-sealing): closed as ``unopenable``, nothing posted, no crash."""
    receiver = Receiver(fail=0)
    sk, bk = keys.generate_signing_key(), keys.generate_seal_key()
    ingest = Ingest(tmp_path / "i.sqlite3", BrokerSettings(),
                    stations={"desk-r": sk.public_key()}, backend_key=bk, webhook=True)
    got = ingest.accept("stations/desk-r/records", RecordSigner("desk-r", sk, bk.public_key())
                        .build(Reading("reception", "PACE", "genuine", (),
                                       {"id_number": "001099012345"}), 1).token)
    ingest.flush()
    deliverer = WebhookDeliverer(receiver.url, SECRET, keys.generate_seal_key(), ingest.locked)
    try:
        assert got is not None and deliverer.run_once() == 0 and receiver.posts == []
        state = ingest.store.webhook_state(got.record.record_id)
        assert state is not None and state[2] == "unopenable"
        assert ingest.store.due_webhooks(time.time() + 3600, 10) == []
    finally:
        receiver.close()
        ingest.store.close()


def test_webhook_forms_are_checked_at_start() -> None:
    assert forms_of([])["hospital"] is Form.FHIR_PATIENT
    assert forms_of(["hospital=lodging-xlsx"])["hospital"] is Form.LODGING_XLSX
    for bad in (["hospital"], ["desk=bank-json"], ["bank=bank-csv"]):
        with pytest.raises(ConfigError):
            forms_of(bad)
    with pytest.raises(ConfigError):
        WebhookDeliverer("http://127.0.0.1:1/x", SECRET, keys.generate_seal_key(),
                         lambda: None, forms={"bank": Form.LODGING_CSV})


def test_queued_in_the_records_transaction(tmp_path: Path) -> None:
    """A batch rolled back takes its deliveries with it: nothing is POSTed for a record that was
    never stored."""
    sk, bk = keys.generate_signing_key(), keys.generate_seal_key()
    ingest = Ingest(tmp_path / "i.sqlite3", BrokerSettings(),
                    stations={"desk-h": sk.public_key()}, backend_key=bk, webhook=True)
    token = RecordSigner("desk-h", sk, bk.public_key()).build(
        Reading("reception", "PACE", "genuine", (), {"id_number": "001099012345"}), 1).token
    received = ingest.accept("stations/desk-h/records", token)
    assert received is not None
    ingest.store.rollback()
    assert ingest.store.webhook_state(received.record.record_id) is None
    assert ingest.store.due_webhooks(time.time() + 1, 10) == []


def test_plain_http_only_to_loopback() -> None:
    assert check_url("http://127.0.0.1:8080/x")
    assert check_url("https://consumer.invalid/hook")
    with pytest.raises(ConfigError):
        check_url("http://consumer.invalid/hook")
