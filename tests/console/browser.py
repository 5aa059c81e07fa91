"""The console's browser-test harness: Debian's headless Chromium driven by selenium
(chromium + chromium-driver from scripts/bootstrap; no browser download at run time), signing
in through the real sign-in form, and screenshots that also refresh tests/console/reference/
(shown in README) when STATION_UPDATE_REFERENCE=1."""

from __future__ import annotations

import http.server
import os
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.conftest import IN_CI

selenium = pytest.importorskip("selenium")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
DRIVER = Path("/usr/bin/chromedriver")
REFERENCE = Path(__file__).parent / "reference"
PASSWORD = "correct horse battery"

__all__ = ["PASSWORD", "REFERENCE", "By", "OtherOrigin", "WebDriver", "WebDriverWait",
           "chromium", "screenshot", "sign_in"]


def chromium(*, width: int = 1100, height: int = 900) -> WebDriver:
    if not (CHROMIUM.exists() and DRIVER.exists()):
        if IN_CI:
            pytest.fail("CI must provide chromium and chromium-driver")
        pytest.skip("Debian's chromium and chromium-driver are not installed")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}", "--lang=vi", "--no-first-run",
                "--disable-background-networking"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # CSP violations
    return webdriver.Chrome(service=Service(str(DRIVER)), options=options)


def sign_in(driver: WebDriver, url: str, name: str, lands: str = "/desk", *,
            password: str = PASSWORD, live: bool = True) -> None:
    """Through the sign-in form; waits for the role's home page (``lands``: "/desk",
    "/stations") and, with ``live``, for its script to be connected (``data-live`` on the
    body: the desk's event stream, the station list's first poll)."""
    driver.get(f"{url}/signin")
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "submit").click()
    WebDriverWait(driver, 10).until(lambda d: d.current_url.endswith(lands))
    if live:
        WebDriverWait(driver, 10).until(
            lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-live") == "1")


def screenshot(driver: WebDriver, tmp: Path, name: str) -> Path:
    path = tmp / f"{name}.png"
    driver.save_screenshot(str(path))
    with Image.open(path) as img:
        colours = img.convert("L").getcolors(256) or []
        assert img.size[0] >= 800 and len(colours) > 20  # a page, not a blank
    if os.environ.get("STATION_UPDATE_REFERENCE") == "1":
        REFERENCE.mkdir(exist_ok=True)
        shutil.copy(path, REFERENCE / path.name)
    return path


class OtherOrigin:
    """A page on another origin (another loopback port): ``page`` at every path but
    ``/script.js``, which serves ``script`` (the console's CSP does not apply there, but a
    script file keeps the pages alike)."""

    def __init__(self, page: bytes, script: bytes, port: int | None = None) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body, kind = (script, "text/javascript") if self.path == "/script.js" \
                    else (page, "text/html")
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port or 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def origin(self) -> str:
        return f"http://localhost:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
