"""Shared fixtures: real servers, started once per test session.

- ``pcscd``: a private pcscd with the vpcd driver (``station.testing.pcscd``); this process's
  PC/SC clients are pointed at it. Two slots: ``pcscd.slot_port(0)`` and ``(1)``.
- ``broker`` / ``tls_broker``: Mosquitto on a free loopback port (plain / mTLS + ACL).
- ``postgres``: a PostgreSQL server (``initdb`` into a temporary directory, run as the
  ``postgres`` user, free loopback port); ``pg_dsn``: a fresh database on it for one test.

Outside CI a missing binary skips with the reason; under CI (``CI=true``) it fails, because
.ci/run installs everything.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from station.testing.mosquitto import BrokerUnavailable, MosquittoBroker
from station.testing.pcscd import PcscdTestbed, TestbedUnavailable
from station.testing.postgres import PostgresServer, PostgresUnavailable

IN_CI = os.environ.get("CI", "").lower() == "true"


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI must provide this: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pcscd() -> Iterator[PcscdTestbed]:
    testbed = PcscdTestbed()
    try:
        testbed.start()
    except TestbedUnavailable as exc:
        _unavailable(str(exc))
    testbed.activate()
    yield testbed
    testbed.stop()


def _started_broker(*, tls: bool = False) -> Iterator[MosquittoBroker]:
    b = MosquittoBroker(tls=tls)
    try:
        b.start()
    except BrokerUnavailable as exc:
        _unavailable(str(exc))
    yield b
    b.close()


@pytest.fixture(scope="session")
def broker() -> Iterator[MosquittoBroker]:
    yield from _started_broker()


@pytest.fixture()
def own_broker() -> Iterator[MosquittoBroker]:
    """A broker of this test alone: it may be stopped and restarted, and no persistent session
    left by another test's ingest can take a share of its records."""
    yield from _started_broker()


@pytest.fixture(scope="module")
def module_broker() -> Iterator[MosquittoBroker]:
    """The same, shared by one test module."""
    yield from _started_broker()


@pytest.fixture()
def tls_broker() -> Iterator[MosquittoBroker]:
    yield from _started_broker(tls=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        server.start()
    except PostgresUnavailable as exc:
        _unavailable(str(exc))
    yield server
    server.close()


@pytest.fixture()
def pg_dsn(postgres: PostgresServer) -> str:
    """An empty database of this test alone."""
    return postgres.create_database(f"test_{next(_databases)}")


_databases = itertools.count(1)
