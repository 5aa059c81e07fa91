"""Each ingest worker's health and lag over HTTP: ``GET /health`` → JSON.

An HTTP endpoint rather than an MQTT status topic: it answers while the broker is down (when it
matters most), a load balancer or systemd/Kubernetes probe reads it without an MQTT identity,
and it needs no grant in the broker's ACL. 200 while connected to the broker, 503 otherwise.
Counters only (records, batches, seconds): never a record's content.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol


class Reports(Protocol):
    def health(self) -> dict[str, Any]: ...


class HealthServer:
    def __init__(self, worker: Reports, host: str = "127.0.0.1", port: int = 0) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/health":
                    self.send_error(404)
                    return
                doc = worker.health()
                body = json.dumps(doc).encode()
                self.send_response(200 if doc.get("connected") else 503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # probes every few seconds would flood the journal

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="ingest-health",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
