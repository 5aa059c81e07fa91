"""A whole provisioned deployment in a temp directory, made with the real tools:
``python -m provisioning`` (operator CA, Mosquitto snippet + ACL) and ``station provision``
(station identity, certificate, backend key) in a temp root, and a real Mosquitto started from
the generated snippet. Used by the provisioning and doctor tests."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provisioning.__main__ import main as operator
from station.cli import main as station
from station.testing.mosquitto import mosquitto_binary
from station.testing.ports import free_port


@dataclass
class Deployment:
    dir: Path
    station_id: str
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ca_dir(self) -> Path:
        return self.dir / "operator"

    @property
    def root(self) -> Path:
        return self.dir / "root"

    @property
    def config(self) -> Path:
        return self.root / "etc/station/station.toml"

    @property
    def state(self) -> Path:
        return self.root / "var/lib/station"

    @property
    def mosquitto_dir(self) -> Path:
        return self.dir / "mosquitto"

    def station(self, *args: str) -> int:
        return station(["--config", str(self.config), "provision", "--root", str(self.root),
                        *args])

    def start_broker(self) -> None:
        binary = mosquitto_binary()
        assert binary, "mosquitto is not installed"
        main = self.mosquitto_dir / "mosquitto.conf"
        lines = ["persistence false", "set_tcp_nodelay true",
                 f"log_dest file {self.mosquitto_dir}/mosquitto.log",
                 f"include_dir {self.mosquitto_dir}/conf.d"]
        if os.geteuid() == 0:
            # Run as root, Mosquitto drops to user "mosquitto" first; the temp dirs are root's.
            lines.insert(0, "user root")
        main.write_text("\n".join(lines) + "\n")
        self.proc = subprocess.Popen([binary, "-c", str(main)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("mosquitto did not listen") from None
                time.sleep(0.02)

    def log(self) -> str:
        p = self.mosquitto_dir / "mosquitto.log"
        return p.read_text(errors="replace")[-2000:] if p.exists() else ""

    def stop_broker(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=5)
        self.proc = None


CONFIG = """\
[station]
id = "{id}"
state_dir = "/var/lib/station"

[camera]
source = "none"

[mqtt]
host = "127.0.0.1"
port = {port}
ca_file = "/etc/station/tls/ca.pem"
cert_file = "/var/lib/station/keys/client.pem"
key_file = "/var/lib/station/keys/client.key"

[trust]
path = "/var/lib/station/trust"
"""


def build(tmp: Path, station_id: str = "desk-01", *, start: bool = True) -> Deployment:
    """Operator CA → station identity → signed certificate → broker config → running broker."""
    d = Deployment(tmp, station_id, port=free_port())
    d.config.parent.mkdir(parents=True)
    d.config.write_text(CONFIG.format(id=station_id, port=d.port))
    ca = str(d.ca_dir)
    assert operator(["--dir", ca, "init", "--broker", "localhost", "--broker", "127.0.0.1"]) == 0
    assert d.station("init") == 0
    keys = d.state / "keys"
    assert operator(["--dir", ca, "sign", station_id, "--csr", str(keys / "client.csr"),
                     "--signing-key", str(keys / "signing.pub.pem")]) == 0
    assert d.station("install-cert", str(d.ca_dir / "stations" / f"{station_id}.pem"),
                     "--ca", str(d.ca_dir / "ca.pem")) == 0
    assert d.station("install-backend-key", str(d.ca_dir / "backend-seal.pub.pem")) == 0
    assert operator(["--dir", ca, "mosquitto", "--out", str(d.mosquitto_dir),
                     "--port", str(d.port), "--bind", "127.0.0.1"]) == 0
    if start:
        d.start_broker()
    return d


@dataclass
class Client:
    """A paho MQTT 5 client that records PUBACK reason codes and received messages."""

    mqtt: Any
    acks: dict[int, int] = field(default_factory=dict)
    received: list[tuple[str, bytes]] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def publish(self, topic: str, payload: bytes = b"x", timeout: float = 5.0) -> int:
        """Publish at QoS 1 and return the PUBACK reason code (0 = accepted, 0x87 = denied)."""
        info = self.mqtt.publish(topic, payload, qos=1)
        with self.cond:
            if not self.cond.wait_for(lambda: info.mid in self.acks, timeout):
                raise TimeoutError("no PUBACK")
            return self.acks[info.mid]

    def wait_for(self, topic: str, timeout: float = 5.0) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: any(t == topic for t, _ in self.received),
                                      timeout)


@contextmanager
def connect(d: Deployment, cert: Path, key: Path, client_id: str) -> Iterator[Client]:
    from station.pipeline.mqtt import BrokerSettings, make_client

    settings = BrokerSettings("127.0.0.1", d.port, True, str(d.ca_dir / "ca.pem"),
                              str(cert), str(key))
    mqtt = make_client(client_id, settings)
    c = Client(mqtt)
    connected = threading.Event()

    def on_connect(client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if not rc.is_failure:
            connected.set()

    def on_publish(client: Any, userdata: Any, mid: int, rc: Any, props: Any) -> None:
        with c.cond:
            c.acks[mid] = rc.value
            c.cond.notify_all()

    def on_message(client: Any, userdata: Any, msg: Any) -> None:
        with c.cond:
            c.received.append((msg.topic, msg.payload))
            c.cond.notify_all()

    mqtt.on_connect, mqtt.on_publish, mqtt.on_message = on_connect, on_publish, on_message
    mqtt.connect("127.0.0.1", d.port)
    mqtt.loop_start()
    try:
        if not connected.wait(5):
            raise ConnectionError("not connected")
        yield c
    finally:
        mqtt.disconnect()
        mqtt.loop_stop()


def tls_session_survives(d: Deployment, cert: Path, key: Path) -> bool:
    """Handshake with ``cert`` and see whether the broker keeps the session (it then waits for
    CONNECT) or tears it down (TLS 1.3 reports a refused client certificate after the
    handshake, on the first read)."""
    ctx = ssl.create_default_context(cafile=str(d.ca_dir / "ca.pem"))
    ctx.load_cert_chain(str(cert), str(key))
    with socket.create_connection(("127.0.0.1", d.port), timeout=2) as raw:
        try:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.settimeout(0.3)
                return tls.recv(1) != b""
        except TimeoutError:
            return True
        except (ssl.SSLError, ConnectionResetError):
            return False


def add_station(d: Deployment, station_id: str) -> tuple[Path, Path]:
    """Another station signed by the operator CA the way `sign` does it (its TLS key and CSR
    made here); returns its certificate and key. Re-run `mosquitto` and restart the broker
    for the broker to list it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from station import keys

    where = d.dir / "extra" / station_id
    where.mkdir(parents=True)
    tls_key = ec.generate_private_key(ec.SECP256R1())
    keys.save_private_key(tls_key, where / "client.key")
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, station_id)]))
           .sign(tls_key, hashes.SHA256()))
    (where / "client.csr").write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    keys.save_public(keys.public_pem(keys.generate_signing_key().public_key()),
                     where / "signing.pub.pem")
    assert operator(["--dir", str(d.ca_dir), "sign", station_id, "--csr",
                     str(where / "client.csr"), "--signing-key",
                     str(where / "signing.pub.pem")]) == 0
    return d.ca_dir / "stations" / f"{station_id}.pem", where / "client.key"


def regenerate(d: Deployment) -> None:
    """`python -m provisioning mosquitto` again and a broker restart (what the README tells an
    operator to do after signing or revoking)."""
    assert operator(["--dir", str(d.ca_dir), "mosquitto", "--out", str(d.mosquitto_dir),
                     "--port", str(d.port), "--bind", "127.0.0.1"]) == 0
    d.stop_broker()
    d.start_broker()


def cleanup(d: Deployment) -> None:
    d.stop_broker()
    shutil.rmtree(d.dir, ignore_errors=True)
