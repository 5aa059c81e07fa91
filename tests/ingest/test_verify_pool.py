"""The worker's verify threads, on real Mosquitto: messages are checked off the network thread,
yet stored in the order they arrived, a failing check is a typed rejection, and the threads
end with the worker."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from station import keys
from station.ingest import Ingest
from station.ingest.verification import Refused, Verified, Verifier
from station.pipeline.records import Reading, RecordSigner
from station.testing.mosquitto import MosquittoBroker, publish_all
from station.testing.wait import wait_until

pytestmark = pytest.mark.mqtt

TOPIC = "stations/desk-p/records"


class _Exploding(Verifier):
    """A verifier whose check fails with an unexpected exception on one chosen token."""

    def __init__(self, inner: Verifier, bad: bytes) -> None:
        super().__init__(inner.stations, inner.backend_key, inner.revoked)
        self.bad = bad

    def check(self, topic: str, token: bytes) -> Verified | Refused:
        if token == self.bad:
            raise KeyError("boom")
        return super().check(topic, token)


def _pool_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("ingest-verify")]


def test_records_checked_in_parallel_are_stored_in_arrival_order(
        tmp_path: Path, own_broker: MosquittoBroker) -> None:
    sk, bk = keys.generate_signing_key(), keys.generate_seal_key()
    signer = RecordSigner("desk-p", sk, bk.public_key())
    tokens = [signer.build(Reading("hospital", "PACE", "genuine", (),
                                   {"id_number": f"0010990{n:05d}"}), n).token
              for n in range(1, 301)]
    forged = keys.generate_signing_key()
    wrong = RecordSigner("desk-p", forged, bk.public_key()).build(
        Reading("hospital", "PACE", "genuine", (), {"id_number": "001099000000"}), 999).token
    exploding = tokens[150]
    # Sequence numbers out of their natural order, so arrival order is what the test sees.
    order = list(range(0, 300, 2)) + list(range(1, 300, 2))
    payloads = [tokens[i] for i in order]
    payloads.insert(100, wrong)
    assert not _pool_threads()
    ingest = Ingest(tmp_path / "i.sqlite3", own_broker.settings(),
                    stations={"desk-p": sk.public_key()}, backend_key=bk,
                    client_id="ingest-pool", verify_threads=3)
    ingest.verifier = _Exploding(ingest.verifier, exploding)
    ingest.start()
    try:
        assert len(_pool_threads()) <= 3
        publish_all(own_broker.settings(), "desk-p", TOPIC, payloads)
        assert wait_until(lambda: ingest.count() == 299 and ingest.rejected == 2, 30), (
            ingest.count(), ingest.rejections)
        expected = [i + 1 for i in order if i != 150]
        assert ingest.sequences("desk-p") == expected
        assert ingest.rejections == {"bad_signature": 1, "internal:KeyError": 1}
    finally:
        ingest.stop()
    assert not _pool_threads()


def test_zero_verify_threads_checks_on_the_network_thread(
        tmp_path: Path, own_broker: MosquittoBroker) -> None:
    sk, bk = keys.generate_signing_key(), keys.generate_seal_key()
    signer = RecordSigner("desk-p", sk, bk.public_key())
    ingest = Ingest(tmp_path / "i.sqlite3", own_broker.settings(),
                    stations={"desk-p": sk.public_key()}, backend_key=bk,
                    client_id="ingest-inline", verify_threads=0)
    ingest.start()
    try:
        assert not _pool_threads()
        publish_all(own_broker.settings(), "desk-p", TOPIC, [
            signer.build(Reading("bank", "PACE", "genuine", (), {"id_number": "001099000001"}),
                         n).token for n in (3, 1, 2)])
        assert wait_until(lambda: ingest.count() == 3, 15)
        assert ingest.sequences("desk-p") == [3, 1, 2]
    finally:
        ingest.stop()
