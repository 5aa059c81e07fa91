"""The console on a real database (SQLite file, or the PostgreSQL fixture), with records put
there the way ingest puts them: signed by a station key, sealed to the backend key, verified
and committed by :class:`station.ingest.store.SqliteStore`/``PostgresStore``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from fastapi.testclient import TestClient

from station import keys
from station.console.app import create_app
from station.console.auth import SigninPolicy, hash_password
from station.console.config import ConsoleConfig
from station.console.store import ConsoleStore, Role
from station.ingest.store import IngestStore
from station.ingest.stores import open_store
from station.ingest.verification import Verified, Verifier
from station.pipeline.records import Check, Reading, RecordSigner

PASSWORD = "correct horse battery"
SECRET = b"s" * 32


@dataclass
class Site:
    """One backend: ingest's store, the console's, the keys, and a way to add readings."""

    target: str
    ingest: IngestStore
    store: ConsoleStore
    signing: ed25519.Ed25519PrivateKey
    backend: x25519.X25519PrivateKey
    seqs: dict[str, int]

    def reading(self, station: str, outcome: str = "authentic", protocol: str = "PACE",
                profile: str = "reception", citizen: dict[str, Any] | None = None) -> str:
        """A record committed by ingest; returns its id."""
        seq = self.seqs.get(station, 0) + 1
        self.seqs[station] = seq
        fields = citizen if citizen is not None else {
            "id_number": f"0010990{seq:05d}", "full_name": "Trần Thị Bình",
            "date_of_birth": "01/02/1990", "sex": "Nữ"}
        token = RecordSigner(station, self.signing, self.backend.public_key()).build(
            Reading(profile, protocol, outcome, (Check("passive_authentication", True),),
                    fields), seq).token
        got = Verifier({station: self.signing.public_key()}, self.backend).check(
            f"stations/{station}/records", token)
        assert isinstance(got, Verified)
        self.ingest.add(got)
        self.ingest.commit()
        return got.record.record_id

    def user(self, name: str, role: Role, *desks: str) -> str:
        self.store.add_user(name, role, hash_password(PASSWORD))
        for d in desks:
            self.store.bind(name, d)
        return name


@pytest.fixture(params=["sqlite"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "ingest.sqlite3")
    return str(request.getfixturevalue("pg_dsn"))


@pytest.fixture()
def site(target: str) -> Iterator[Site]:
    ingest = open_store(target)
    store = ConsoleStore(target)
    yield Site(target, ingest, store, keys.generate_signing_key(), keys.generate_seal_key(), {})
    store.close()
    ingest.close()


def config(site: Site, **kw: Any) -> ConsoleConfig:
    kw.setdefault("signin", SigninPolicy(max_failures=3, window_s=60, lockout_s=60,
                                         per_remote=100))
    return ConsoleConfig(site.target, SECRET, site.backend, poll_interval_s=0.05, **kw)


@pytest.fixture()
def client(site: Site) -> Iterator[TestClient]:
    with TestClient(create_app(config(site), site.store), base_url="https://testserver") as c:
        yield c


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert m, "no CSRF field in the form"
    return m.group(1)


def sign_in(client: TestClient, name: str, password: str = PASSWORD) -> Any:
    page = client.get("/signin")
    return client.post("/signin", data={"name": name, "password": password,
                                        "csrf": csrf_of(page.text)}, follow_redirects=False)
