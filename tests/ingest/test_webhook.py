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
from station.ingest.webhook import WebhookDeliverer, check_url
from station.pipeline.mqtt import BrokerSettings
from station.pipeline.records import Check, Reading, RecordSigner

SECRET = b"webhook-test-secret"


class Receiver:
    """Answers 503 to the first ``fail`` POSTs, then 204; keeps what it accepted."""

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
    ids = sorted(a["id"] for a in receiver.accepted)
    assert len(set(ids)) == 2
    for headers, body in receiver.posts:
        t, mac = (kv.split("=", 1)[1] for kv in headers["Station-Signature"].split(","))
        expected = hmac.new(SECRET, t.encode() + b"." + body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(mac, expected)
        assert abs(int(t) - time.time()) < 60
        assert headers["Idempotency-Key"] == json.loads(body)["id"]
    doc = receiver.accepted[0]
    assert doc["profile"] == "hospital" and doc["citizen"]["full_name"] == "Lê Văn Tám"
    assert doc["fhir_patient"]["identifier"][0]["value"] == doc["citizen"]["id_number"]
    for rid in ids:
        state = ingest.store.webhook_state(rid)
        assert state is not None and state[1] is not None and state[2] is None
    ingest.store.close()


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
