"""Provisioning round trip in a temp root, ending on a real Mosquitto run from the generated
snippet: it accepts the provisioned station certificate and enforces the ACL."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from provisioning import registry
from station import keys
from station.testing.mosquitto import mosquitto_binary
from station.testing.tls import TestCa
from tests.provisioning import deployment
from tests.provisioning.deployment import Deployment, connect

pytestmark = pytest.mark.mqtt
NOT_AUTHORIZED = 0x87


@pytest.fixture(scope="module")
def dep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed")
    d = deployment.build(tmp_path_factory.mktemp("deploy"))
    yield d
    deployment.cleanup(d)


def test_station_files_have_safe_modes(dep: Deployment) -> None:
    k = keys.KeyPaths.under(dep.state)
    assert stat.S_IMODE(k.dir.stat().st_mode) == 0o700
    for private in (k.signing, k.client_key):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
    for public in (k.client_cert, k.client_csr, k.backend_seal):
        assert stat.S_IMODE(public.stat().st_mode) == 0o644
    assert stat.S_IMODE((dep.ca_dir / "ca.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((dep.mosquitto_dir / "certs/station/server.key").stat().st_mode) == 0o600


def test_certificate_is_for_the_station_and_its_key(dep: Deployment) -> None:
    k = keys.KeyPaths.under(dep.state)
    cert = keys.load_certificate(k.client_cert)
    ca = keys.load_certificate(dep.root / "etc/station/tls/ca.pem")
    cert.verify_directly_issued_by(ca)
    assert keys.certificate_cn(cert) == dep.station_id
    assert cert.public_key() == keys.load_tls_key(k.client_key).public_key()
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]


def test_registry_maps_the_station_to_its_signing_key(dep: Deployment) -> None:
    entries = registry.load(dep.ca_dir / "registry.json")
    signing = keys.load_signing_key(keys.KeyPaths.under(dep.state).signing)
    entry = entries[dep.station_id]
    assert entry.key_id == keys.key_id(signing.public_key())
    entry.public_key().verify(signing.sign(b"record"), b"record")
    raw = json.loads((dep.ca_dir / "registry.json").read_text())
    assert "PRIVATE" not in json.dumps(raw)


def test_backend_key_installed_is_the_operators(dep: Deployment) -> None:
    installed = keys.load_backend_seal_key(keys.KeyPaths.under(dep.state).backend_seal)
    private = keys.load_seal_private_key(dep.ca_dir / "backend-seal.key")
    assert keys.key_id(installed) == keys.key_id(private.public_key())


def test_generated_acl_and_listener(dep: Deployment) -> None:
    conf = (dep.mosquitto_dir / "conf.d/station.conf").read_text()
    for line in ("require_certificate true", "use_identity_as_username true",
                 "use_username_as_clientid true", "allow_anonymous false",
                 f"listener {dep.port} 127.0.0.1", "max_queued_messages 100000",
                 f"crlfile {dep.mosquitto_dir}/certs/station/crl.pem"):
        assert line in conf.splitlines()
    # A listener option: after its listener line, no cap of its own (the fd limit is the cap).
    lines = conf.splitlines()
    assert lines.index("max_connections -1") > lines.index(f"listener {dep.port} 127.0.0.1")
    assert "acl_file" not in conf
    access = json.loads((dep.mosquitto_dir / "station-dynsec.json").read_text())
    assert access["defaultACLAccess"]["subscribe"] is False
    assert access["defaultACLAccess"]["publishClientSend"] is False
    users = {c["username"]: [r["rolename"] for r in c["roles"]] for c in access["clients"]}
    assert users == {dep.station_id: [f"station:{dep.station_id}"], "ingest": ["backend"]}
    roles = {r["rolename"]: {(a["acltype"], a["topic"]) for a in r["acls"]}
             for r in access["roles"]}
    sid = dep.station_id
    assert roles[f"station:{sid}"] == {
        *(("publishClientSend", f"stations/{sid}/{t}")
          for t in ("records", "status", "health", "events/#")),
        ("subscribeLiteral", f"stations/{sid}/commands"),
        ("subscribeLiteral", f"stations/{sid}/receipts")}
    assert ("publishClientSend", "stations/+/receipts") in roles["backend"]


def test_broker_accepts_the_station_and_enforces_the_acl(dep: Deployment) -> None:
    sid = dep.station_id
    with connect(dep, dep.ca_dir / "ingest.pem", dep.ca_dir / "ingest.key", "be") as backend:
        backend.mqtt.subscribe("stations/#", qos=1)
        k = keys.KeyPaths.under(dep.state)
        with connect(dep, k.client_cert, k.client_key, "st") as st:
            st.mqtt.subscribe(f"stations/{sid}/commands", qos=1)
            assert st.publish(f"stations/{sid}/records", b"r1") == 0
            assert backend.wait_for(f"stations/{sid}/records")
            assert st.publish(f"stations/{sid}/status") == 0
            # Another station's subtree, the command topic and anything else: refused.
            assert st.publish("stations/desk-02/records") == NOT_AUTHORIZED
            assert st.publish(f"stations/{sid}/commands") == NOT_AUTHORIZED
            assert st.publish("elsewhere") == NOT_AUTHORIZED
            # Only the backend writes commands, and the station receives them.
            assert backend.publish(f"stations/{sid}/commands", b"ping") == 0
            assert st.wait_for(f"stations/{sid}/commands")
        assert not any(t == "stations/desk-02/records" for t, _ in backend.received)


def test_broker_refuses_a_certificate_from_another_ca(dep: Deployment, tmp_path: Path) -> None:
    k = keys.KeyPaths.under(dep.state)
    assert deployment.tls_session_survives(dep, k.client_cert, k.client_key)
    rogue = TestCa(tmp_path / "rogue").issue(dep.station_id)
    assert not deployment.tls_session_survives(dep, rogue.cert, rogue.key)


def test_show_and_registry_print_key_ids_never_keys(dep: Deployment,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from provisioning.__main__ import main as operator

    assert dep.station("show", "--json") == 0
    info = json.loads(capsys.readouterr().out)
    signing = keys.load_signing_key(keys.KeyPaths.under(dep.state).signing)
    assert info["signing_key_id"] == keys.key_id(signing.public_key())
    assert info["client_cert_cn"] == dep.station_id
    assert operator(["--dir", str(dep.ca_dir), "registry"]) == 0
    out = capsys.readouterr().out
    assert dep.station_id in out and info["signing_key_id"] in out
    assert "BEGIN" not in out
