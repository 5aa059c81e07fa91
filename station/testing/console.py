"""The console served by uvicorn on a free loopback port in a thread of this process, for the
demo and the browser tests (production runs ``station console serve``)."""

from __future__ import annotations

import threading
import time
from types import TracebackType

import uvicorn
from fastapi import FastAPI

from station.testing.ports import free_port
from station.testing.wait import wait_until


class ConsoleServer:
    def __init__(self, app: FastAPI, host: str = "localhost") -> None:
        """``localhost``, not 127.0.0.1: browsers treat http://localhost as a secure context,
        so the console's Secure cookies work there without TLS."""
        self.host = host
        self.app = app
        self.port = free_port()
        self._server = uvicorn.Server(uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False,
            timeout_graceful_shutdown=3))
        self._thread = threading.Thread(target=self._server.run, name="console-server",
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self._thread.start()
        if not wait_until(lambda: self._server.started, 15):
            raise RuntimeError("the console did not start")

    def stop(self) -> None:
        hub = getattr(self.app.state, "console", None)
        if hub is not None:
            hub.hub.closing = True  # open desk views end their streams first
            time.sleep(0.6)
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> ConsoleServer:
        self.start()
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
