"""`make demo`'s console: the demo prints the desk view's URL and a demo clerk's credentials,
and the demo's taps reach that clerk's desk view (its server-sent events)."""

from __future__ import annotations

import json
import re
import threading

import httpx
import pytest

from station import demo
from tests.console.conftest import csrf_of

pytestmark = [pytest.mark.pcsc, pytest.mark.mqtt, pytest.mark.slow]


def test_demo_taps_appear_on_the_demo_clerks_desk_view() -> None:
    lines: list[str] = []
    result: list[demo.DemoResult] = []
    runner = threading.Thread(target=lambda: result.append(
        demo.run(cards=2, say=lines.append, hold_s=25)), daemon=True)
    runner.start()
    try:
        from station.testing.wait import wait_until

        assert wait_until(lambda: any("web console on" in ln for ln in lines), 60), lines
        m = re.search(r"web console on (http://localhost:\d+)/ .* sign in as (\S+) / (\S+)",
                      next(ln for ln in lines if "web console on" in ln))
        assert m, lines
        url, name, password = m.groups()
        # Wait for the taps to end (the console is then held open for 25 s).
        assert wait_until(lambda: any("stays up" in ln for ln in lines), 90), lines
        signed = re.findall(r"card \d: signed: record (\S+)", "\n".join(lines))
        assert len(signed) == 2
        # The cookies are Secure: a browser sends them to http://localhost, httpx only over
        # https, so this client hands them back by hand.
        with httpx.Client(base_url=url, timeout=10) as c:
            page = c.get("/signin")
            pre = page.cookies["station_signin"]
            r = c.post("/signin", data={"name": name, "password": password,
                                        "csrf": csrf_of(page.text)},
                       headers={"Cookie": f"station_signin={pre}"})
            assert r.status_code == 303 and r.headers["location"] == "/desk"
            session = r.cookies["station_session"]
            got: list[dict[str, object]] = []
            with c.stream("GET", "/desk/events", headers={"Cookie": f"station_session={session}"},
                          timeout=httpx.Timeout(10, read=10)) as events:
                for line in events.iter_lines():
                    if line.startswith("data: "):
                        got.append(json.loads(line[6:]))
                    if len(got) == 2:
                        break
        assert [g["record_id"] for g in got] == signed
        assert {g["badge"] for g in got} == {"genuine"}
        assert all(len(g["fields"]) == 5 for g in got)  # type: ignore[arg-type]
        assert password not in "".join(ln for ln in lines if "web console on" not in ln)
    finally:
        runner.join(timeout=60)
    assert result and result[0].ok
