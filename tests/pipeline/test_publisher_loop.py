"""The publisher's own network loop (one thread drives paho), on real Mosquitto."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from station import topics
from station.pipeline.outbox import Outbox
from station.pipeline.publisher import Publisher
from station.testing.mosquitto import MosquittoBroker
from station.testing.wait import wait_until

pytestmark = pytest.mark.mqtt


def fill(box: Outbox, first: int, n: int) -> None:
    box.add_many([(f"r{i}", i, topics.RECORDS.of("desk-l"), b"sealed") for i in
                  range(first, first + n)])


def test_a_surprise_in_the_network_loop_does_not_end_publishing(
        tmp_path: Path, own_broker: MosquittoBroker, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    outbox = Outbox(tmp_path / "o.sqlite3")
    publisher = Publisher(outbox, "desk-l", own_broker.settings(), release="puback",
                          require_subscriber=False)
    real_misc = publisher._client.loop_misc
    calls = {"n": 0}

    def flaky_misc() -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("a bug in a library")
        return real_misc()

    publisher._client.loop_misc = flaky_misc
    publisher.start()
    try:
        assert publisher.wait_connected(10)
        fill(outbox, 1, 50)
        publisher.notify()
        assert wait_until(lambda: outbox.counts()["acked"] == 50, 10), outbox.counts()
        assert calls["n"] > 3
        (err,) = [r for r in caplog.records if r.getMessage() == "mqtt.loop_error"]
        assert err.kv == {"reason": "RuntimeError"}  # type: ignore[attr-defined]
        # Still alive after the surprise: later records go out too.
        fill(outbox, 51, 5)
        publisher.notify()
        assert wait_until(lambda: outbox.counts()["acked"] == 55, 10), outbox.counts()
    finally:
        publisher.stop()
        outbox.close()


def test_reconnects_after_the_broker_returns_and_resends_what_was_in_flight(
        tmp_path: Path, own_broker: MosquittoBroker) -> None:
    outbox = Outbox(tmp_path / "o.sqlite3")
    publisher = Publisher(outbox, "desk-l", own_broker.settings(), release="puback",
                          require_subscriber=False, backoff_base_s=0.1, backoff_max_s=0.5)
    publisher.start()
    try:
        assert publisher.wait_connected(10)
        fill(outbox, 1, 20)
        publisher.notify()
        assert wait_until(lambda: outbox.counts()["acked"] == 20, 10)
        own_broker.stop()
        assert wait_until(lambda: not publisher.stats().connected, 10)
        fill(outbox, 21, 30)  # stored while the broker is away: kept in SQLite, not in paho
        publisher.notify()
        assert outbox.counts()["pending"] == 30
        own_broker.start()
        assert wait_until(lambda: outbox.counts()["acked"] == 50, 15), outbox.counts()
        assert publisher.stats().connects >= 2
    finally:
        publisher.stop()
        outbox.close()
