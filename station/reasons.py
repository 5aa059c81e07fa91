"""Why a check failed, as a short machine-readable reason code plus a detail for people.

The vocabulary of every verification check, below both the chip protocols (:mod:`station.nfc`:
chip and active authentication, public keys, EF.SOD) and trust (:mod:`station.trust`: passive
authentication), so that neither imports the other for it. Details name algorithms, curves,
certificate serials and file names — never citizen data.
"""

from __future__ import annotations

from station.errors import VerificationFailed

# Reason codes (stable: they go into records and the JSON of `station read --trust`).
MALFORMED_SOD = "malformed-sod"
MALFORMED_CERTIFICATE = "malformed-certificate"
UNSUPPORTED_ALGORITHM = "unsupported-algorithm"
UNKNOWN_CURVE = "unknown-curve"
CONTENT_TYPE_MISMATCH = "content-type-mismatch"
MESSAGE_DIGEST_MISMATCH = "message-digest-mismatch"
BAD_SIGNATURE = "bad-signature"
DSC_NOT_FOUND = "dsc-not-found"
UNTRUSTED_CSCA = "untrusted-csca"
EXPIRED = "expired"
NOT_YET_VALID = "not-yet-valid"
KEY_USAGE = "key-usage"
REVOKED = "revoked"
DG_HASH_MISMATCH = "dg-hash-mismatch"
DG_NOT_IN_SOD = "dg-not-in-sod"
NO_TRUST_STORE = "no-trust-store"
NOT_PERFORMED = "not-performed"
CA_FAILED = "chip-authentication-failed"
AA_FAILED = "active-authentication-failed"
DG_NOT_VERIFIED = "dg-not-verified"
CA_WITHHELD = "chip-authentication-withheld"
AA_WITHHELD = "active-authentication-withheld"
PACE_UNAVAILABLE = "pace-unavailable"
CSCA_COUNTRY_MISMATCH = "csca-country-mismatch"
NOT_MASTER_LIST_SIGNER = "not-master-list-signer"
REVOCATION_UNKNOWN = "revocation-unknown"


class TrustError(VerificationFailed):
    """A verification step failed; ``reason`` is one of the codes above."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)
