"""The worker's health endpoint: 503 while not connected to the broker, counters only."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from station import keys
from station.ingest import Ingest
from station.ingest.health import HealthServer
from station.pipeline.mqtt import BrokerSettings
from station.pipeline.records import Reading, RecordSigner
from station.testing.mosquitto import MosquittoBroker


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.mark.mqtt
def test_health_says_503_until_connected_then_200_with_lag(
        tmp_path: Path, own_broker: MosquittoBroker) -> None:
    sk, bk = keys.generate_signing_key(), keys.generate_seal_key()
    ingest = Ingest(tmp_path / "i.sqlite3", own_broker.settings(),
                    stations={"desk-1": sk.public_key()}, backend_key=bk,
                    client_id="ingest-health")
    health = HealthServer(ingest)
    health.start()
    base = f"http://127.0.0.1:{health.port}"
    try:
        status, body = _get(base + "/health")
        assert status == 503 and json.loads(body)["connected"] is False
        assert _get(base + "/other")[0] == 404
        ingest.start()
        token = RecordSigner("desk-1", sk, bk.public_key()).build(
            Reading("hospital", "BAC", "authentic", (), {"id_number": "001099012345"}), 1).token
        ingest.accept("stations/desk-1/records", token)
        doc = ingest.health()
        assert doc["open_batch"] == 1 and doc["oldest_uncommitted_s"] >= 0
        ingest.flush()
        status, body = _get(base + "/health")
        doc = json.loads(body)
        assert status == 200 and doc["connected"] is True
        assert (doc["client_id"], doc["stored"], doc["open_batch"]) == ("ingest-health", 1, 0)
        assert doc["lag_s"] is not None and doc["last_commit_age_s"] is not None
        assert b"001099012345" not in body
    finally:
        ingest.stop()
        health.stop()


def test_health_of_an_idle_worker(tmp_path: Path) -> None:
    ingest = Ingest(tmp_path / "i.sqlite3", BrokerSettings(), stations={})
    doc = ingest.health()
    assert doc["connected"] is False and doc["lag_s"] is None and doc["stored"] == 0
