"""Several ingest workers (`station ingest` processes) on the shared subscription, real
Mosquitto (mTLS + provisioning's ACL) and a real PostgreSQL: one worker is killed with SIGKILL
in the middle of a stream and restarted (as systemd's Restart= would); every record ends up
stored exactly once, and a station releases a record only once it is committed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import IO, Any

import psycopg
import pytest

from provisioning import registry
from station import keys
from station.pipeline.outbox import Outbox
from station.pipeline.publisher import Publisher
from station.pipeline.records import Check, Reading, RecordSigner
from station.pipeline.store import OutboxStore
from station.testing.mosquitto import MosquittoBroker
from station.testing.wait import wait_until

pytestmark = [pytest.mark.mqtt, pytest.mark.slow]

STATION = "desk-w"
RECORDS = 240


class Worker:
    """One `station ingest` process; its stdout lines collected by a thread."""

    def __init__(self, tmp: Path, name: str, dsn: str) -> None:
        self.name = name
        self.lines: list[str] = []
        self.args = [sys.executable, "-m", "station", "--config", str(tmp / f"{name}.toml"),
                     "ingest", "--db", dsn, "--registry", str(tmp / "registry.json"),
                     "--client-id", name, "--health-port", "0"]
        self.proc: subprocess.Popen[str] | None = None
        self.health_url = ""

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
        self.lines = []  # this run's lines only
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, text=True, env=env)
        threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True).start()
        assert wait_until(lambda: any(x.startswith("ingest: listening") for x in self.lines),
                          20), self.lines
        url = next(x for x in self.lines if x.startswith("ingest: health on"))
        self.health_url = url.split()[-1]

    def _read(self, out: IO[str] | None) -> None:
        assert out is not None
        for line in out:
            self.lines.append(line.strip())

    def received(self) -> int:
        return sum(1 for x in self.lines if x.startswith("received ") and "duplicate" not in x)

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.health_url, timeout=5) as r:
            doc: dict[str, Any] = json.loads(r.read())
            return doc

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def committed(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        return {r[0] for r in conn.execute("SELECT record_id FROM received")}


def test_two_workers_one_killed_mid_stream_lose_nothing_and_store_nothing_twice(
        tmp_path: Path, tls_broker: MosquittoBroker, pg_dsn: str) -> None:
    sk, bk = keys.generate_signing_key(), keys.generate_seal_key()
    for name in ("ingest-a", "ingest-b"):
        # Each worker its own backend identity: the broker makes the certificate's CN the
        # client id, so two workers on one certificate would take each other's session.
        ingest_tls = tls_broker.settings(name)
        (tmp_path / f"{name}.toml").write_text(
            f"[mqtt]\nhost = '127.0.0.1'\nport = {tls_broker.port}\ntls = true\n"
            f"ca_file = '{ingest_tls.ca_file}'\ncert_file = '{ingest_tls.cert_file}'\n"
            f"key_file = '{ingest_tls.key_file}'\n")
    registry.save(tmp_path / "registry.json", {STATION: registry.RegistryEntry(
        keys.public_pem(sk.public_key()).decode(), "kid", "", "")})
    keys.save_private_key(bk, tmp_path / "seal.pem")
    workers = [Worker(tmp_path, f"ingest-{n}", pg_dsn) for n in ("a", "b")]
    for w in workers:
        w.args += ["--backend-key", str(tmp_path / "seal.pem")]
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    early: list[str] = []  # released before the record was committed: must stay empty
    acked: set[str] = set()

    def on_ack(rid: str, ok: bool) -> None:
        if ok:
            if rid not in committed(pg_dsn):
                early.append(rid)
            acked.add(rid)

    publisher = Publisher(outbox, STATION, tls_broker.settings(STATION), receipt_timeout_s=3.0,
                          on_ack=on_ack)
    store = OutboxStore(outbox, RecordSigner(STATION, sk, bk.public_key()), publisher)
    try:
        for w in workers:
            w.start()
        publisher.start()
        ids: list[str] = []
        for n in range(RECORDS):
            ids.append(store.store(Reading(
                "reception", "PACE", "authentic", (Check("passive_authentication", True),),
                {"id_number": f"0790990{n:05d}"})))
            if n == RECORDS // 3:
                # Mid-stream: the first worker dies with whatever batch it had open.
                assert wait_until(lambda: workers[0].received() > 0, 10)
                workers[0].kill()
                killed_at = len(committed(pg_dsn))
            if n == RECORDS // 2:
                workers[0].start()  # restarted under the same client id (its session)
            time.sleep(0.005)
        assert wait_until(lambda: len(acked) == RECORDS, 60), (len(acked), outbox.counts())
        health = [w.health() for w in workers]
    finally:
        store.close()
        for w in workers:
            w.stop()
    assert 0 < killed_at < RECORDS
    assert early == []
    with psycopg.connect(pg_dsn) as conn:
        rows = conn.execute("SELECT seq FROM received WHERE station_id=%s", (STATION,)
                            ).fetchall()
    seqs = sorted(r[0] for r in rows)
    assert seqs == list(range(1, RECORDS + 1))  # every record, exactly once
    assert acked == set(ids)
    assert all(h["connected"] for h in health)
    assert all(h["stored"] > 0 for h in health)  # both shared the stream
    assert all(h["lag_s"] is not None for h in health)
    assert sum(h["batches_lost"] for h in health) == 0
