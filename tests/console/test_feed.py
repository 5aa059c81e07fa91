"""The desk feed: commit order on both stores (a late commit is not skipped), the live stream
of a desk view over a real HTTP server, its audit lines, and another desk seeing nothing."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from station.console.app import create_app
from station.console.store import START
from station.testing.console import ConsoleServer
from tests.console.conftest import PASSWORD, Site, config, csrf_of


@pytest.fixture(params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "ingest.sqlite3")
    return str(request.getfixturevalue("pg_dsn"))


@pytest.mark.parametrize("target", ["postgres"], indirect=True)
def test_feed_waits_for_a_transaction_that_commits_late(site: Site) -> None:
    """PostgreSQL: worker A inserts first (smaller arrival) and commits after worker B. A
    reader polling between the two commits must not move its cursor past A's record. (SQLite
    serialises writers: there commit order is insert order.)"""
    first = site.reading("desk-a")
    cursor = site.store.feed(None, START, 10)[-1].cursor
    with psycopg.connect(site.target) as a, psycopg.connect(site.target) as b:
        def insert(conn: psycopg.Connection[tuple[object, ...]], rid: str, seq: int) -> None:
            conn.execute("INSERT INTO received (record_id, station_id, seq, wall, profile, "
                         "outcome, token, token_sha256, received_at) VALUES "
                         "(%s, 'desk-a', %s, 'w', 'reception', 'authentic', %s, %s, %s)",
                         (rid, seq, b"t" + rid.encode(), rid.encode(), time.time()))
        insert(a, "late", 100)
        insert(b, "early", 101)
        b.commit()
        seen = [r.record_id for r in site.store.feed(None, cursor, 10)]
        assert seen == []  # A is still open: B's record waits rather than be passed over
        a.commit()
    seen = [r.record_id for r in site.store.feed(None, cursor, 10)]
    assert sorted(seen) == ["early", "late"] and first not in seen


@pytest.fixture()
def server(site: Site) -> Iterator[ConsoleServer]:
    # httpx keeps Secure cookies to https: this plain-HTTP rig turns the flag off (the browser
    # tests keep it, on http://localhost).
    cfg = config(site, reading_ttl_s=60, secure_cookies=False)
    with ConsoleServer(create_app(cfg, site.store)) as s:
        yield s


def _session(server: ConsoleServer, name: str) -> httpx.Client:
    c = httpx.Client(base_url=server.url, timeout=10)
    page = c.get("/signin")
    r = c.post("/signin", data={"name": name, "password": PASSWORD,
                                "csrf": csrf_of(page.text)})
    assert r.status_code == 303 and r.headers["location"] == "/desk", r.status_code
    return c


def _listen(c: httpx.Client, out: queue.Queue[tuple[float, dict[str, object]]],
            stop: threading.Event) -> None:
    try:
        _read(c, out, stop)
    except httpx.HTTPError:
        if not stop.is_set():
            raise


def _read(c: httpx.Client, out: queue.Queue[tuple[float, dict[str, object]]],
          stop: threading.Event) -> None:
    with c.stream("GET", "/desk/events", timeout=httpx.Timeout(10, read=None)) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        kind = ""
        for line in r.iter_lines():
            if stop.is_set():
                return
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind == "reading":
                out.put((time.monotonic(), json.loads(line[6:])))


def test_live_stream_within_a_second_and_only_to_its_desk(server: ConsoleServer,
                                                           site: Site) -> None:
    site.user("lan", "clerk", "desk-a")
    site.user("minh", "clerk", "desk-b")
    early = site.reading("desk-a")  # on screen still when the view opens
    got_a: queue.Queue[tuple[float, dict[str, object]]] = queue.Queue()
    got_b: queue.Queue[tuple[float, dict[str, object]]] = queue.Queue()
    stop = threading.Event()
    for name, q in (("lan", got_a), ("minh", got_b)):
        threading.Thread(target=_listen, args=(_session(server, name), q, stop),
                         daemon=True).start()
    assert got_a.get(timeout=10)[1]["record_id"] == early
    time.sleep(0.5)  # both streams subscribed
    delays = []
    for n in range(3):
        committed = time.monotonic()
        rid = site.reading("desk-a", outcome=("genuine", "authentic", "invalid")[n])
        at, reading = got_a.get(timeout=5)
        delays.append(at - committed)
        assert reading["record_id"] == rid
        assert reading["badge"] == ("genuine", "authentic", "not_genuine")[n]
        fields = {f["name"]: f["value"] for f in reading["fields"]}  # type: ignore[attr-defined]
        assert fields["full_name"] == "Trần Thị Bình"
    assert max(delays) < 1.0, delays
    site.reading("desk-c")
    time.sleep(0.5)
    assert got_b.empty()  # minh's desk had nothing; desk-a's readings never reached him
    stop.set()
    shown = [(e.user_name, e.action) for e in site.store.audit_log()]
    assert shown.count(("lan", "shown")) == 4 and ("minh", "shown") not in shown


def test_the_photo_when_the_profile_keeps_one(site: Site) -> None:
    """A bank reading's face (JPEG) is shown as a data: URL; a JPEG 2000 face, which browsers
    do not render, is left out of the view (the API still returns it); reception has none."""
    import io

    from PIL import Image as PilImage

    from station.console.feed import present

    buf = io.BytesIO()
    PilImage.new("RGB", (24, 32), (200, 150, 120)).save(buf, "JPEG")
    fields = {"id_number": "001099000001", "full_name": "Lê Văn An",
              "date_of_birth": "01/01/1990"}
    jpeg = site.reading("desk-a", "genuine", profile="bank",
                        citizen={**fields, "face": buf.getvalue()})
    jp2 = site.reading("desk-a", "genuine", profile="bank",
                       citizen={**fields, "face": b"\x00\x00\x00\x0cjP  \r\n\x87\n" + b"x" * 40})
    plain = site.reading("desk-a")
    shown = {r.record_id: present(r, site.backend, "vi")
             for r in site.store.feed(["desk-a"], START, 10)}
    assert (shown[jpeg].photo or "").startswith("data:image/jpeg;base64,")
    assert shown[jp2].photo is None and shown[plain].photo is None
    assert [f.name for f in shown[jpeg].fields] == ["id_number", "full_name", "date_of_birth"]
    assert shown[jpeg].badge_text == "THẺ THẬT — xác thực chip"
    row = site.store.record(plain)
    assert row is not None
    assert present(row, site.backend, "en").fields[0].label == "Personal ID number"
