"""The desk view in a real headless Chromium (Debian's chromium + chromium-driver, through
selenium: tests/console/browser.py), fed by a real desk: the service on pcscd + vpcd with
virtual CCCD chips, the replay camera, Mosquitto and the reference ingest
(tests/service/desk_bed.py), the console on ingest's own SQLite file, served by uvicorn on
http://localhost.

A clerk bound to the desk sees each tap's reading within the budget with its badge and fields;
a clerk bound to another desk sees nothing; a forged card (a clone) shows "not genuine" with
no fields; the fill button hands the fields to the desk software framing the view by
postMessage. Screenshots of each state go to the test's directory (and, with
STATION_UPDATE_REFERENCE=1, to tests/console/reference/ for README)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from station.console.app import create_app
from station.console.auth import hash_password
from station.console.config import ConsoleConfig
from station.console.store import ConsoleStore
from station.service import machine as m
from station.sim import issuer
from station.sim.chip import CccdChip, ChipOptions
from station.sim.citizens import generate
from station.sim.qrimage import render
from station.sim.vpcd import VpcdLink
from station.testing.console import ConsoleServer
from station.testing.mosquitto import MosquittoBroker
from station.testing.pcscd import PcscdTestbed
from station.testing.ports import free_port
from tests.console.browser import (
    PASSWORD,
    By,
    OtherOrigin,
    WebDriver,
    WebDriverWait,
    chromium,
    screenshot,
    sign_in,
)
from tests.service.desk_bed import Bed, running, wait

BUDGET_S = 1.0
"""From ingest's commit to the reading on the clerk's screen."""

pytestmark = [pytest.mark.pcsc, pytest.mark.mqtt, pytest.mark.slow]



@pytest.fixture()
def bed(tmp_path: Path, pcscd: PcscdTestbed, module_broker: MosquittoBroker) -> Iterator[Bed]:
    # A broker of this module's own: ingest keeps a persistent shared-subscription session.
    with running(Bed(tmp_path, pcscd, module_broker, "reception",
                     profile_options="record_refusals = true\n")) as b:
        yield b


def framing(port: int, console_url: str) -> OtherOrigin:
    """The desk software: a page on another origin that frames the desk view and shows what
    the fill hand-off posted to it."""
    page = (f'<!doctype html><html><body><pre id="got"></pre>'
            f'<iframe id="desk" src="{console_url}/desk" width="1000" height="700">'
            f'</iframe><script src="/script.js"></script></body></html>').encode()
    script = (f'window.addEventListener("message", e => {{ if (e.origin === '
              f'"{console_url}" && e.data.type === "station.desk.fill") '
              f'document.getElementById("got").textContent = JSON.stringify(e.data); }});'
              ).encode()
    return OtherOrigin(page, script, port)


def _tap(bed: Bed, n: int, *, forged: bool = False) -> Any:
    citizen = generate(2200 + n)
    options = ChipOptions()
    png = bed.tmp / f"qr-{n}.png"
    Image.fromarray(render(citizen.qr_text(), seed=n)).save(png)
    bed.phases.clear()
    bed.camera.show(png, frames=10)
    assert wait(lambda: bed.session.phase is m.Phase.WAITING), bed.session
    image = issuer.issue(citizen, options)
    if forged:
        image = issuer.clone(image, options)
    link = VpcdLink(CccdChip(image, options), bed.pcscd.slot_port(0))
    link.insert()
    try:
        assert wait(lambda: any(s.phase in (m.Phase.SUCCESS, m.Phase.FAILED)
                                 for s in bed.phases), 20), bed.session
    finally:
        link.remove()
    assert wait(lambda: bed.session.phase is m.Phase.IDLE, 10)
    return citizen


def _card(driver: WebDriver, record_id: str, timeout: float = 10.0) -> Any:
    return WebDriverWait(driver, timeout, poll_frequency=0.02).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, f'article[data-record="{record_id}"]'))[0]



def test_desk_view_in_chromium(bed: Bed, tmp_path: Path) -> None:
    backend_key = bed.ingest.verifier.backend_key
    assert backend_key is not None
    store = ConsoleStore(tmp_path / "ingest.sqlite3")
    store.add_user("lan", "clerk", hash_password(PASSWORD))
    store.bind("lan", bed.station)
    store.add_user("minh", "clerk", hash_password(PASSWORD))
    store.bind("minh", "desk-elsewhere")
    framing_port = free_port()
    server = ConsoleServer(create_app(ConsoleConfig(
        tmp_path / "ingest.sqlite3", os.urandom(32), backend_key, reading_ttl_s=300,
        poll_interval_s=0.1, fill_origins=(f"http://localhost:{framing_port}",)), store))
    server.start()
    framer = framing(framing_port, server.url)
    clerk = other = None
    try:
        clerk, other = chromium(), chromium()
        sign_in(clerk, server.url, "lan")
        sign_in(other, server.url, "minh")
        screenshot(clerk, tmp_path, "desk-waiting")

        citizen = _tap(bed, 1)
        assert wait(lambda: len(bed.received) == 1, 15)
        rid = bed.received[0].record.record_id
        card = _card(clerk, rid)
        assert card.get_attribute("data-badge") == "genuine"
        fields = {f.get_attribute("data-field"): f.find_element(By.TAG_NAME, "dd").text
                  for f in card.find_elements(By.CSS_SELECTOR, ".field")}
        assert fields["id_number"] == citizen.id_number
        assert fields["full_name"] == citizen.full_name
        assert list(fields) == list(bed.desk.profile.fields)  # the profile's order
        copy = card.find_elements(By.CSS_SELECTOR, ".field button.copy")
        assert len(copy) == len(fields) and {b.text for b in copy} == {"Sao chép"}
        assert "THẺ THẬT" in card.find_element(By.CSS_SELECTOR, ".badge").text
        # Within the budget of ingest's commit: the browser stamps each card's arrival.
        received_at = store.record(rid).received_at  # type: ignore[union-attr]
        shown_ms = float(card.get_attribute("data-shown-at") or 0)
        latency = shown_ms / 1000 - received_at
        assert 0 <= latency < BUDGET_S, latency
        screenshot(clerk, tmp_path, "desk-genuine")

        forged = _tap(bed, 2, forged=True)
        failed = next(s for s in bed.phases if s.phase is m.Phase.FAILED)
        assert failed.failure is m.Failure.NOT_GENUINE
        assert wait(lambda: len(bed.received) == 2, 15)
        refused = bed.received[1]
        assert refused.record.outcome == "invalid" and refused.citizen == {}
        card = _card(clerk, refused.record.record_id)
        assert card.get_attribute("data-badge") == "not_genuine"
        assert "KHÔNG HỢP LỆ" in card.find_element(By.CSS_SELECTOR, ".badge").text
        assert card.find_elements(By.CSS_SELECTOR, ".field") == []
        assert "không chứng minh được là thẻ thật" in card.text
        assert forged.full_name not in clerk.page_source
        screenshot(clerk, tmp_path, "desk-not-genuine")

        # The clerk of another desk saw nothing, live or on reload.
        assert other.find_elements(By.CSS_SELECTOR, "article.reading") == []
        other.refresh()
        time.sleep(1.0)
        assert other.find_elements(By.CSS_SELECTOR, "article.reading") == []
        assert citizen.full_name not in other.page_source
        screenshot(other, tmp_path, "desk-other-clerk")

        # Close: the card leaves and stays gone on reload.
        card.find_element(By.CSS_SELECTOR, "button.close").click()
        assert not clerk.find_elements(By.CSS_SELECTOR,
                                       f'article[data-record="{refused.record.record_id}"]')
        clerk.refresh()
        _card(clerk, rid)
        assert not clerk.find_elements(By.CSS_SELECTOR,
                                       f'article[data-record="{refused.record.record_id}"]')

        # Fill: the desk software framing the view receives the fields by postMessage.
        clerk.get(f"{framer.origin}/")
        clerk.switch_to.frame(clerk.find_element(By.ID, "desk"))
        _card(clerk, rid).find_element(By.CSS_SELECTOR, "button.fill").click()
        clerk.switch_to.default_content()
        got = WebDriverWait(clerk, 5).until(
            lambda d: d.find_element(By.ID, "got").text)
        assert f'"record_id":"{rid}"' in got and citizen.id_number in got
        csp = [e["message"] for d in (clerk, other) for e in d.get_log("browser")
               if "Content Security Policy" in e["message"]]
        assert csp == []
        actions = [(e.user_name, e.action, e.record_id) for e in store.audit_log()]
        assert ("lan", "shown", rid) in actions
        assert not any(who == "minh" and what == "shown" for who, what, _ in actions)
    finally:
        for d in (clerk, other):
            if d is not None:
                d.quit()
        framer.close()
        server.stop()
        store.close()
