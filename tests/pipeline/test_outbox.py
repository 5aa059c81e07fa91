from pathlib import Path

import pytest

from station.errors import StoreError
from station.pipeline.outbox import Outbox


def fill(box: Outbox, n: int) -> list[str]:
    ids = [f"r{i}" for i in range(1, n + 1)]
    box.add_many([(rid, i, "t", f"p{i}".encode()) for i, rid in enumerate(ids, start=1)])
    return ids


def test_pragmas_are_durable(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    assert box.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert box.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_claim_in_order_then_ack_drops_payload(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    fill(box, 5)
    claimed = box.claim(3)
    assert [p.seq for p in claimed] == [1, 2, 3]
    assert box.counts() == {"pending": 2, "in_flight": 3, "acked": 0}
    box.mark_acked(["r1", "r2"])
    box.release(["r3"])
    assert box.counts() == {"pending": 3, "in_flight": 0, "acked": 2}
    assert box.conn.execute("SELECT payload FROM records WHERE id='r1'").fetchone()[0] is None
    assert [p.seq for p in box.claim(10)] == [3, 4, 5]


def test_in_flight_returns_to_pending_after_restart(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    box = Outbox(path)
    fill(box, 3)
    box.claim(2)
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


def test_not_a_database(tmp_path: Path) -> None:
    p = tmp_path / "o.sqlite3"
    p.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError):
        Outbox(p)
