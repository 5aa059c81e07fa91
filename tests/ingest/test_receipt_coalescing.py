"""Receipts of a backlog, on real Mosquitto: while more records wait after a commit, the
receipts of consecutive batches are merged, one message per station, so a drain costs the
broker, the worker and each desk one receipt per desk and not one per record. Outside a
backlog every batch is receipted at its commit."""

from __future__ import annotations

import contextlib
import functools
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from station import keys, topics
from station.ingest import Ingest, worker
from station.pipeline.mqtt import make_client
from station.pipeline.records import Reading, RecordSigner
from station.testing.mosquitto import MosquittoBroker
from station.testing.wait import wait_until

pytestmark = pytest.mark.mqtt

DESKS = ("desk-a", "desk-b")


class Desks:
    """The desks' side: publish records, collect the receipts each desk is sent."""

    def __init__(self, settings: Any) -> None:
        self.receipts: list[tuple[str, list[str]]] = []
        self.client: Any = make_client("desks", settings)
        done = threading.Event()
        self.client.on_subscribe = lambda *a: done.set()
        self.client.on_message = lambda c, u, m: self.receipts.append(
            (m.topic, json.loads(m.payload)["ids"]))
        self.client.connect(settings.host, settings.port)
        self.client.loop_start()
        for desk in DESKS:
            done.clear()
            self.client.subscribe(topics.RECEIPTS.of(desk), qos=1)
            assert done.wait(5)

    def publish(self, desk: str, tokens: list[bytes]) -> None:
        infos = [self.client.publish(topics.RECORDS.of(desk), t, qos=1) for t in tokens]
        for info in infos:
            info.wait_for_publish(10)

    def has_receipts(self, n: int) -> bool:
        return len(self.receipts) == n

    def ids(self) -> int:
        return sum(len(ids) for _, ids in self.receipts)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _signers() -> tuple[dict[str, RecordSigner], dict[str, Any]]:
    seal = keys.generate_seal_key().public_key()
    signing = {d: keys.generate_signing_key() for d in DESKS}
    return ({d: RecordSigner(d, k, seal) for d, k in signing.items()},
            {d: k.public_key() for d, k in signing.items()})


def _tokens(signer: RecordSigner, first: int, n: int) -> list[bytes]:
    return [signer.build(Reading("bank", "PACE", "genuine", (), {"id_number": "001099000001"}),
                         seq).token for seq in range(first, first + n)]


@contextlib.contextmanager
def _started(tmp_path: Path, broker: MosquittoBroker
             ) -> Iterator[tuple[Ingest, Desks, dict[str, RecordSigner]]]:
    signers, stations = _signers()
    ingest = Ingest(tmp_path / "i.sqlite3", broker.settings(), stations=stations,
                    client_id="ingest-coalesce", verify_threads=0)
    desks = Desks(broker.settings())
    ingest.start()
    try:
        yield ingest, desks, signers
    finally:
        ingest.stop()
        desks.stop()


def _backlog(ingest: Ingest, desks: Desks, tokens: dict[str, list[bytes]]) -> None:
    """Every desk's tokens queued at the worker before any is written, as after a workers'
    outage (the flush is held back meanwhile), then written; returns once all are receipted."""
    n = sum(len(t) for t in tokens.values())
    with ingest._flush_lock:
        for desk, desk_tokens in tokens.items():
            desks.publish(desk, desk_tokens)
        assert wait_until(lambda: len(ingest._queued) == n, 20)
    assert wait_until(lambda: desks.ids() == n, 20), desks.ids()


def test_a_backlog_is_receipted_once_per_desk_not_once_per_batch(
        tmp_path: Path, own_broker: MosquittoBroker, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker, "RECEIPT_HOLD_S", 60.0)  # the count decides, not the clock
    with _started(tmp_path, own_broker) as (ingest, desks, signers):
        # A backlog of 3 batches from each desk (600 queued).
        _backlog(ingest, desks, {d: _tokens(s, 1, 300) for d, s in signers.items()})
        assert ingest.count() == 600
        # Three commits of 200, one message per desk: before, one per desk and batch (6).
        assert sorted(t for t, _ in desks.receipts) == sorted(
            topics.RECEIPTS.of(d) for d in DESKS)
        # Steady taps (nothing queued behind them) are receipted at their own commit.
        for n in range(3):
            desks.publish("desk-a", _tokens(signers["desk-a"], 301 + n, 1))
            assert wait_until(functools.partial(desks.has_receipts, 3 + n), 10)


def test_coalescing_stops_at_its_record_limit(
        tmp_path: Path, own_broker: MosquittoBroker, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker, "RECEIPT_HOLD_S", 60.0)
    monkeypatch.setattr(worker, "RECEIPT_COALESCE", 400)
    with _started(tmp_path, own_broker) as (ingest, desks, signers):
        _backlog(ingest, desks, {"desk-a": _tokens(signers["desk-a"], 1, 700)})
        # Batches of 200: two held, then sent at the limit (400); the third held, the fourth
        # (the last 100, nothing queued behind it) sends it with its own (300).
        assert [len(ids) for _, ids in desks.receipts] == [400, 300]
