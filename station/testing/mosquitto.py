"""A real Mosquitto broker on a free loopback port, with a generated configuration.

Plain (anonymous) or TLS with client certificates mapped to usernames and an ACL that lets each
station write only its own topics under ``stations/<its id>/`` and read its commands and
receipts, which only the backend (``ingest``) writes. ``max_queued_messages`` caps what the
broker queues per client (Mosquitto's default 1000; beyond it messages are dropped silently,
after a PUBACK 0x00 to the publisher): tests of the receipt path set it small.
``set_tcp_nodelay true``: stock Mosquitto's Nagle stalls a windowed publisher ~40 ms per
refill. :meth:`stop` / :meth:`start` again keeps the port, for broker-outage tests.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from provisioning.mosquitto import acl as station_acl
from station.pipeline.mqtt import BrokerSettings
from station.testing.ports import free_port
from station.testing.tls import CertFiles, TestCa


class BrokerUnavailable(RuntimeError):
    pass


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()),
        None,
    )


class MosquittoBroker:
    def __init__(self, *, tls: bool = False, acl: str | None = None,
                 receive_maximum: int | None = None, max_queued_messages: int | None = None,
                 persistence: bool = False) -> None:
        """``receive_maximum``: Mosquitto's ``max_inflight_messages``, which 2.0 announces as
        ReceiveMaximum in CONNACK (default 20; 0 = no limit, the property is then omitted).
        ``max_queued_messages``: per client, beyond the in-flight ones (default 1000).
        ``persistence``: keep sessions and queued messages across :meth:`stop`/:meth:`start`."""
        self.tls = tls
        self.acl = station_acl() if acl is None else acl
        """By default the ACL that provisioning generates for a real broker: the tests check
        the grants stations get in the field."""
        self.receive_maximum = receive_maximum
        self.max_queued_messages = max_queued_messages
        self.persistence = persistence
        self.port = 0
        self.dir = Path(tempfile.mkdtemp(prefix="station-mosquitto-"))
        self.ca: TestCa | None = TestCa(self.dir / "pki") if tls else None
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def client_cert(self, cn: str) -> CertFiles:
        if self.ca is None:
            raise ValueError("plain broker has no PKI")
        return self.ca.issue(cn)

    def settings(self, cn: str | None = None) -> BrokerSettings:
        """Connection settings for a client; with TLS, ``cn`` names its certificate."""
        if not self.tls:
            return BrokerSettings("127.0.0.1", self.port)
        assert self.ca is not None
        if cn is None:
            raise ValueError("a TLS client needs a certificate CN")
        files = self.client_cert(cn)
        return BrokerSettings("127.0.0.1", self.port, True, str(self.ca.ca_file),
                              str(files.cert), str(files.key))

    def _config(self) -> str:
        lines = [
            # Started as root, Mosquitto drops to user "mosquitto", which cannot read the
            # certificates in our private temp directory: stay the user that started it.
            *(["user root"] if os.geteuid() == 0 else []),
            "per_listener_settings false",
            *(["persistence true", f"persistence_location {self.dir}/"]
              if self.persistence else ["persistence false"]),
            "set_tcp_nodelay true",
            f"log_dest file {self.dir}/mosquitto.log",
            "log_type error", "log_type warning", "log_type notice",
            *([] if self.receive_maximum is None
              else [f"max_inflight_messages {self.receive_maximum}"]),
            *([] if self.max_queued_messages is None
              else [f"max_queued_messages {self.max_queued_messages}"]),
            f"listener {self.port} 127.0.0.1",
        ]
        if self.tls:
            assert self.ca is not None
            server = self.ca.issue("localhost", server=True)
            (self.dir / "acl").write_text(self.acl)
            lines += [
                f"cafile {self.ca.ca_file}", f"certfile {server.cert}", f"keyfile {server.key}",
                "require_certificate true", "use_identity_as_username true",
                "allow_anonymous false", f"acl_file {self.dir}/acl",
            ]
        else:
            lines.append("allow_anonymous true")
        return "\n".join(lines) + "\n"

    def start(self, timeout_s: float = 10.0) -> MosquittoBroker:
        binary = mosquitto_binary()
        if binary is None:
            raise BrokerUnavailable("mosquitto is not installed")
        if not self.port:
            self.port = free_port()
            (self.dir / "mosquitto.conf").write_text(self._config())
        self.proc = subprocess.Popen(
            [binary, "-c", str(self.dir / "mosquitto.conf")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                raise BrokerUnavailable(f"mosquitto exited ({self.proc.returncode}): "
                                        + self.log_tail())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise BrokerUnavailable("mosquitto did not listen in time") from None
                time.sleep(0.02)
        return self

    def log_tail(self, n: int = 2000) -> str:
        try:
            return (self.dir / "mosquitto.log").read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> MosquittoBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
