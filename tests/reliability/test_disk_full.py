"""Disk full: the outbox's filesystem is a small tmpfs that really runs out of space.

New records are refused with a clear status (:class:`OutboxFull`, an alarm, ``has_room`` false),
the queued ones survive (reopen, ``PRAGMA integrity_check``), are delivered once each through a
real Mosquitto to ingest, and once delivered and purged the outbox takes new records again.
Needs root (``mount -t tmpfs``), as CI runs.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from station import keys
from station.errors import OutboxFull
from station.ingest import Ingest
from station.pipeline.outbox import Outbox
from station.pipeline.publisher import Publisher
from station.pipeline.records import Check, Reading, RecordSigner
from station.pipeline.store import OutboxStore
from station.testing.mosquitto import MosquittoBroker
from station.testing.wait import wait_until
from tests.reliability.campaign import Tally, scale

ID_NUMBER = "001099012345"
NAME = "Nguyễn Văn Thử"


def reading(n: int) -> Reading:
    return Reading("reception", "PACE", "authentic", (Check("passive_authentication", True),),
                   {"id_number": ID_NUMBER, "full_name": NAME, "address": "Số 1, Phố Thử " * 20},
                   {"DG1": n.to_bytes(4, "big")})


@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of a few hundred KiB (MiB under ``make reliability``) mounted for this test."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    size = scale(2048, 8192)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}k,mode=0700", "tmpfs",
                           str(mnt)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def integrity_ok(path: Path) -> bool:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


@pytest.mark.parametrize("reserve", [0, 768 * 1024], ids=["enospc", "reserve"])
def test_disk_full_refuses_new_reads_and_keeps_queued(
        small_disk: Path, own_broker: MosquittoBroker, tally: Tally, reserve: int) -> None:
    sk, bk = keys.generate_signing_key(), keys.generate_seal_key()
    station_id = f"desk-full-{reserve}"
    signer = RecordSigner(station_id, sk, bk.public_key())
    path = small_disk / "outbox.sqlite3"
    # Something else on the same filesystem (logs, a core dump) that an operator can delete: a
    # quarter of the disk, because a WAL outbox that filled the disk needs room to checkpoint
    # (the database file grows by what the WAL holds) before it can record claims and acks.
    ballast = small_disk / "ballast"
    ballast.write_bytes(b"\0" * (shutil.disk_usage(small_disk).total // 4))
    outbox = Outbox(path, disk_reserve=reserve)
    store = OutboxStore(outbox, signer)  # no publisher yet: the backlog builds up
    stored = 0
    with pytest.raises(OutboxFull) as refused:
        for n in range(1, 100_000):
            store.store(reading(n))
            stored = n
    # A clear status: the error and the alarm say why, and the desk's "ready" check says no.
    assert "full" in str(refused.value) and "kept" in str(refused.value)
    assert any("outbox full" in a for a in outbox.alarms)
    assert not store.has_room()
    assert stored > 10
    # Refusing twice changes nothing; the sequence did not move.
    with pytest.raises(OutboxFull):
        store.store(reading(0))
    assert outbox.next_seq() == stored + 1
    outbox.close()
    if reserve:
        assert shutil.disk_usage(small_disk).free > 0  # refused before the disk was exhausted

    # Queued records survive: reopen (as after a restart), the database is whole. On a truly
    # full disk SQLite may not even create its -shm file: the restart is then refused with
    # OutboxFull, the file is left where it is (never quarantined), and it opens once the
    # operator frees space.
    assert integrity_ok(path)
    try:
        outbox = Outbox(path, disk_reserve=reserve)
    except OutboxFull:
        assert not reserve  # the reserve always leaves room to open
        assert not list(small_disk.glob("*.corrupt-*"))
        ballast.unlink()
        outbox = Outbox(path, disk_reserve=reserve)
    assert not list(small_disk.glob("*.corrupt-*"))
    assert outbox.counts() == {"pending": stored, "delivered": 0, "acked": 0}

    # Deliver them through the real broker: every one reaches ingest exactly once. With the
    # reserve the claim/ack bookkeeping fits in it; on a truly full disk the publisher must
    # survive its failed writes and drain once the operator frees space.
    ingest = Ingest(small_disk.parent / "ingest.sqlite3", own_broker.settings(),
                    stations={station_id: sk.public_key()}, backend_key=bk,
                    client_id=f"ingest-{station_id}")
    ingest.start()
    publisher = Publisher(outbox, station_id, own_broker.settings())
    publisher.start()
    store = OutboxStore(outbox, signer, publisher)
    try:
        if not reserve:
            assert publisher.wait_connected(10)
            wait_until(lambda: outbox.counts()["acked"] > 0, 2)
            assert publisher._thread is not None and publisher._thread.is_alive()
            ballast.unlink(missing_ok=True)
        assert wait_until(lambda: outbox.counts()["acked"] == stored, 60), outbox.counts()
        assert wait_until(lambda: ingest.count() == stored, 20), (ingest.count(), stored,
                                                                   ingest.rejected)
        # Delivered records may go; then the outbox takes new reads again.
        outbox.purge_acked()
        assert store.has_room()
        store.store(reading(stored + 1))
        assert wait_until(lambda: ingest.count() == stored + 1, 20)
    finally:
        store.close()
        ingest.stop()
    seqs = ingest.sequences(station_id)
    tally.record(f"disk full ({'ENOSPC' if not reserve else 'free-space reserve'})", runs=1,
                 faults=2, committed=stored + 1, delivered=len(set(seqs)),
                 lost=stored + 1 - len(set(seqs)), duplicates=len(seqs) - len(set(seqs)))
    assert seqs == list(range(1, stored + 2))
    raw = b"".join(p.read_bytes() for p in small_disk.glob("outbox.sqlite3*"))
    assert ID_NUMBER.encode() not in raw and NAME.encode() not in raw
