"""The ingest store's contract, run on both stores (the embedded SQLite file and a real
PostgreSQL server), and its schema: numbered migrations recorded in schema_migrations."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

from station import keys
from station.ingest.postgres import PostgresStore, migrate_postgres
from station.ingest.store import (
    MIGRATIONS,
    Added,
    IngestStore,
    IngestStoreError,
    SqliteStore,
    migrate_sqlite,
    open_token,
    sqlite_version,
)
from station.ingest.stores import open_store
from station.ingest.verification import Verified, Verifier
from station.pipeline.records import Check, Reading, RecordSigner

ID_NUMBER = "001099012345"
NAME = "Trần Thị Bình"

# The schema ingest created before numbered migrations existed, verbatim.
_LEGACY = """
CREATE TABLE IF NOT EXISTS received (
    record_id   TEXT PRIMARY KEY,
    station_id  TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    wall        TEXT NOT NULL,
    profile     TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    token       BLOB NOT NULL,
    citizen     TEXT,
    received_at REAL NOT NULL,
    UNIQUE (station_id, seq)
);
CREATE TABLE IF NOT EXISTS rejected (
    topic       TEXT NOT NULL,
    reason      TEXT NOT NULL,
    received_at REAL NOT NULL
);
"""


@pytest.fixture(params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "ingest.sqlite3")
    return str(request.getfixturevalue("pg_dsn"))


@pytest.fixture()
def store(target: str) -> Iterator[IngestStore]:
    s = open_store(target)
    yield s
    s.close()


@pytest.fixture(scope="module")
def desk() -> tuple[ed25519.Ed25519PrivateKey, x25519.X25519PrivateKey]:
    return keys.generate_signing_key(), keys.generate_seal_key()


def verified(desk: tuple[ed25519.Ed25519PrivateKey, x25519.X25519PrivateKey], seq: int,
             station: str = "desk-1") -> Verified:
    sk, bk = desk
    token = RecordSigner(station, sk, bk.public_key()).build(
        Reading("hospital", "BAC", "authentic", (Check("passive_authentication", True),),
                {"id_number": ID_NUMBER, "full_name": NAME}), seq).token
    got = Verifier({station: sk.public_key()}, bk).check(f"stations/{station}/records", token)
    assert isinstance(got, Verified)
    return got


def test_new_then_duplicate_then_replay(store: IngestStore,
                                        desk: tuple[ed25519.Ed25519PrivateKey,
                                                    x25519.X25519PrivateKey]) -> None:
    first = verified(desk, 1)
    assert store.add(first) is Added.NEW
    store.commit()
    assert store.add(first) is Added.DUPLICATE  # a QoS 1 re-delivery: a no-op
    assert store.add(verified(desk, 1)) is Added.REPLAY  # another record, a used sequence
    store.commit()
    assert store.count() == 1 and store.sequences("desk-1") == [1]


def test_batch_classifies_each_record_as_add_does(
        store: IngestStore, desk: tuple[ed25519.Ed25519PrivateKey, x25519.X25519PrivateKey]
) -> None:
    """One add_many per batch (one round trip on PostgreSQL): within the batch a repeat of a
    record is a duplicate and another record under a used sequence a replay, in order."""
    one, two = verified(desk, 1), verified(desk, 2)
    other_one = verified(desk, 1)  # validly signed, different bytes, sequence 1 again
    assert store.add_many([one, two, one, other_one]) == [
        Added.NEW, Added.NEW, Added.DUPLICATE, Added.REPLAY]
    store.commit()
    # Arrival order is the batch's on SQLite; PostgreSQL inserts a batch in record-id order
    # (no deadlock between workers), and two UUIDv7 of one millisecond sort by their random
    # bits, so there the order is the ids'.
    arrived = sorted((one, two), key=lambda v: v.record.record_id) \
        if isinstance(store, PostgresStore) else [one, two]
    assert store.sequences("desk-1") == [v.record.seq for v in arrived]
    assert store.add_many([]) == []


def test_batch_against_committed_rows(
        store: IngestStore, desk: tuple[ed25519.Ed25519PrivateKey, x25519.X25519PrivateKey]
) -> None:
    """Across batches: a re-delivered batch is all duplicates, mixed in with new records and a
    replay of a committed sequence; the forged id (a used id, another sequence) is a replay
    too. Nothing but the new records is stored."""
    first = [verified(desk, n) for n in (1, 2, 3)]
    assert store.add_many(first) == [Added.NEW] * 3
    store.commit()
    a = first[0]
    b = verified(desk, 9)
    forged = Verified(type(a.record)(**{**a.record.__dict__, "seq": 9}), b.token, None)
    batch = [first[2], verified(desk, 4), verified(desk, 2), first[0], forged, b]
    assert store.add_many(batch) == [Added.DUPLICATE, Added.NEW, Added.REPLAY,
                                     Added.DUPLICATE, Added.REPLAY, Added.NEW]
    store.commit()
    # Batch by batch; inside one, PostgreSQL inserts in record-id order (no deadlock between
    # two workers' batches), and ids made in the same millisecond are in random order.
    got = store.sequences("desk-1")
    assert sorted(got[:3]) == [1, 2, 3] and sorted(got[3:]) == [4, 9]
    assert store.token(first[1].record.record_id) == first[1].token  # not overwritten


def test_refused_batch_rolls_back_whole_on_postgres(
        pg_dsn: str, desk: tuple[ed25519.Ed25519PrivateKey, x25519.X25519PrivateKey]) -> None:
    """A batch PostgreSQL refuses (a NUL in a text column) takes the open transaction with it,
    earlier records of the batch included, and the connection is usable afterwards."""
    store = PostgresStore(pg_dsn)
    good = verified(desk, 1)
    store.add_many([good])
    bad = Verified(type(good.record)(**{**good.record.__dict__, "record_id": "x\x00y",
                                        "seq": 2}), good.token, None)
    with pytest.raises(IngestStoreError):
        store.add_many([bad])
    assert store.count() == 0
    assert store.add_many([good]) == [Added.NEW]
    store.commit()
    assert store.count() == 1
    store.close()


def test_postgres_connection_lost_fails_the_batch_then_reconnects(
        pg_dsn: str, desk: tuple[ed25519.Ed25519PrivateKey, x25519.X25519PrivateKey]) -> None:
    """The server drops the worker's connection (a restart, a failover) in the middle of a
    batch: that batch fails whole (nothing of it may be receipted), the next one reconnects."""
    store = PostgresStore(pg_dsn)
    assert store.add_many([verified(desk, 1)]) == [Added.NEW]
    pid = store.conn.info.backend_pid
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(IngestStoreError):
        store.add_many([verified(desk, 2)])
    assert store.add_many([verified(desk, 3)]) == [Added.NEW]  # a new connection
    store.commit()
    assert store.conn.info.backend_pid != pid
    assert store.sequences("desk-1") == [3]  # 1 died with its batch: its station re-sends it
    store.close()


def test_same_id_other_bytes_is_a_replay(store: IngestStore,
                                         desk: tuple[ed25519.Ed25519PrivateKey,
                                                     x25519.X25519PrivateKey]) -> None:
    a = verified(desk, 1)
    store.add(a)
    store.commit()
    # The same record id under another sequence number (a forged re-use of the id).
    b = verified(desk, 2)
    forged = Verified(type(a.record)(**{**a.record.__dict__, "seq": 2}), b.token, None)
    assert store.add(forged) is Added.REPLAY
    store.commit()
    assert store.count() == 1


def test_rollback_keeps_nothing(store: IngestStore,
                                desk: tuple[ed25519.Ed25519PrivateKey,
                                            x25519.X25519PrivateKey]) -> None:
    store.add(verified(desk, 1))
    store.reject("stations/x/records", "topic")
    store.rollback()
    assert store.count() == 0 and store.rejections() == []
    assert store.add(verified(desk, 1)) is Added.NEW  # the sequence is free again
    store.commit()


def test_arrival_order_and_rejections(store: IngestStore,
                                      desk: tuple[ed25519.Ed25519PrivateKey,
                                                  x25519.X25519PrivateKey]) -> None:
    for seq in (3, 1, 2):
        store.add(verified(desk, seq))
    store.reject("stations/desk-9/records", "unknown_station")
    store.reject("other", "topic")
    store.commit()
    assert store.sequences("desk-1") == [3, 1, 2]
    assert store.rejections() == [("stations/desk-9/records", "unknown_station"),
                                  ("other", "topic")]


def test_citizen_data_is_stored_sealed_and_opened_on_read(
        store: IngestStore, target: str,
        desk: tuple[ed25519.Ed25519PrivateKey, x25519.X25519PrivateKey]) -> None:
    v = verified(desk, 1)
    store.add(v)
    store.commit()
    token = store.token(v.record.record_id)
    assert token == v.token
    assert open_token(token, desk[1]) == {"id_number": ID_NUMBER, "full_name": NAME}
    # No column holds the citizen fields in clear.
    if target.startswith("postgresql://"):
        with psycopg.connect(target) as conn:
            dump = repr(conn.execute("SELECT * FROM received").fetchall())
    else:
        store.close()
        dump = b"".join(p.read_bytes() for p in Path(target).parent.glob("ingest.sqlite3*")) \
            .decode("latin-1")
    assert ID_NUMBER not in dump and NAME not in dump and NAME.encode().decode("latin-1") \
        not in dump


def test_retention_deletes_citizen_data_and_keeps_the_audit_row(
        store: IngestStore,
        desk: tuple[ed25519.Ed25519PrivateKey, x25519.X25519PrivateKey]) -> None:
    old, new = verified(desk, 1), verified(desk, 2)
    store.add(old)
    store.commit()
    time.sleep(0.01)
    cutoff = time.time()
    store.add(new)
    store.commit()
    assert store.purge(cutoff) == 1
    assert store.token(old.record.record_id) is None
    assert store.token(new.record.record_id) == new.token
    audit = store.audit(old.record.record_id)
    assert audit is not None and audit.purged_at is not None
    assert (audit.station_id, audit.seq, audit.outcome) == ("desk-1", 1, "authentic")
    # A re-delivery after the purge is still recognised (by the hash), not stored again.
    assert store.add(old) is Added.DUPLICATE
    assert store.add(verified(desk, 1)) is Added.REPLAY
    store.commit()
    assert store.count() == 2 and store.purge(time.time()) == 1


def test_empty_database_gets_every_migration(target: str) -> None:
    s = open_store(target)
    assert s.version() == len(MIGRATIONS)
    s.close()
    again = open_store(target)  # reopening applies nothing twice
    assert again.version() == len(MIGRATIONS)
    again.close()


def test_newer_database_is_refused(target: str) -> None:
    open_store(target).close()
    if target.startswith("postgresql://"):
        with psycopg.connect(target) as conn:
            conn.execute("INSERT INTO schema_migrations VALUES (%s, 0)", (len(MIGRATIONS) + 1,))
    else:
        db = sqlite3.connect(target)
        db.execute("INSERT INTO schema_migrations VALUES (?, 0)", (len(MIGRATIONS) + 1,))
        db.commit()
        db.close()
    with pytest.raises(IngestStoreError, match="newer"):
        open_store(target)


def _legacy_row(desk: tuple[ed25519.Ed25519PrivateKey, x25519.X25519PrivateKey]
                ) -> tuple[Verified, tuple[object, ...]]:
    v = verified(desk, 7)
    r = v.record
    return v, (r.record_id, r.station_id, r.seq, r.wall, r.profile, r.outcome, v.token,
               f'{{"id_number": "{ID_NUMBER}"}}', time.time())


def test_sqlite_file_from_before_migrations_is_brought_forward(
        tmp_path: Path, desk: tuple[ed25519.Ed25519PrivateKey, x25519.X25519PrivateKey]
        ) -> None:
    path = tmp_path / "old.sqlite3"
    v, row = _legacy_row(desk)
    db = sqlite3.connect(path)
    db.executescript(_LEGACY)
    db.execute("INSERT INTO received VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
    db.commit()
    db.close()
    store = SqliteStore(path)
    assert store.version() == len(MIGRATIONS)
    assert store.sequences("desk-1") == [7]
    assert store.add(v) is Added.DUPLICATE  # the hash was computed for the old row
    store.commit()
    columns = [c[1] for c in store.db.execute("PRAGMA table_info(received)")]
    assert "citizen" not in columns  # the plaintext column of version 1 is gone
    store.close()


def test_postgres_from_version_1(
        pg_dsn: str, desk: tuple[ed25519.Ed25519PrivateKey, x25519.X25519PrivateKey]) -> None:
    v, row = _legacy_row(desk)
    with psycopg.connect(pg_dsn) as conn:
        migrate_postgres(conn, upto=1)
        conn.execute("INSERT INTO received (record_id, station_id, seq, wall, profile, outcome, "
                     "token, citizen, received_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                     row)
    store = PostgresStore(pg_dsn)
    assert store.version() == len(MIGRATIONS)
    assert store.sequences("desk-1") == [7]
    assert store.add(v) is Added.DUPLICATE
    store.commit()
    with psycopg.connect(pg_dsn) as conn:
        cols = [r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name='received'")]
    assert "citizen" not in cols
    store.close()


def test_migrations_step_by_step(tmp_path: Path, pg_dsn: str) -> None:
    db = sqlite3.connect(tmp_path / "s.sqlite3", isolation_level=None)
    with psycopg.connect(pg_dsn) as conn:
        for n in range(1, len(MIGRATIONS) + 1):
            migrate_sqlite(db, upto=n)
            migrate_postgres(conn, upto=n)
            assert db.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0] == n
            assert conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone() == (n,)


def test_unreachable_postgres_is_a_typed_error() -> None:
    with pytest.raises(IngestStoreError, match="cannot connect"):
        PostgresStore("postgresql://postgres@127.0.0.1:1/none?connect_timeout=2")


def test_sqlite_store_and_outbox_files_are_private(tmp_path: Path) -> None:
    """Issue 17: the backend's database and the station's outbox hold (sealed) citizen data;
    they, SQLite's -wal/-shm beside them and a directory made for them are 0600/0700, whatever
    the umask, and a looser existing file is narrowed."""
    import os
    import stat

    from station.ingest.store import SqliteStore
    from station.pipeline.outbox import Outbox

    old = os.umask(0o022)
    try:
        loose = tmp_path / "loose.sqlite3"
        loose.touch(mode=0o644)
        for path in (tmp_path / "ingest" / "ingest.sqlite3", loose):
            store = SqliteStore(path)
            store.db.execute("CREATE TABLE t (x)")
            store.db.execute("INSERT INTO t VALUES (1)")
            modes = {p.name: stat.S_IMODE(p.stat().st_mode)
                     for p in path.parent.glob(path.name + "*")}
            assert set(modes) >= {path.name, path.name + "-wal", path.name + "-shm"}
            assert set(modes.values()) == {0o600}, modes
            store.db.close()
        assert stat.S_IMODE((tmp_path / "ingest").stat().st_mode) == 0o700
        outbox = Outbox(tmp_path / "state" / "outbox.sqlite3")
        try:
            files = list((tmp_path / "state").glob("outbox.sqlite3*"))
            assert files and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)
            assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700
        finally:
            outbox.close()
    finally:
        os.umask(old)


def test_processes_opening_one_fresh_sqlite_file_at_once_all_migrate(tmp_path: Path) -> None:
    """The console, its fleet tracker and ingest may open a new file at the same moment: each
    step is taken under the write lock, so a step another connection applied meanwhile is
    skipped, not applied twice (which failed: duplicate column, UNIQUE schema_migrations)."""
    import threading

    for attempt in range(5):
        path = tmp_path / f"race-{attempt}.sqlite3"
        start = threading.Barrier(6)
        errors: list[BaseException] = []

        def open_and_migrate(path: Path = path, start: threading.Barrier = start,
                             errors: list[BaseException] = errors) -> None:
            db = sqlite3.connect(str(path), isolation_level=None, timeout=10)
            try:
                start.wait()
                migrate_sqlite(db)
            except BaseException as exc:
                errors.append(exc)
            finally:
                db.close()

        threads = [threading.Thread(target=open_and_migrate) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        db = sqlite3.connect(str(path))
        assert sqlite_version(db) == len(MIGRATIONS)
        db.close()


def test_two_workers_batches_in_opposite_orders_do_not_deadlock(
        pg_dsn: str, desk: tuple[ed25519.Ed25519PrivateKey, x25519.X25519PrivateKey]) -> None:
    """Two workers may hold the same records (a re-send reaching the other worker while the
    first still has it open) in different orders. Inserted as they came, two such batches each
    took a row the other then waited for: PostgreSQL aborted one as a deadlock after its
    deadlock_timeout, that batch went unreceipted and its desks re-sent it a receipt timeout
    later. Rows are inserted in record-id order, so both take them in the same order: one
    waits for the other's commit and then sees duplicates."""
    a, b = PostgresStore(pg_dsn), PostgresStore(pg_dsn)
    try:
        for round_ in range(3):
            batch = [verified(desk, 100 * round_ + n) for n in range(1, 61)]
            outcomes: dict[str, list[Added] | Exception] = {}
            start = threading.Barrier(2)
            threads = [threading.Thread(target=_add_and_commit,
                                        args=(start, outcomes, "a", a, batch)),
                       threading.Thread(target=_add_and_commit,
                                        args=(start, outcomes, "b", b, batch[::-1]))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            assert not any(isinstance(o, Exception) for o in outcomes.values()), outcomes
            got_a, got_b = outcomes["a"], outcomes["b"]
            assert isinstance(got_a, list) and isinstance(got_b, list)
            # Every record new for exactly one of them, a duplicate for the other.
            assert [*got_a, *got_b].count(Added.NEW) == 60
            assert all({x, y} == {Added.NEW, Added.DUPLICATE}
                       for x, y in zip(got_a, got_b[::-1], strict=True))
        assert a.count() == 180
    finally:
        a.close()
        b.close()


def _add_and_commit(start: threading.Barrier, outcomes: dict[str, list[Added] | Exception],
                    name: str, store: PostgresStore, vs: list[Verified]) -> None:
    """One worker's batch, begun together with the other's: its outcomes or its error."""
    start.wait()
    try:
        got = store.add_many(vs)
        store.commit()
        outcomes[name] = got
    except IngestStoreError as exc:
        outcomes[name] = exc
