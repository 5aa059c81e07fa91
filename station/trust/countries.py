"""Issuing-state codes: the MRZ's three letters (ICAO 9303-3 §5) against the two-letter
countryName (C) of the Document Signer and CSCA certificates (ICAO 9303-12 §7.1.1: C is the
issuing state's ISO 3166-1 alpha-2 code, the same in the DSC's issuer and subject and in the
CSCA's subject).

A trust store holds many states' CSCAs (a lodging desk trusts the master list's ~600). Without
this check any of them vouches for any document: a state whose CSCA is in the store could sign
a "VNM" document that reads ``genuine``. So the anchor must belong to the state the document
names (``csca-country-mismatch`` otherwise).
"""

from __future__ import annotations

import iso3166

# ICAO 9303-3 §5 codes outside ISO 3166-1 alpha-3, with the two-letter code their signing
# certificates carry. Organisations with no such code (XBA, XIM, XCC, XCE, XCO, XDC, XEC, XES,
# XMP, XOM, XPO) and the nationality-only codes (XXA, XXB, XXC, XXX) map to nothing, so a
# document naming them fails the check rather than being matched to some state.
ICAO_ONLY: dict[str, str] = {
    "D": "DE",  # Germany (9303-3: "D", not "DEU")
    "GBD": "GB", "GBN": "GB", "GBO": "GB", "GBP": "GB", "GBS": "GB",  # British nationals
    "EUE": "EU",  # European Union laissez-passer
    "UNO": "UN", "UNA": "UN", "UNK": "UN",  # United Nations (and its specialized agencies)
    "RKS": "KS",  # Kosovo: its CSCAs in the German and Dutch master lists say C=KS
}
# Measured on those master lists (630 CSCAs, 129 countryNames, 2026-12-02): every C is an ISO
# alpha-2 code or one of the values above (EU: 5 CSCAs, UN: 4, KS: 5).


def alpha2(issuing_state: str) -> str | None:
    """The certificate countryName for an MRZ issuing-state code (``"VNM"`` → ``"VN"``,
    ``"D<<"`` → ``"DE"``), or None when there is none."""
    code = issuing_state.strip("<").upper()
    if code in ICAO_ONLY:
        return ICAO_ONLY[code]
    country = iso3166.countries_by_alpha3.get(code)
    return None if country is None else str(country.alpha2)
