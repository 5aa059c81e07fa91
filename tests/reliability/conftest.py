"""Fixtures of the reliability campaign: the tally every scenario reports its counts to."""

from __future__ import annotations

import pytest

from tests.reliability.campaign import Tally


@pytest.fixture(scope="session")
def tally() -> Tally:
    return Tally()
