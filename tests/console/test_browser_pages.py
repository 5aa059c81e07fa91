"""The console's pages in headless Chromium without a desk: a reading leaves the desk view
after its time; a form forged on another origin is refused though the browser sends the
cookies; the Content-Security-Policy leaves the console's own pages working (no violation);
copy and fill put the fields on the clipboard."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from station.console.app import create_app
from station.testing.console import ConsoleServer
from tests.console.browser import OtherOrigin, chromium, sign_in
from tests.console.conftest import Site, config


@pytest.fixture()
def driver() -> Iterator[WebDriver]:
    d = chromium()
    yield d
    d.quit()


def _violations(driver: WebDriver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser")
            if "Content Security Policy" in e["message"]]


def test_a_reading_leaves_after_its_time(site: Site, driver: WebDriver) -> None:
    site.user("lan", "clerk", "desk-a")
    with ConsoleServer(create_app(config(site, reading_ttl_s=2.0), site.store)) as server:
        sign_in(driver, server.url, "lan")
        rid = site.reading("desk-a")
        card = WebDriverWait(driver, 5, 0.05).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, f'article[data-record="{rid}"]'))
        assert card and not driver.find_element(By.ID, "waiting").is_displayed()
        t0 = time.monotonic()
        WebDriverWait(driver, 5, 0.05).until(
            lambda d: not d.find_elements(By.CSS_SELECTOR, f'article[data-record="{rid}"]'))
        assert time.monotonic() - t0 < 3.0
        assert driver.find_element(By.ID, "waiting").is_displayed()
        driver.refresh()  # and it is not brought back: its time is over
        time.sleep(0.5)
        assert not driver.find_elements(By.CSS_SELECTOR, "article.reading")
        assert _violations(driver) == []


def forger(console_url: str) -> OtherOrigin:
    """Another origin's page that posts a form to the console on load, with a guessed CSRF
    token (it cannot read the real one)."""
    page = (f'<!doctype html><form id="f" method="post" action="{console_url}/admin/users">'
            '<input name="name" value="mallory"><input name="role" value="admin">'
            '<input name="password" value="mallory-password">'
            f'<input name="csrf" value="{"0" * 64}"></form>'
            '<script src="/script.js"></script>').encode()
    return OtherOrigin(page, b'document.getElementById("f").submit();')


def test_a_form_forged_on_another_origin_is_refused(site: Site, driver: WebDriver) -> None:
    site.user("root", "admin")
    with ConsoleServer(create_app(config(site), site.store)) as server:
        sign_in(driver, server.url, "root", lands="/admin", live=False)
        assert _violations(driver) == []
        page = forger(server.url)
        try:
            driver.get(f"{page.origin}/")
            WebDriverWait(driver, 10).until(lambda d: "/admin/users" in d.current_url)
            assert "CSRF" in driver.page_source
        finally:
            page.close()
        assert site.store.user("mallory") is None
        # A clerk's page stays closed to the admin, in the browser too.
        driver.get(f"{server.url}/desk")
        assert "not allowed for this role" in driver.page_source


def _clipboard(driver: WebDriver) -> str:
    text: str = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "navigator.clipboard.readText().then(done, e => done('error: ' + e.name));")
    return text


def test_copy_and_fill_put_the_fields_on_the_clipboard(site: Site, driver: WebDriver) -> None:
    # The clerk's other software takes the fields by paste: a field's copy button puts its
    # value there, fill every field as "label<TAB>value" lines.
    site.user("lan", "clerk", "desk-a")
    with ConsoleServer(create_app(config(site), site.store)) as server:
        driver.execute_cdp_cmd("Browser.grantPermissions", {
            "origin": server.url,
            "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
        sign_in(driver, server.url, "lan")
        rid = site.reading("desk-a")
        card = WebDriverWait(driver, 5, 0.05).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, f'article[data-record="{rid}"]'))[0]
        name = card.find_element(By.CSS_SELECTOR, 'div.field[data-field="full_name"]')
        name.find_element(By.CSS_SELECTOR, "button.copy").click()
        WebDriverWait(driver, 5, 0.05).until(lambda d: _clipboard(d) == "Trần Thị Bình")
        card.find_element(By.CSS_SELECTOR, "button.fill").click()
        WebDriverWait(driver, 5, 0.05).until(lambda d: "\t" in _clipboard(d))
        lines = _clipboard(driver).split("\n")
        labels = [e.text for e in card.find_elements(By.CSS_SELECTOR, "div.field dt")]
        values = [e.text for e in card.find_elements(By.CSS_SELECTOR, "div.field dd")]
        assert lines == [f"{k}\t{v}" for k, v in zip(labels, values, strict=True)]
        assert "Trần Thị Bình" in values and len(lines) == 4
        assert _violations(driver) == []
