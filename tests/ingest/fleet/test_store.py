"""The fleet's state from what stations publish, message by message, on both backend stores
(the embedded SQLite file and a real PostgreSQL): parsing, verdicts, filters, events, the
registry's certificate and revocation state. The broker tests are in test_tracker.py."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioning.registry import RegistryEntry
from station.errors import CommandRefused
from station.ingest.fleet import (
    CommandSent,
    Filter,
    FleetPolicy,
    FleetStore,
    FleetTracker,
    Verdict,
    open_fleet_store,
)
from station.ingest.fleet.model import parse_health
from station.ingest.fleet.store import EVENTS_KEPT
from station.ingest.fleet.tracker import check_args
from station.ingest.store import MIGRATIONS, SqliteStore
from station.pipeline.mqtt import BrokerSettings

T0 = 1_800_000_000.0


def health(station: str = "desk-1", **over: object) -> bytes:
    doc: dict[str, object] = {
        "station": station, "uptime_s": 60, "pending": 0, "in_flight": 0, "delivered": 0,
        "oldest_pending_age_s": None, "expired": 0, "last_seq": 3, "outbox_full": False,
        "acked": 3, "refused": 0, "alarms": [], "version": "0.1.0", "interval_s": 10}
    doc.update(over)
    return json.dumps(doc).encode()


def status(state: str, station: str = "desk-1") -> bytes:
    return json.dumps({"state": state, "station": station, "time": T0}).encode()


@pytest.fixture(params=["sqlite", "postgres"])
def store(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[FleetStore]:
    target = (tmp_path / "ingest.sqlite3" if request.param == "sqlite"
              else request.getfixturevalue("pg_dsn"))
    s = open_fleet_store(target)
    yield s
    s.close()


@pytest.fixture()
def tracker(store: FleetStore) -> FleetTracker:
    """Not connected: ``handle`` is what paho's callback calls."""
    return FleetTracker(store, BrokerSettings(), policy=FleetPolicy(stale_after_intervals=3))


def entry(not_after: str = "2030-01-01T00:00:00+00:00", revoked: str | None = None
          ) -> RegistryEntry:
    return RegistryEntry("pem", "kid", "5c", not_after, revoked)


def test_status_heartbeat_and_the_verdicts(tracker: FleetTracker, store: FleetStore) -> None:
    assert tracker.handle("stations/desk-1/status", status("online"), at=T0)
    assert tracker.handle("stations/desk-1/health", health(pending=2), at=T0 + 1)
    row = store.station("desk-1")
    assert row is not None and row.state == "online" and row.heartbeat is not None
    assert row.heartbeat.pending == 2 and row.heartbeat.version == "0.1.0"
    policy = tracker.policy
    assert row.verdict(T0 + 20, policy) is Verdict.ONLINE
    # Three of its 10 s intervals without a heartbeat, no Will: silent, though "online".
    assert row.verdict(T0 + 1 + 31, policy) is Verdict.SILENT
    assert tracker.sweep(now=T0 + 40) == ["desk-1"]
    assert tracker.sweep(now=T0 + 41) == []  # noted once
    assert tracker.handle("stations/desk-1/health", health(), at=T0 + 42)
    assert tracker.sweep(now=T0 + 43) == []
    assert tracker.handle("stations/desk-1/status", status("offline"), at=T0 + 50)
    row = store.station("desk-1")
    assert row is not None and row.verdict(T0 + 51, policy) is Verdict.OFFLINE
    kinds = [(e.kind, e.detail) for e in reversed(store.events("desk-1"))]
    assert kinds[0] == ("status", "online")
    assert kinds[1][0] == "silent" and kinds[1][1].startswith("no heartbeat for")
    assert kinds[-1] == ("status", "offline")


def test_a_retained_copy_of_the_known_state_keeps_its_time(tracker: FleetTracker,
                                                          store: FleetStore) -> None:
    tracker.handle("stations/desk-1/status", status("online"), at=T0)
    tracker.handle("stations/desk-1/status", status("online"), retained=True, at=T0 + 500)
    row = store.station("desk-1")
    assert row is not None and row.state_at == T0
    # A retained "offline" the tracker missed while it was away is news.
    tracker.handle("stations/desk-1/status", status("offline"), retained=True, at=T0 + 600)
    row = store.station("desk-1")
    assert row is not None and row.state == "offline" and row.state_at == T0 + 600


def test_alarms_and_versions_become_events(tracker: FleetTracker, store: FleetStore) -> None:
    tracker.handle("stations/desk-1/health", health(), at=T0)
    tracker.handle("stations/desk-1/health", health(alarms=["outbox full"], outbox_full=True),
                   at=T0 + 1)
    tracker.handle("stations/desk-1/health", health(version="0.2.0"), at=T0 + 2)
    events = [(e.kind, e.detail) for e in reversed(store.events("desk-1"))]
    assert events == [("alarm", "outbox full"), ("alarm-cleared", "outbox full"),
                      ("version", "0.1.0 → 0.2.0")]


def test_filters(tracker: FleetTracker, store: FleetStore) -> None:
    store.sync_registry({"ok": entry(), "late": entry("2026-01-20T00:00:00+00:00"),
                         "gone": entry(revoked="2026-01-02T00:00:00+00:00"),
                         "busy": entry(), "loud": entry(), "dead": entry()})
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp()
    for sid in ("ok", "late", "gone", "busy", "loud", "dead"):
        tracker.handle(f"stations/{sid}/status", status("online", sid), at=now)
    tracker.handle("stations/ok/health", health("ok"), at=now)
    tracker.handle("stations/busy/health", health("busy", pending=500), at=now)
    tracker.handle("stations/loud/health", health("loud", alarms=["broker refused a record"]),
                   at=now)
    tracker.handle("stations/dead/status", status("offline", "dead"), at=now)
    rows = {r.station_id: r for r in store.stations()}
    policy = FleetPolicy()

    def matching(f: Filter) -> set[str]:
        return {sid for sid, r in rows.items() if f.matches(r, now + 1, policy)}

    assert matching(Filter.OFFLINE) == {"dead"}
    assert matching(Filter.BACKLOGGED) == {"busy"}
    assert matching(Filter.ALARMED) == {"loud"}
    assert matching(Filter.CERT_EXPIRING) == {"late"}
    assert matching(Filter.REVOKED) == {"gone"}
    assert rows["late"].cert_days_left(now) == pytest.approx(19, abs=0.01)


def test_registry_sync_marks_revocations_and_departures(store: FleetStore) -> None:
    assert store.sync_registry({"a": entry(), "b": entry()}) == 2
    assert store.sync_registry({"a": entry(), "b": entry()}) == 0
    assert store.sync_registry({"a": entry(revoked="2026-12-03T00:00:00+00:00")}) == 2
    a, b = store.station("a"), store.station("b")
    assert a is not None and a.revoked and a.registered
    assert b is not None and not b.registered
    store.sync_registry({"a": entry()})
    assert [e.kind for e in store.events("a")] == ["unrevoked", "revoked"]


def test_malformed_messages_are_dropped_and_counted(tracker: FleetTracker,
                                                    store: FleetStore) -> None:
    bad = [("stations/desk-1/status", b"not json"),
           ("stations/desk-1/status", b'{"state": "sleeping"}'),
           ("stations/desk-1/status", status("online", station="desk-2")),
           ("stations/desk-1/health", health(pending=-1)),
           ("stations/desk-1/health", health(alarms="x")),
           ("stations/desk-1/health", b"{" + b" " * 20000 + b"}"),
           ("stations/desk-1/events/command", b'{"id": "x", "cmd": "ping"}'),
           ("stations/../status", status("online")),
           ("elsewhere/desk-1/status", status("online"))]
    for topic, payload in bad:
        assert not tracker.handle(topic, payload, at=T0), topic
    assert tracker.malformed == len(bad)
    assert store.stations() == []


def test_free_text_is_cut_and_unknown_fields_dropped() -> None:
    hb = parse_health("desk-1", health(alarms=["x" * 300] * 40, secret="kept?"))
    assert len(hb.alarms) == 16 and all(len(a) == 200 for a in hb.alarms)
    assert "secret" not in repr(hb)


def test_events_are_kept_per_station_up_to_a_bound(tracker: FleetTracker,
                                                   store: FleetStore) -> None:
    for n in range(EVENTS_KEPT + 30):
        store.record_event("desk-1", "event", f"e{n}", at=T0 + n)
    store.record_event("desk-2", "event", "other", at=T0)
    kept = store.events("desk-1", limit=1000)
    assert len(kept) == EVENTS_KEPT and kept[0].detail == f"e{EVENTS_KEPT + 29}"
    assert len(store.events("desk-2")) == 1


def test_a_reply_completes_only_its_own_stations_command(tracker: FleetTracker,
                                                         store: FleetStore) -> None:
    store.command_sent(CommandSent("c1", "desk-1", "ping", "op", T0))
    reply = json.dumps({"id": "c1", "cmd": "ping", "ok": True, "message": "pong"}).encode()
    # desk-2 answering desk-1's command id: an event of desk-2's, not an answer.
    assert tracker.handle("stations/desk-2/events/command", reply, at=T0 + 1)
    c = store.command("c1")
    assert c is not None and c.answered_at is None
    assert tracker.handle("stations/desk-1/events/command", reply, at=T0 + 2)
    c = store.command("c1")
    assert c is not None and c.ok is True and c.message == "pong" and c.answered_at == T0 + 2
    assert store.commands("desk-1")[0] == c


def test_commands_are_refused_before_they_leave(tracker: FleetTracker,
                                                store: FleetStore) -> None:
    store.sync_registry({"desk-1": entry(), "desk-r": entry(revoked="2026-12-01T00:00:00")})
    with pytest.raises(CommandRefused, match="unknown command"):
        tracker.send_command("desk-1", "format_disk", by="op")
    with pytest.raises(CommandRefused, match="not a registered"):
        tracker.send_command("desk-9", "ping", by="op")
    with pytest.raises(CommandRefused, match="revoked"):
        tracker.send_command("desk-r", "ping", by="op")
    with pytest.raises(CommandRefused, match="not connected"):
        tracker.send_command("desk-1", "ping", by="op")
    with pytest.raises(CommandRefused, match="short text"):
        check_args("booking", {"room": "x" * 101})
    with pytest.raises(CommandRefused, match="short text"):
        check_args("booking", {"room": ["203"]})
    assert store.commands("desk-1") == []


def test_the_fleet_tables_join_ingests_migrations(tmp_path: Path) -> None:
    """The fleet store and ingest open the same file, either one first."""
    fleet = open_fleet_store(tmp_path / "a.sqlite3")
    ingest = SqliteStore(tmp_path / "a.sqlite3")
    assert ingest.version() == len(MIGRATIONS)
    ingest.close()
    fleet.close()
    ingest = SqliteStore(tmp_path / "b.sqlite3")
    fleet = open_fleet_store(tmp_path / "b.sqlite3")
    fleet.record_event("desk-1", "event", "x", at=time.time())
    assert len(fleet.events("desk-1")) == 1
    ingest.close()
    fleet.close()
