"""The outbox's delivered state (PUBACK) and release on the backend's receipt; migration 3."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from station.pipeline.outbox import MIGRATIONS, Outbox


def fill(box: Outbox, n: int) -> list[str]:
    ids = [f"r{i}" for i in range(1, n + 1)]
    box.add_many([(rid, i, "t", f"sealed-{i}".encode()) for i, rid in enumerate(ids, start=1)])
    return ids


def payload(box: Outbox, rid: str) -> bytes | None:
    row = box.conn.execute("SELECT payload FROM records WHERE id=?", (rid,)).fetchone()
    return None if row[0] is None else bytes(row[0])


def test_delivered_keeps_the_payload_until_the_receipt(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    fill(box, 3)
    box.mark_delivered([p.seq for p in box.claim(3)])
    assert box.counts() == {"pending": 0, "delivered": 3, "acked": 0}
    assert payload(box, "r2") == b"sealed-2"  # the broker has it; the backend may not
    assert box.delivered_count() == 3
    assert box.entries(1)[0].sent_at is not None
    assert box.mark_received(["r2", "r2", "unknown"]) == ["r2"]
    assert payload(box, "r2") is None and payload(box, "r1") == b"sealed-1"
    assert box.mark_received(["r2"]) == []  # a repeated receipt changes nothing
    assert box.counts() == {"pending": 0, "delivered": 2, "acked": 1}
    st = box.status()
    assert (st.delivered, st.acked) == (2, 1)
    assert st.to_json()["delivered"] == 2


def test_receipt_acks_whatever_the_state(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    fill(box, 3)
    box.claim(1)  # r1 in flight (its receipt overtook the PUBACK of a re-send)
    assert box.mark_received(["r1", "r3"]) == ["r1", "r3"]  # r3 still pending: backend has it
    box.mark_delivered([1])  # the late PUBACK does not bring it back
    assert box.counts() == {"pending": 1, "delivered": 0, "acked": 2}
    assert [p.id for p in box.claim(5)] == ["r2"]


def test_unreceipted_records_are_requeued_in_order(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    fill(box, 5)
    box.mark_delivered([p.seq for p in box.claim(4)])
    box.mark_received(["r2"])
    assert box.requeue_unreceipted(60.0) == 0  # not due yet
    assert box.requeue_unreceipted(60.0, now=time.time() + 61) == 3
    assert box.counts() == {"pending": 4, "delivered": 0, "acked": 1}
    assert [p.id for p in box.claim(10)] == ["r1", "r3", "r4", "r5"]
    assert payload(box, "r3") == b"sealed-3"


def test_delivered_counts_for_ttl_and_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    box = Outbox(path, ttl_s=10.0)
    fill(box, 2)
    box.mark_delivered([p.seq for p in box.claim(1)])
    box.close()
    box = Outbox(path, ttl_s=10.0)  # delivered stays delivered (its receipt may be queued)
    assert box.counts() == {"pending": 1, "delivered": 1, "acked": 0}
    st = box.status(now=time.time() + 20)
    assert st.expired == 2 and st.oldest_pending_age_s is not None
    assert box.check_ttl(now=time.time() + 20) == 2
    assert any("not yet acknowledged by the backend" in a for a in box.alarms)


def test_release_on_puback_still_deletes_the_payload(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    fill(box, 2)
    box.mark_acked([p.seq for p in box.claim(2)])
    assert box.counts()["acked"] == 2 and payload(box, "r1") is None




def test_migration_3_from_a_v2_file_keeps_rows_and_index(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(f"BEGIN; {MIGRATIONS[0]}; PRAGMA user_version=1; COMMIT;")
    conn.executescript(f"BEGIN; {MIGRATIONS[1]}; PRAGMA user_version=2; COMMIT;")
    conn.executemany(
        "INSERT INTO records (id, seq, created_at, topic, state, payload, acked_at, outcome, size)"
        " VALUES (?, ?, ?, 't', ?, ?, ?, 'authentic', ?)",
        [("a", 1, 1000.0, "acked", None, 1001.0, 5), ("b", 2, 1002.0, "in_flight", b"B", None, 1),
         ("c", 3, 1003.0, "pending", b"C", None, 1)])
    conn.execute("UPDATE meta SET value=3 WHERE key='last_seq'")
    with pytest.raises(sqlite3.IntegrityError):  # the v2 CHECK knows no 'delivered'
        conn.execute("UPDATE records SET state='delivered' WHERE id='c'")
    conn.close()

    box = Outbox(path)
    assert box.conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == 4
    rows = box.conn.execute("SELECT id, seq, created_at, state, payload, acked_at, outcome, size, "
                            "sent_at FROM records ORDER BY seq").fetchall()
    assert rows == [("a", 1, 1000.0, "acked", None, 1001.0, "authentic", 5, None),
                    ("b", 2, 1002.0, "pending", b"B", None, "authentic", 1, None),
                    ("c", 3, 1003.0, "pending", b"C", None, "authentic", 1, None)]
    indexes = {r[0] for r in box.conn.execute(
        "SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='records' "
        "AND name NOT LIKE 'sqlite_autoindex%'")}
    assert indexes == {"records_pending"}
    assert box.status().last_seq == 3
    box.mark_delivered([p.seq for p in box.claim(1)])  # the new state is accepted now
    assert box.counts() == {"pending": 1, "delivered": 1, "acked": 1}
    assert box.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    plan = " ".join(r[3] for r in box.conn.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM records WHERE state='pending' ORDER BY seq"))
    assert "records_pending" in plan


def test_migration_4_moves_version_3_deliveries_to_their_table(tmp_path: Path) -> None:
    path = tmp_path / "v3.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    for number, sql in enumerate(MIGRATIONS[:3], start=1):
        conn.executescript(f"BEGIN; {sql}; PRAGMA user_version={number}; COMMIT;")
    conn.executemany(
        "INSERT INTO records (id, seq, created_at, topic, state, payload, acked_at, sent_at) "
        "VALUES (?, ?, 1000.0, 't', ?, ?, ?, ?)",
        [("a", 1, "acked", None, 1001.0, 1000.5), ("b", 2, "delivered", b"B", None, 1002.0),
         ("c", 3, "pending", b"C", None, None)])
    conn.execute("UPDATE meta SET value=3 WHERE key='last_seq'")
    conn.close()

    box = Outbox(path)
    assert box.counts() == {"pending": 1, "delivered": 1, "acked": 1}
    assert box.conn.execute("SELECT seq, sent_at FROM deliveries").fetchall() == [(2, 1002.0)]
    assert [p.id for p in box.claim(5)] == ["c"]  # the delivered one is not sent again
    assert box.requeue_unreceipted(60.0, now=1002.0 + 61) == 1
    assert [p.id for p in box.claim(5)] == ["b", "c"]
    assert box.mark_received(["b"]) == ["b"] and payload(box, "b") is None
    assert box.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_receipt_keeps_when_it_was_delivered(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    fill(box, 1)
    box.mark_delivered([1])
    sent = box.entries(1)[0].sent_at
    assert sent is not None
    box.mark_received(["r1"])
    (entry,) = box.entries(1)
    assert (entry.state, entry.sent_at) == ("acked", sent)
    assert box.delivered_count() == 0
