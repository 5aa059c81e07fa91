"""X.509 certificates and CRLs as the trust code uses them: parsed once, defensively.

Parsing is asn1crypto's (it reads certificates ``cryptography`` cannot use, such as explicit
brainpool parameters); any malformation becomes :class:`TrustError` ``malformed-certificate``.
Issuer checks verify signatures (and compare key identifiers first to pick candidates): a rogue
CSCA with the same subject name is refused by its signature, never accepted by its name.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from asn1crypto import crl as a_crl
from asn1crypto import x509 as a_x509

from station.nfc.publickey import PublicKey, load_public_key
from station.reasons import (
    EXPIRED,
    MALFORMED_CERTIFICATE,
    NOT_YET_VALID,
    TrustError,
)
from station.trust.names import same_name
from station.trust.signature import verify

MAX_CERTIFICATE_BYTES = 16 * 1024

ASN1_DECODE_ERRORS = (ValueError, TypeError, KeyError, AttributeError, OverflowError, IndexError)
"""What asn1crypto raises when it decodes a malformed field on first use (e.g. IndexError for an
empty BIT STRING): each becomes a typed ``malformed-certificate``."""


@dataclass(frozen=True, eq=False)
class Certificate:
    der: bytes
    asn1: a_x509.Certificate
    key: PublicKey
    subject: str
    issuer: str
    serial: int
    not_before: dt.datetime
    not_after: dt.datetime
    ski: bytes | None
    aki: bytes | None
    is_ca: bool
    key_usage: frozenset[str]
    extended_key_usage: frozenset[str]
    source: str

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.der).hexdigest()

    @property
    def key_id(self) -> str:
        """Identity of the public key itself, independent of how its curve is written."""
        return hashlib.sha256(self.key.point or self._rsa_id()).hexdigest()

    def _rsa_id(self) -> bytes:
        assert self.key.rsa_key is not None
        return self.key.rsa_key.public_numbers().n.to_bytes(
            (self.key.rsa_key.key_size + 7) // 8, "big")

    def valid_at(self, when: dt.datetime) -> None:
        if when < self.not_before:
            raise TrustError(NOT_YET_VALID, f"certificate serial {self.serial:X} is valid from "
                                            f"{self.not_before:%Y-%m-%d}")
        if when > self.not_after:
            raise TrustError(EXPIRED, f"certificate serial {self.serial:X} expired "
                                      f"{self.not_after:%Y-%m-%d}")

    def signed_by(self, issuer: Certificate) -> str:
        """Verify this certificate's signature with ``issuer``'s key."""
        try:
            algorithm = self.asn1["signature_algorithm"]
            signature = self.asn1["signature_value"].native
            tbs = self.asn1["tbs_certificate"].dump()
        except ASN1_DECODE_ERRORS as exc:  # asn1crypto parses lazily
            raise TrustError(MALFORMED_CERTIFICATE,
                             f"certificate serial {self.serial:X} ({type(exc).__name__})") from None
        return verify(issuer.key, algorithm, signature, tbs)

    def to_json(self) -> dict[str, object]:
        return {
            "subject": self.subject, "serial": f"{self.serial:X}",
            "not_before": self.not_before.isoformat(), "not_after": self.not_after.isoformat(),
            "key": self.key.description, "ca": self.is_ca,
            "ski": self.ski.hex() if self.ski else None, "sha256": self.fingerprint,
            "source": self.source,
        }


def parse_certificate(data: bytes | a_x509.Certificate, source: str = "") -> Certificate:
    try:
        if isinstance(data, bytes):
            if len(data) > MAX_CERTIFICATE_BYTES:
                raise TrustError(MALFORMED_CERTIFICATE, f"{len(data)} bytes is too large")
            cert = a_x509.Certificate.load(data, strict=True)
        else:
            cert = data
        der = cert.dump()
        tbs = cert["tbs_certificate"]
        key = load_public_key(tbs["subject_public_key_info"])
        validity = tbs["validity"]
        # asn1crypto parses lazily: decode the signature fields now, so that a malformed one is
        # this typed error here and not a ValueError in a later signature check.
        cert["signature_algorithm"].native  # noqa: B018
        cert["signature_value"].native  # noqa: B018
        bc = cert.basic_constraints_value
        ku = cert.key_usage_value
        eku = cert.extended_key_usage_value
        return Certificate(
            der=bytes(der), asn1=cert, key=key,
            subject=cert.subject.human_friendly, issuer=cert.issuer.human_friendly,
            serial=int(tbs["serial_number"].native),
            not_before=validity["not_before"].native, not_after=validity["not_after"].native,
            ski=cert.key_identifier, aki=cert.authority_key_identifier,
            is_ca=bool(bc and bc["ca"].native),
            key_usage=frozenset(ku.native) if ku is not None else frozenset(),
            extended_key_usage=frozenset(
                o.dotted for o in eku) if eku is not None else frozenset(),
            source=source,
        )
    except TrustError as exc:
        if exc.reason == MALFORMED_CERTIFICATE:
            raise
        raise TrustError(exc.reason, f"certificate{' ' + source if source else ''}: "
                                     f"{exc.detail}") from None
    except ASN1_DECODE_ERRORS as exc:
        raise TrustError(MALFORMED_CERTIFICATE,
                         f"{source or 'certificate'} ({type(exc).__name__})") from None


@dataclass(frozen=True, eq=False)
class Crl:
    issuer: Certificate
    """The CSCA whose key verified this CRL."""
    revoked: frozenset[int]
    this_update: dt.datetime
    next_update: dt.datetime | None
    source: str


def parse_crl(data: bytes, candidates: list[Certificate], source: str) -> Crl:
    """A CRL verified by the signature of one of ``candidates`` (CSCAs with its issuer's name
    or key identifier)."""
    try:
        crl = a_crl.CertificateList.load(data, strict=True)
        tbs = crl["tbs_cert_list"]
        issuer_name = tbs["issuer"]
        issuer_name.native  # noqa: B018 - parse now (lazy): compared with CSCA names below
        aki = crl.authority_key_identifier
        revoked = frozenset(int(r["user_certificate"].native)
                            for r in tbs["revoked_certificates"])
        this_update = tbs["this_update"].native
        next_update = tbs["next_update"].native
        tbs_der = tbs.dump()
        sig_alg = crl["signature_algorithm"]
        signature = crl["signature"].native
    except ASN1_DECODE_ERRORS as exc:
        raise TrustError(MALFORMED_CERTIFICATE, f"CRL {source} ({type(exc).__name__})") \
            from None
    matching = [c for c in candidates
                if (aki is not None and c.ski == aki) or same_name(c.asn1.subject, issuer_name)]
    last: TrustError | None = None
    for csca in matching:
        try:
            verify(csca.key, sig_alg, signature, tbs_der)
        except TrustError as exc:
            last = exc
            continue
        return Crl(csca, revoked, this_update, next_update, source)
    if last is not None:
        raise last
    raise TrustError(MALFORMED_CERTIFICATE, f"CRL {source}: its issuer is not a CSCA in the "
                                            "store")
