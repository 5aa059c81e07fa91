import sqlite3
import time
from pathlib import Path

import pytest

from station.errors import OutboxFull, StoreError
from station.pipeline.outbox import SAFETY_CHECKPOINT_PAGES, Outbox


def fill(box: Outbox, n: int) -> list[str]:
    ids = [f"r{i}" for i in range(1, n + 1)]
    box.add_many([(rid, i, "t", f"p{i}".encode()) for i, rid in enumerate(ids, start=1)])
    return ids


def test_pragmas_are_durable(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    assert box.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert box.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    # Inserts never run the checkpoint themselves (the publisher's thread does).
    assert box.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == SAFETY_CHECKPOINT_PAGES


def test_checkpoint_runs_on_ack_not_on_insert(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    box = Outbox(path)
    empty = path.stat().st_size
    box.add_many([(f"r{i}", i, "t", bytes(2000)) for i in range(1, 301)])  # ~150 pages
    assert path.stat().st_size == empty  # still all in the WAL: the tap did not checkpoint
    box.mark_acked([p.seq for p in box.claim(300)])
    assert path.stat().st_size > empty + 300 * 2000  # the ack's checkpoint copied the pages
    assert box.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # back to FULL
    box.close()


def test_claim_after_seq_skips_gaps_and_other_states(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    fill(box, 6)
    assert [p.seq for p in box.claim(2)] == [1, 2]  # in flight: the publisher's memory
    box.mark_acked([4])  # acknowledged out of band: not pending any more
    box.mark_delivered([5])
    claimed = box.claim(3, after_seq=2)
    assert [p.seq for p in claimed] == [3, 6]
    # Claiming writes nothing to the file.
    assert box.counts() == {"pending": 4, "delivered": 1, "acked": 1}


def test_marks_take_runs_of_sequence_numbers(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    fill(box, 9)

    def states() -> list[str]:
        return [e.state for e in sorted(box.entries(20), key=lambda e: e.seq)]

    box.mark_delivered([7, 2, 3, 1, 9, 3])  # out of order, a gap, a repeat
    assert [e.seq for e in box.entries(20, "delivered")] == [9, 7, 3, 2, 1]
    box.mark_acked(range(3, 8))
    assert states() == ["delivered", "delivered", "acked", "acked", "acked", "acked", "acked",
                        "pending", "delivered"]
    box.mark_delivered([4, 8])  # an acknowledged record stays acknowledged
    assert box.counts() == {"pending": 0, "delivered": 4, "acked": 5}
    assert [p.seq for p in box.claim(10)] == []  # delivered ones are not sent again


def test_claim_in_order_then_ack_drops_payload(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    fill(box, 5)
    claimed = box.claim(3)
    assert [p.seq for p in claimed] == [1, 2, 3]
    assert box.counts() == {"pending": 5, "delivered": 0, "acked": 0}
    box.mark_acked([1, 2])  # r3's PUBACK did not come: still pending
    assert box.counts() == {"pending": 3, "delivered": 0, "acked": 2}
    assert box.conn.execute("SELECT payload FROM records WHERE id='r1'").fetchone()[0] is None
    assert [p.seq for p in box.claim(10)] == [3, 4, 5]


def test_an_old_files_in_flight_rows_are_pending_again_at_open(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    box = Outbox(path)
    fill(box, 3)
    box.conn.execute("UPDATE records SET state='in_flight' WHERE seq <= 2")  # older versions
    box.close()
    box = Outbox(path)
    assert box.counts()["pending"] == 3
    assert box.next_seq() == 4


def test_duplicate_sequence_is_refused_whole(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    fill(box, 2)
    with pytest.raises(StoreError):
        box.add_many([("x1", 3, "t", b"a"), ("x2", 2, "t", b"b")])
    assert box.counts()["pending"] == 2  # the batch was rolled back, nothing partial




def test_sequence_high_water_mark_survives_purge(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    box = Outbox(path)
    fill(box, 3)
    box.mark_acked([p.seq for p in box.claim(3)])
    assert box.purge_acked() == 3
    assert box.counts() == {"pending": 0, "delivered": 0, "acked": 0}
    box.close()
    box = Outbox(path)
    assert box.next_seq() == 4  # never reused: ingest would take seq 1 again for a replay
    with pytest.raises(StoreError):
        box.add("again", 2, "t", b"x")


def test_purge_keeps_pending(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    fill(box, 3)
    box.mark_acked([1])
    assert box.purge_acked() == 1
    assert box.counts()["pending"] == 2


def test_a_failed_purge_rolls_back_and_the_outbox_stays_writable(tmp_path: Path) -> None:
    # A purge whose DELETE fails (here a trigger aborts it; in the field an I/O error) used to
    # leave its BEGIN IMMEDIATE open: the connection kept the write lock and every later
    # insert failed with "cannot start a transaction within a transaction".
    box = Outbox(tmp_path / "o.sqlite3")
    fill(box, 3)
    box.mark_acked([1, 2])
    box.conn.execute("CREATE TRIGGER no_delete BEFORE DELETE ON records "
                     "BEGIN SELECT RAISE(ABORT, 'refused'); END")
    with pytest.raises(sqlite3.IntegrityError):
        box.purge_acked()
    assert not box.conn.in_transaction
    box.conn.execute("DROP TRIGGER no_delete")
    box.add("r4", 4, "t", b"p4")
    assert box.counts() == {"pending": 2, "delivered": 0, "acked": 2}
    assert box.purge_acked() == 2


def test_entries_show_no_payload(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    box.add("a", 1, "t", b"SECRET-PAYLOAD", "authentic")
    (entry,) = box.entries()
    assert (entry.id, entry.seq, entry.state, entry.outcome, entry.size) == (
        "a", 1, "pending", "authentic", 14)
    assert "SECRET" not in repr(entry)


def test_size_cap_refuses_new_and_keeps_queued(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3", max_bytes=256 * 1024)
    n = 0
    with pytest.raises(OutboxFull):
        for n in range(1, 1000):
            box.add(f"r{n}", n, "t", b"x" * 4096)
    stored = n - 1
    assert stored > 10
    assert box.counts()["pending"] == stored  # nothing queued was lost
    assert box.status().full or not box.has_room()
    assert any("full" in a for a in box.alarms)
    # Delivering frees room again.
    box.mark_acked([p.seq for p in box.claim(stored)])
    assert box.has_room()
    box.add("after", n, "t", b"x" * 4096)


def test_disk_full_is_outbox_full(tmp_path: Path) -> None:
    """SQLITE_FULL from the storage itself (max_page_count makes SQLite hit it for real)."""
    box = Outbox(tmp_path / "o.sqlite3")
    fill(box, 2)
    pages = box.conn.execute("PRAGMA page_count").fetchone()[0]
    box.conn.execute(f"PRAGMA max_page_count={pages + 2}")
    with pytest.raises(OutboxFull):
        box.add_many([(f"big{i}", 10 + i, "t", b"y" * 8192) for i in range(4)])
    assert box.counts()["pending"] == 2
    assert box.next_seq() == 3  # the refused batch did not move the sequence


def test_ttl_alarm_never_drops(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3", ttl_s=3600)
    fill(box, 2)
    assert box.check_ttl() == 0
    later = time.time() + 7200
    assert box.check_ttl(now=later) == 2
    assert any("older than 1 h" in a for a in box.alarms)
    assert box.counts()["pending"] == 2
    assert box.status(now=later).oldest_pending_age_s == pytest.approx(7200, abs=5)


def test_corrupt_database_is_quarantined_and_salvaged(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    box = Outbox(path)
    fill(box, 20)
    box.mark_acked([1])
    box.close()
    # Damage a page near the end (the index/data of later rows) but keep the header readable.
    data = bytearray(path.read_bytes())
    page = 4096
    data[page * 2: page * 2 + 200] = b"\x00\xff" * 100
    path.write_bytes(bytes(data))
    box = Outbox(path)
    assert box.alarms and "moved to" in box.alarms[0]
    st = box.status()
    assert len(st.quarantined) == 1
    assert (tmp_path / st.quarantined[0]).exists()  # kept for manual recovery
    assert box.next_seq() > 20  # the sequence continues above what the backend saw


def test_garbage_file_is_quarantined(tmp_path: Path) -> None:
    p = tmp_path / "o.sqlite3"
    p.write_bytes(b"this is not sqlite" * 100)
    box = Outbox(p)
    assert box.alarms
    assert box.counts() == {"pending": 0, "delivered": 0, "acked": 0}
    assert box.next_seq() > 1_600_000_000_000  # old sequence unknown: restart above it
    fill_from = box.next_seq()
    box.add("x", fill_from, "t", b"p")
    assert list(tmp_path.glob("o.sqlite3.corrupt-*"))


def test_newer_schema_is_refused_not_quarantined(tmp_path: Path) -> None:
    import sqlite3

    p = tmp_path / "o.sqlite3"
    Outbox(p).close()
    conn = sqlite3.connect(p)
    conn.execute("PRAGMA user_version=99")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        Outbox(p)
    assert not list(tmp_path.glob("*.corrupt-*"))


def test_locked_database_is_an_error_not_a_quarantine(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    from station.pipeline import outbox as outbox_module

    path = tmp_path / "o.sqlite3"
    box = Outbox(path)
    fill(box, 3)
    box.close()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # e.g. another process holding the write lock
    monkeypatch.setattr(outbox_module, "BUSY_TIMEOUT_MS", 50)
    try:
        with pytest.raises(StoreError, match="left as it is"):
            Outbox(path)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert not list(tmp_path.glob("*.corrupt-*"))
    assert Outbox(path).counts()["pending"] == 3


def test_full_disk_at_open_keeps_the_file(tmp_path: Path) -> None:
    import os
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mnt)], check=True)
    try:
        box = Outbox(mnt / "o.sqlite3", disk_reserve=0)
        fill(box, 5)
        box.close()
        ballast = mnt / "ballast"
        with open(ballast, "wb", buffering=0) as f, pytest.raises(OSError):
            while True:
                f.write(b"\0" * 4096)
        with pytest.raises(OutboxFull, match="disk is full"):
            Outbox(mnt / "o.sqlite3", disk_reserve=0)
        assert not list(mnt.glob("*.corrupt-*"))  # never moved aside for a full disk
        ballast.unlink()  # the operator frees space: everything queued is still there
        assert Outbox(mnt / "o.sqlite3", disk_reserve=0).counts()["pending"] == 5
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
