"""Fixtures shared by the desk integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from station.testing.mosquitto import BrokerUnavailable, MosquittoBroker


@pytest.fixture(scope="module")
def desk_broker() -> Iterator[MosquittoBroker]:
    """A broker of our own: ingest keeps a persistent session in a shared subscription, and a
    member left over from another test would be handed some of our records."""
    b = MosquittoBroker()
    try:
        b.start()
    except BrokerUnavailable as exc:
        pytest.skip(str(exc))
    yield b
    b.close()

