"""`make demo`'s console: the demo prints the desk view's URL and a demo clerk's credentials,
and the demo's taps reach that clerk's desk view (its server-sent events), the forged card as
not genuine with no field. The demo runs as
its own process (`station demo`), as `make demo` runs it: it points its process's PC/SC
clients at its own pcscd."""

from __future__ import annotations

import json
import queue
import re
import subprocess
import sys
import threading

import httpx
import pytest

from tests.console.conftest import csrf_of

pytestmark = [pytest.mark.pcsc, pytest.mark.mqtt, pytest.mark.slow]


def test_demo_taps_appear_on_the_demo_clerks_desk_view() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "station", "demo", "--cards", "2",
                             "--console-hold", "60"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    out: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for ln in proc.stdout:
            lines.put(ln.rstrip("\n"))

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()

    def until(word: str) -> str:
        while True:
            ln = lines.get(timeout=90)
            out.append(ln)
            if word in ln:
                return ln

    try:
        m = re.search(r"web console on (http://localhost:\d+)/ .* sign in as (\S+) / (\S+)",
                      until("web console on"))
        assert m, out
        url, name, password = m.groups()
        until("stays up")  # the taps are over; the console is held open
        signed = re.findall(r"card \d: signed: record (\S+)", "\n".join(out))
        assert len(signed) == 2, out
        refused = re.findall(r"\(forged: a clone\): signed: record (\S+)", "\n".join(out))
        assert len(refused) == 1, out
        # The cookies are Secure: a browser sends them to http://localhost, httpx only over
        # https, so this client hands them back by hand.
        with httpx.Client(base_url=url, timeout=30) as c:
            page = c.get("/signin")
            pre = page.cookies["station_signin"]
            r = c.post("/signin", data={"name": name, "password": password,
                                        "csrf": csrf_of(page.text)},
                       headers={"Cookie": f"station_signin={pre}"})
            assert r.status_code == 303 and r.headers["location"] == "/desk"
            session = r.cookies["station_session"]
            got: list[dict[str, object]] = []
            with c.stream("GET", "/desk/events", headers={"Cookie": f"station_session={session}"},
                          timeout=httpx.Timeout(30, read=30)) as events:
                for line in events.iter_lines():
                    if line.startswith("data: "):
                        got.append(json.loads(line[6:]))
                    if len(got) == 3:
                        break
        assert [g["record_id"] for g in got] == signed + refused
        assert [g["badge"] for g in got] == ["genuine", "genuine", "not_genuine"]
        assert [len(g["fields"]) for g in got] == [5, 5, 0]  # type: ignore[arg-type]
        assert password not in "".join(ln for ln in out if "web console on" not in ln)
    finally:
        proc.send_signal(2)  # Ctrl-C ends the hold; the demo then stops what it started
        proc.wait(timeout=60)
        reader.join(timeout=10)  # the pump thread alone reads stdout
        assert proc.stderr is not None
        err = proc.stderr.read()
    while not lines.empty():
        out.append(lines.get())
    assert proc.returncode == 0, err
    assert any("all as expected" in ln for ln in out) and "Traceback" not in err
