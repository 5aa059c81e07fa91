"""The worker's verify processes (``verify_processes``), on real Mosquitto: checked in child
processes yet stored in arrival order with their opened fields, a child that dies is replaced
without refusing a record, and no child outlives the worker — ended, or SIGKILLed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import MappingProxyType

import pytest

from station import keys
from station.ingest import Ingest, Received
from station.ingest.checking import Slot, VerifyProcesses
from station.ingest.verification import Refused, Verified, Verifier
from station.pipeline.records import Reading, RecordSigner
from station.testing.mosquitto import MosquittoBroker, publish_all
from station.testing.wait import wait_until

TOPIC = "stations/desk-p/records"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _reading(n: int) -> Reading:
    return Reading("hospital", "PACE", "genuine", (), {"id_number": f"0010990{n:05d}"})


@pytest.mark.mqtt
def test_checked_in_processes_stored_in_arrival_order_with_opened_fields(
        tmp_path: Path, own_broker: MosquittoBroker) -> None:
    sk, bk = keys.generate_signing_key(), keys.generate_seal_key()
    signer = RecordSigner("desk-p", sk, bk.public_key())
    tokens = [signer.build(_reading(n), n).token for n in range(1, 301)]
    forged = RecordSigner("desk-p", keys.generate_signing_key(), bk.public_key()).build(
        _reading(999), 999).token
    order = list(range(0, 300, 2)) + list(range(1, 300, 2))
    payloads = [tokens[i] for i in order]
    payloads.insert(100, forged)
    payloads.insert(7, b"not a JWS at all")
    seen: list[Received] = []
    ingest = Ingest(tmp_path / "i.sqlite3", own_broker.settings(),
                    stations={"desk-p": sk.public_key()}, backend_key=bk,
                    client_id="ingest-procs", verify_processes=2, on_record=seen.append)
    ingest.start()
    try:
        publish_all(own_broker.settings(), "desk-p", TOPIC, payloads)
        assert wait_until(lambda: ingest.count() == 300 and ingest.rejected == 2, 30), (
            ingest.count(), ingest.rejections)
        assert ingest.sequences("desk-p") == [i + 1 for i in order]
        assert ingest.rejections == {"bad_signature": 1, "malformed": 1}
        assert wait_until(lambda: len(seen) == 300, 5)
        by_seq = {r.record.seq: r for r in seen}
        assert by_seq[42].citizen == {"id_number": "001099000042"}
        assert isinstance(by_seq[42].record.context, MappingProxyType)
        assert ingest.health()["verifier_restarts"] == 0
    finally:
        ingest.stop()


@pytest.mark.mqtt
def test_a_killed_verify_process_is_replaced_and_refuses_nothing(
        tmp_path: Path, own_broker: MosquittoBroker) -> None:
    sk = keys.generate_signing_key()
    signer = RecordSigner("desk-p", sk, keys.generate_seal_key().public_key())
    ingest = Ingest(tmp_path / "i.sqlite3", own_broker.settings(),
                    stations={"desk-p": sk.public_key()}, client_id="ingest-procs",
                    verify_processes=1)
    ingest.start()
    try:
        pool = ingest._pool
        assert isinstance(pool, VerifyProcesses)
        assert wait_until(lambda: len(pool.children()) == 1, 20)
        (victim,) = pool.children()
        os.kill(victim, signal.SIGKILL)
        assert wait_until(lambda: not _alive(victim), 5)
        publish_all(own_broker.settings(), "desk-p", TOPIC, [signer.build(_reading(n), n).token
                                             for n in range(1, 51)])
        assert wait_until(lambda: ingest.count() == 50, 30), (ingest.count(),
                                                               ingest.rejections)
        assert ingest.rejected == 0
        assert ingest.health()["verifier_restarts"] == 1
        assert victim not in pool.children()
    finally:
        ingest.stop()


def _pool_of_one() -> tuple[VerifyProcesses, RecordSigner]:
    sk = keys.generate_signing_key()
    signer = RecordSigner("desk-p", sk, keys.generate_seal_key().public_key())
    return VerifyProcesses(1, Verifier({"desk-p": sk.public_key()})), signer


def _check(pool: VerifyProcesses, token: bytes) -> Verified | Refused:
    slot = Slot(TOPIC, token)
    pool.submit(slot)
    assert wait_until(lambda: slot.checked is not None, 20)
    assert slot.checked is not None
    return slot.checked


def test_verify_processes_ignore_sigterm_and_end_with_the_pool() -> None:
    pool, signer = _pool_of_one()
    try:
        assert isinstance(_check(pool, signer.build(_reading(1), 1).token), Verified)
        (child,) = pool.children()
        # systemd's stop and a terminal's Ctrl-C reach the whole group: the worker, not its
        # children, decides when checking ends (after its last batch).
        os.kill(child, signal.SIGTERM)
        os.kill(child, signal.SIGINT)
        time.sleep(0.3)
        assert _alive(child)
        assert isinstance(_check(pool, signer.build(_reading(2), 2).token), Verified)
        assert pool.restarts == 0
    finally:
        pool.close()
    assert not _alive(child)
    assert pool.children() == []


_HOLDER = """
import sys
from station import keys
from station.ingest.checking import Slot, VerifyProcesses
from station.ingest.verification import Verifier
from station.testing.wait import wait_until
pool = VerifyProcesses(2, Verifier({"desk-p": keys.generate_signing_key().public_key()}))
slots = [Slot("stations/desk-p/records", b"x") for _ in range(2)]
for s in slots:
    pool.submit(s)
assert wait_until(lambda: all(s.checked is not None for s in slots), 30)
assert wait_until(lambda: len(pool.children()) == 2, 30)
print(" ".join(map(str, pool.children())), flush=True)
sys.stdin.read()
"""


def test_no_verify_process_outlives_a_worker_killed_with_sigkill() -> None:
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        children = [int(p) for p in holder.stdout.readline().split()]
        assert len(children) == 2 and all(_alive(c) for c in children)
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        # Their pipes closed with the worker: each child's read ends, and so does the child.
        assert wait_until(lambda: not any(_alive(c) for c in children), 10)
    finally:
        if holder.poll() is None:
            holder.kill()


def test_no_process_to_be_had_refuses_typed_instead_of_hanging(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fork(self: VerifyProcesses) -> None:
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(VerifyProcesses, "_spawn", no_fork)
    pool, signer = _pool_of_one()
    try:
        # The record is fine; what failed is ours: refused as internal, so the station keeps
        # it and re-sends it, and nothing waits for an answer that cannot come.
        assert _check(pool, signer.build(_reading(1), 1).token) == Refused("internal:verifier")
        assert pool.children() == []
    finally:
        pool.close()
