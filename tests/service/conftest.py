"""Fixtures shared by the desk integration tests."""

from __future__ import annotations

import pytest

from station.testing.mosquitto import MosquittoBroker


@pytest.fixture(scope="module")
def desk_broker(module_broker: MosquittoBroker) -> MosquittoBroker:
    """A broker of our own: ingest keeps a persistent session in a shared subscription, and a
    member left over from another test would be handed some of our records."""
    return module_broker
