"""Active Authentication (ICAO 9303-11 §6.1), terminal side.

The terminal sends INTERNAL AUTHENTICATE (``00 88 00 00``) with an 8-byte random challenge; the
chip signs it with the private key whose public key is in DG15:

- RSA: ISO/IEC 9796-2 digital signature scheme 1 with message recovery. The recovered
  representative is ``header ‖ M1 ‖ H(M1 ‖ challenge) ‖ trailer``: header 6A (partial
  recovery) or 4A (total), trailer BC (implicit SHA-1) or ``xx CC`` with xx the ISO/IEC
  10118-3 hash identifier (33 SHA-1, 34 SHA-256, 36 SHA-384, 35 SHA-512, 38 SHA-224).
- ECDSA: the hash named by DG14's ActiveAuthenticationInfo (BSI TR-03111 ecdsa-plain-*, or
  X9.62 ecdsa-with-*); the signature is plain ``r ‖ s``.

A fresh random challenge per read means a recorded answer cannot be replayed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

from station.errors import ProtocolError, StatusWordError, TagLost
from station.log import event
from station.nfc.apdu import CommandApdu, transceive
from station.nfc.lds.secinfo import ActiveAuthenticationInfo, SecurityInfos
from station.nfc.publickey import ECDSA_PLAIN, ECDSA_X962, load_public_key, verify_ecdsa
from station.nfc.sm import SecureMessaging
from station.reasons import AA_FAILED, TrustError

log = logging.getLogger(__name__)

# ISO/IEC 10118-3 hash-function identifiers used in the ISO/IEC 9796-2 trailer ``xx CC``.
_TRAILER_HASHES = {0x33: "sha1", 0x34: "sha256", 0x36: "sha384", 0x35: "sha512",
                   0x38: "sha224"}
# ActiveAuthenticationInfo signatureAlgorithm → hash (TR-03111 §5.2.1 plain, X9.62 / RFC 5758).
_ECDSA_HASHES = {**ECDSA_PLAIN, **ECDSA_X962}


class ActiveAuthenticationError(ProtocolError):
    """The signature does not verify, or DG15 / DG14 name nothing usable."""


@dataclass(frozen=True)
class AaOutcome:
    ok: bool
    detail: str
    reason: str | None = None


def verify_iso9796_2(n: int, e: int, signature: bytes, challenge: bytes) -> str:
    """Check an ISO/IEC 9796-2 scheme 1 signature on ``challenge`` (the non-recoverable part
    M2) and return the hash used; :class:`ActiveAuthenticationError` when it does not verify."""
    k = (n.bit_length() + 7) // 8
    s = int.from_bytes(signature, "big")
    if len(signature) != k or not 0 < s < n:
        raise ActiveAuthenticationError("RSA signature has the wrong size")
    j = pow(s, e, n)
    # ISO/IEC 9796-2 §B.6 (RSA, even e excluded): the signer may have sent min(J^d, n - J^d);
    # a representative ends in the nibble C, otherwise take n - J.
    if j & 0xF != 0xC:
        j = n - j
    rep = j.to_bytes(k, "big")
    if rep[-1] == 0xBC:
        hash_name, t = "sha1", 1
    elif rep[-1] == 0xCC and rep[-2] in _TRAILER_HASHES:
        hash_name, t = _TRAILER_HASHES[rep[-2]], 2
    else:
        raise ActiveAuthenticationError("RSA representative has no ISO/IEC 9796-2 trailer")
    if rep[0] & 0xC0 != 0x40 or rep[0] & 0x0F != 0x0A:
        raise ActiveAuthenticationError("RSA representative has no ISO/IEC 9796-2 header")
    h_len = hashlib.new(hash_name).digest_size
    if k < 1 + h_len + t + 1:
        raise ActiveAuthenticationError("RSA key too small for the hash")
    m1 = rep[1 : k - h_len - t]
    digest = rep[k - h_len - t : k - t]
    if not hmac.compare_digest(hashlib.new(hash_name, m1 + challenge).digest(), digest):
        raise ActiveAuthenticationError("RSA signature does not cover the challenge")
    return hash_name


def ecdsa_hash(dg14: SecurityInfos | None) -> str:
    """The hash of ECDSA active authentication, from DG14's ActiveAuthenticationInfo (9303-11
    §6.1: required when DG15 holds an EC key)."""

    infos = [i for i in (dg14.infos if dg14 else ()) if isinstance(i, ActiveAuthenticationInfo)]
    if not infos or infos[0].signature_algorithm is None:
        raise ActiveAuthenticationError("DG15 holds an EC key but DG14 has no "
                                        "ActiveAuthenticationInfo")
    name = _ECDSA_HASHES.get(infos[0].signature_algorithm)
    if name is None:
        raise ActiveAuthenticationError(
            f"active-authentication algorithm {infos[0].signature_algorithm} is not supported")
    return name


def verify_signature(dg15_spki: bytes, dg14: SecurityInfos | None, challenge: bytes,
                     signature: bytes) -> str:
    """Verify the chip's answer against DG15's key; returns a short description
    (``RSA-1024 ISO 9796-2 sha1``, ``ECDSA brainpoolP256r1 sha256``)."""
    try:
        key = load_public_key(dg15_spki)
    except TrustError as exc:
        raise ActiveAuthenticationError(f"DG15 key: {exc}") from None
    if key.kind == "rsa":
        assert key.rsa_key is not None
        numbers = key.rsa_key.public_numbers()
        used = verify_iso9796_2(numbers.n, numbers.e, signature, challenge)
        return f"AA {key.description} ISO 9796-2 {used}"
    assert key.curve is not None
    hash_name = ecdsa_hash(dg14)
    size = (key.curve.n.bit_length() + 7) // 8
    if len(signature) != 2 * size:
        raise ActiveAuthenticationError("ECDSA signature is not plain r||s of the order's size")
    r = int.from_bytes(signature[:size], "big")
    s = int.from_bytes(signature[size:], "big")
    try:
        verify_ecdsa(key, hash_name, r, s, challenge)
    except TrustError:
        raise ActiveAuthenticationError("ECDSA signature does not verify") from None
    return f"AA ECDSA {key.curve.name} {hash_name}"


def authenticate(channel: SecureMessaging, dg15: bytes, dg14: SecurityInfos | None,
                 challenge: bytes | None = None) -> AaOutcome:
    """INTERNAL AUTHENTICATE with a fresh challenge, verified against DG15's key (the raw DER
    SubjectPublicKeyInfo). TagLost propagates; every other failure is ``ok=False``."""
    challenge = challenge if challenge is not None else secrets.token_bytes(8)
    try:
        resp = transceive(channel, CommandApdu(0x00, 0x88, 0x00, 0x00, challenge, le=256))
        resp.check("INTERNAL AUTHENTICATE")
        detail = verify_signature(dg15, dg14, challenge, resp.data)
    except TagLost:
        raise
    except StatusWordError as exc:
        event(log, "nfc.aa_refused", sw=f"{exc.sw:04X}")
        return AaOutcome(False, f"chip refused INTERNAL AUTHENTICATE ({exc.sw:04X})", AA_FAILED)
    except ProtocolError as exc:
        event(log, "nfc.aa_failed")
        return AaOutcome(False, str(exc), AA_FAILED)
    event(log, "nfc.aa_ok", detail=detail)
    return AaOutcome(True, detail)


__all__ = ["AaOutcome", "ActiveAuthenticationError", "authenticate", "ecdsa_hash",
           "verify_iso9796_2", "verify_signature"]
