"""Public keys from SubjectPublicKeyInfo (named or explicit curves, RSA), ECDSA verification and
the one table of digest and ECDSA signature algorithm OIDs.

Shared by the chip protocols that check a chip's key (chip authentication takes DG14's key,
active authentication verifies DG15's) and by passive authentication
(:mod:`station.trust.signature` builds the CMS / X.509 signature checks on it), so it sits on
the nfc side, below trust. Curves OpenSSL knows are verified by ``cryptography``; the other
named prime curves (brainpoolP160…320r1) by the station's own curve arithmetic. Every failure
is a :class:`~station.reasons.TrustError` with a reason code.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from asn1crypto import algos, keys
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from station.nfc.crypto import Curve
from station.nfc.curves import CRYPTOGRAPHY_CURVES, curve_for
from station.reasons import BAD_SIGNATURE, UNSUPPORTED_ALGORITHM, TrustError

HASH_OIDS = {
    "1.3.14.3.2.26": "sha1", "2.16.840.1.101.3.4.2.4": "sha224",
    "2.16.840.1.101.3.4.2.1": "sha256", "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}
"""DigestAlgorithm OIDs (RFC 5754) → hash name."""
HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256,
    "sha384": hashes.SHA384, "sha512": hashes.SHA512,
}
ECDSA_PLAIN = {
    "0.4.0.127.0.7.1.1.4.1.1": "sha1", "0.4.0.127.0.7.1.1.4.1.2": "sha224",
    "0.4.0.127.0.7.1.1.4.1.3": "sha256", "0.4.0.127.0.7.1.1.4.1.4": "sha384",
    "0.4.0.127.0.7.1.1.4.1.5": "sha512",
}
"""BSI TR-03111 §5.2.1 ecdsa-plain-signatures (r ‖ s, each of the order's length) → hash."""
ECDSA_X962 = {
    "1.2.840.10045.4.1": "sha1", "1.2.840.10045.4.3.1": "sha224",
    "1.2.840.10045.4.3.2": "sha256", "1.2.840.10045.4.3.3": "sha384",
    "1.2.840.10045.4.3.4": "sha512",
}
"""X9.62 / RFC 5758 ecdsa-with-SHA* → hash."""
MAX_RSA_BITS = 8192


def hash_name(digest_algorithm: algos.DigestAlgorithm) -> str:
    """``"sha256"`` etc. from a DigestAlgorithmIdentifier, with or without NULL parameters
    (RFC 5754 §2: receivers accept both)."""
    try:
        oid = digest_algorithm["algorithm"].dotted
    except (ValueError, TypeError, KeyError) as exc:
        raise TrustError(UNSUPPORTED_ALGORITHM, f"malformed digest algorithm "
                                                f"({type(exc).__name__})") from None
    name = HASH_OIDS.get(oid)
    if name is None:
        raise TrustError(UNSUPPORTED_ALGORITHM, f"digest {oid}")
    return name


def digest(name: str, data: bytes) -> bytes:
    return hashlib.new(name, data).digest()


def hash_algorithm(name: str) -> hashes.HashAlgorithm:
    try:
        return HASHES[name]()
    except KeyError:
        raise TrustError(UNSUPPORTED_ALGORITHM, f"hash {name}") from None


@dataclass(frozen=True)
class PublicKey:
    """A verification key: RSA, or EC on a named prime curve (``explicit`` when its
    certificate carried the curve's parameters)."""

    kind: str
    """"ec" or "rsa"."""
    curve: Curve | None
    point: bytes
    explicit: bool = False
    rsa_key: rsa.RSAPublicKey | None = None
    ec_key: ec.EllipticCurvePublicKey | None = None

    @property
    def description(self) -> str:
        if self.kind == "rsa" and self.rsa_key is not None:
            return f"RSA-{self.rsa_key.key_size}"
        assert self.curve is not None
        return f"EC {self.curve.name}" + (" (explicit parameters)" if self.explicit else "")


def load_public_key(spki: keys.PublicKeyInfo | bytes) -> PublicKey:
    """The key of a SubjectPublicKeyInfo; :class:`TrustError` when unusable."""
    try:
        info = keys.PublicKeyInfo.load(spki) if isinstance(spki, bytes) else spki
        algorithm = info["algorithm"]["algorithm"].native
        if algorithm == "ec":
            choice = curve_for(info["algorithm"]["parameters"])
            point = bytes(info["public_key"].native)
            return _ec_key(choice.curve, point, choice.explicit)
        if algorithm in ("rsa", "rsassa_pss"):
            der = info.dump()
            if algorithm == "rsassa_pss":
                # cryptography loads id-RSASSA-PSS keys poorly: read n and e ourselves.
                rsa_pub = info["public_key"].parsed
                numbers = rsa.RSAPublicNumbers(rsa_pub["public_exponent"].native,
                                               rsa_pub["modulus"].native)
                key = numbers.public_key()
            else:
                from cryptography.hazmat.primitives.serialization import load_der_public_key

                loaded = load_der_public_key(der)
                if not isinstance(loaded, rsa.RSAPublicKey):
                    raise TrustError(UNSUPPORTED_ALGORITHM, "RSA key did not load as RSA")
                key = loaded
            if key.key_size > MAX_RSA_BITS:
                raise TrustError(UNSUPPORTED_ALGORITHM, f"RSA-{key.key_size} is too large")
            return PublicKey("rsa", None, b"", rsa_key=key)
        raise TrustError(UNSUPPORTED_ALGORITHM, f"public key algorithm {algorithm}")
    except TrustError:
        raise
    except (ValueError, TypeError, KeyError, UnsupportedAlgorithm) as exc:
        raise TrustError(UNSUPPORTED_ALGORITHM,
                         f"unusable public key ({type(exc).__name__})") from None


def _ec_key(curve: Curve, point: bytes, explicit: bool) -> PublicKey:
    crypto_curve = CRYPTOGRAPHY_CURVES.get(curve.name)
    if crypto_curve is not None:
        try:
            key = ec.EllipticCurvePublicKey.from_encoded_point(crypto_curve(), point)
        except ValueError:
            raise TrustError(BAD_SIGNATURE, f"{curve.name}: public point is not on the "
                                            "curve") from None
        return PublicKey("ec", curve, point, explicit, ec_key=key)
    try:
        curve.decode(point)  # checks the point lies on the curve
    except Exception:
        raise TrustError(BAD_SIGNATURE, f"{curve.name}: public point is invalid") from None
    return PublicKey("ec", curve, point, explicit)


def plain_to_rs(signature: bytes, curve: Curve) -> tuple[int, int]:
    size = (curve.n.bit_length() + 7) // 8
    if len(signature) != 2 * size:
        raise TrustError(BAD_SIGNATURE, "plain ECDSA signature has the wrong length")
    return int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")


def der_to_rs(signature: bytes) -> tuple[int, int]:
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    try:
        return decode_dss_signature(signature)
    except ValueError:
        raise TrustError(BAD_SIGNATURE, "ECDSA signature is not a DER SEQUENCE of r, s") \
            from None


def _ecdsa_verify_pure(curve: Curve, point: bytes, r: int, s: int, h: bytes) -> bool:
    """ECDSA verification (SEC 1 §4.1.4) for curves OpenSSL does not expose."""
    n = curve.n
    if not (0 < r < n and 0 < s < n):
        return False
    e = int.from_bytes(h, "big")
    excess = len(h) * 8 - n.bit_length()
    if excess > 0:
        e >>= excess
    w = pow(s, -1, n)
    q = curve.decode(point)
    x = curve.add(curve.mul(e * w % n, curve.g), curve.mul(r * w % n, q))
    return x is not None and x[0] % n == r


def verify_ecdsa(key: PublicKey, hash_alg: str, r: int, s: int, data: bytes) -> None:
    if key.kind != "ec" or key.curve is None:
        raise TrustError(UNSUPPORTED_ALGORITHM, f"ECDSA signature but {key.description} key")
    if key.ec_key is not None:
        try:
            key.ec_key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hash_algorithm(hash_alg)))
            return
        except InvalidSignature:
            raise TrustError(BAD_SIGNATURE, f"ECDSA-{hash_alg.upper()} signature does not "
                                            "verify") from None
    if not _ecdsa_verify_pure(key.curve, key.point, r, s, digest(hash_alg, data)):
        raise TrustError(BAD_SIGNATURE, f"ECDSA-{hash_alg.upper()} signature does not verify")
