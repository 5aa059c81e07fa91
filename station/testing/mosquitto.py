"""A real Mosquitto broker on a free loopback port, with a generated configuration.

Plain (anonymous), or TLS with the listener and dynamic-security access list that
``provisioning`` generates for a real broker (:mod:`provisioning.mosquitto`): certificate CN =
username = client id, each station writes only its own topics under ``stations/<its id>/`` and
subscribes only to its commands and receipts, which only backend identities (``ingest``,
``ingest-2``…) write; ``operator``… identities get the fleet role (status, health, events;
commands). A client certificate issued after the broker started is added to the
running broker over the plugin's ``$CONTROL`` topic, as a fleet tool would.
``max_queued_messages`` caps what the broker queues per client (the generated listener's
100 000 with TLS, Mosquitto's default 1000 plain; beyond it messages are dropped silently,
after a PUBACK 0x00 to the publisher): tests of the receipt path set it small.
``set_tcp_nodelay true``: stock Mosquitto's Nagle stalls a windowed publisher ~40 ms per
refill. :meth:`stop` / :meth:`start` again keeps the port, for broker-outage tests.

:class:`ProvisionedBroker` runs what ``python -m provisioning … mosquitto --out DIR`` wrote
(its listener snippet, access list and certificates, issued by the operator CA) unchanged, as a
deployment would: the fleet benchmark's broker. Either broker is started with its soft
file-descriptor limit raised to the hard one: each connection is a descriptor, and a shell's
1024 would refuse a fleet of desks.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from provisioning import mosquitto as generated
from station.pipeline.mqtt import BrokerSettings, make_client
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
    ADMIN = "dynsec-admin"

    def __init__(self, *, tls: bool = False,
                 receive_maximum: int | None = None, max_queued_messages: int | None = None,
                 persistence: bool = False) -> None:
        """``receive_maximum``: Mosquitto's ``max_inflight_messages``, which 2.0 announces as
        ReceiveMaximum in CONNACK (default 20; 0 = no limit, the property is then omitted).
        ``max_queued_messages``: per client, beyond the in-flight ones (default 1000).
        ``persistence``: keep sessions and queued messages across :meth:`stop`/:meth:`start`."""
        self.tls = tls
        self._issued: dict[str, CertFiles] = {}
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
        """A client certificate for ``cn`` (a backend identity by name, else a station); the
        running broker learns the new client at once."""
        if self.ca is None:
            raise ValueError("plain broker has no PKI")
        files = self._issued.get(cn)
        if files is None:
            files = self._issued[cn] = self.ca.issue(cn)
            if self.proc is not None and cn != self.ADMIN:
                self._add_client(cn)
        return files

    def _add_client(self, cn: str) -> None:
        self._control(generated.backend_client_commands(cn) if generated.is_backend_name(cn)
                      else generated.dynsec_commands(cn))

    def _control(self, commands: list[dict[str, Any]]) -> None:
        """Send dynamic-security commands as the admin identity and wait for their answers."""

        client = make_client(f"{self.ADMIN}", self.settings(self.ADMIN))
        answered = threading.Event()
        errors: list[str] = []

        def on_message(c: Any, userdata: Any, msg: Any) -> None:
            for r in json.loads(msg.payload).get("responses", []):
                if r.get("error"):
                    errors.append(f"{r.get('command')}: {r['error']}")
            answered.set()

        subscribed = threading.Event()
        client.on_message = on_message
        client.on_subscribe = lambda *a: subscribed.set()
        client.on_connect = lambda c, *a: c.subscribe(
            "$CONTROL/dynamic-security/v1/response", qos=1)
        client.connect("127.0.0.1", self.port)
        client.loop_start()
        try:
            if not subscribed.wait(10):
                raise BrokerUnavailable("dynamic-security admin could not subscribe")
            client.publish("$CONTROL/dynamic-security/v1",
                           json.dumps({"commands": commands}), qos=1)
            if not answered.wait(10):
                raise BrokerUnavailable("dynamic-security did not answer")
        finally:
            client.disconnect()
            client.loop_stop()
        if errors:
            raise BrokerUnavailable("dynamic-security refused: " + "; ".join(errors))

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
        ]
        if self.tls:
            # The listener and access list provisioning generates for a real broker: the tests
            # check the grants stations get in the field.
            assert self.ca is not None
            server = self.ca.issue("localhost", server=True)
            self.client_cert(self.ADMIN)
            known = [cn for cn in self._issued if cn != self.ADMIN]
            dynsec = self.dir / "dynsec.json"
            dynsec.write_text(generated.dynsec_config(
                [cn for cn in known if not generated.is_backend_name(cn)],
                [cn for cn in known if generated.is_backend_name(cn)], admins=[self.ADMIN]))
            return "\n".join(lines) + "\n" + generated.listener_snippet(
                port=self.port, bind="127.0.0.1", cafile=str(self.ca.ca_file),
                certfile=str(server.cert), keyfile=str(server.key),
                dynsec_file=str(dynsec),
                max_queued_messages=self.max_queued_messages or 100_000)
        lines += [*([] if self.max_queued_messages is None
                    else [f"max_queued_messages {self.max_queued_messages}"]),
                  f"listener {self.port} 127.0.0.1", "allow_anonymous true"]
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
            preexec_fn=_raise_nofile,
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


def publish_all(settings: BrokerSettings, client_id: str, topic: str,
                payloads: list[bytes]) -> None:
    """Publish every payload QoS 1 on ``topic`` from one plain client and wait until the
    broker has acknowledged each (a desk's side, for tests)."""
    client = make_client(client_id, settings)
    client.connect(settings.host, settings.port)
    client.loop_start()
    try:
        infos = [client.publish(topic, p, qos=1) for p in payloads]
        for info in infos:
            info.wait_for_publish(10)
            if not info.is_published():
                raise TimeoutError(f"the broker did not acknowledge a message on {topic}")
    finally:
        client.disconnect()
        client.loop_stop()


def _raise_nofile() -> None:
    # In the child before exec: Mosquitto keeps one descriptor per client.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def nofile_limit() -> int:
    """The descriptor limit a broker started here gets (the hard limit)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return 1 << 20 if hard == resource.RLIM_INFINITY else int(hard)


class ProvisionedBroker(MosquittoBroker):
    """Mosquitto on ``provisioned``/conf.d (``python -m provisioning … mosquitto --out
    provisioned --port PORT --bind 127.0.0.1``): listener, dynamic-security access list and
    certificates exactly as generated. Clients bring their own certificates from the operator
    CA (no test CA here)."""

    def __init__(self, provisioned: Path, port: int, *, persistence: bool = True) -> None:
        super().__init__(tls=False, persistence=persistence)
        self.tls = True
        self.provisioned = provisioned
        self.port = port

    def client_cert(self, cn: str) -> CertFiles:
        raise ValueError("a provisioned broker's clients use the operator CA's certificates")

    def settings(self, cn: str | None = None) -> BrokerSettings:
        raise ValueError("a provisioned broker's clients use the operator CA's certificates")

    def _config(self) -> str:
        lines = [
            *(["user root"] if os.geteuid() == 0 else []),
            *(["persistence true", f"persistence_location {self.dir}/"]
              if self.persistence else ["persistence false"]),
            f"log_dest file {self.dir}/mosquitto.log",
            "log_type error", "log_type warning", "log_type notice",
            f"include_dir {self.provisioned / 'conf.d'}",
        ]
        return "\n".join(lines) + "\n"

    def start(self, timeout_s: float = 10.0) -> ProvisionedBroker:
        if not (self.dir / "mosquitto.conf").exists():
            (self.dir / "mosquitto.conf").write_text(self._config())
        super().start(timeout_s)
        return self
