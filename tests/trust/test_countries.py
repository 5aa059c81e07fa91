"""MRZ issuing-state codes against certificate countryNames (ICAO 9303-3 §5, 9303-12 §7.1.1)."""

from __future__ import annotations

import pytest

from station.trust.countries import alpha2


@pytest.mark.parametrize(("mrz", "c"), [
    ("VNM", "VN"), ("FRA", "FR"), ("JPN", "JP"), ("USA", "US"), ("DEU", "DE"),
    ("D<<", "DE"), ("D", "DE"),  # Germany's 9303-3 code
    ("GBR", "GB"), ("GBN", "GB"), ("GBD", "GB"),
    ("EUE", "EU"), ("UNO", "UN"), ("RKS", "KS"),
])
def test_codes_map_to_the_certificate_country(mrz: str, c: str) -> None:
    assert alpha2(mrz) == c


@pytest.mark.parametrize("mrz", ["UTO", "XXA", "XXX", "XOM", "XPO", "", "ZZZ"])
def test_codes_without_a_state_map_to_nothing(mrz: str) -> None:
    # UTO is ICAO's specimen state; XX* are nationalities (stateless, refugee), not issuers;
    # organisations without a two-letter code fail the check rather than match some state.
    assert alpha2(mrz) is None
