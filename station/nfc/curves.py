"""Named prime curves, and explicit EC domain parameters mapped back to them.

Many CSCA and DSC certificates (Vietnam's CSCA among them) write their EC key's curve as explicit
parameters (RFC 3279 SpecifiedECDomain) instead of an OID. ``cryptography`` maps only the NIST
curves, so the station compares p, a, b, G, n and h with every named prime curve it knows and
builds the key on the named curve. All six must match: a swapped generator ("CurveBall",
CVE-2020-0601) or an altered order is refused, never approximated.

Parameters: SEC 2 v2 (secp*), RFC 5639 (brainpool*); checked against OpenSSL's tables in the
tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from asn1crypto import keys
from cryptography.hazmat.primitives.asymmetric import ec

from station.nfc import crypto as nfc_crypto
from station.nfc.crypto import Curve
from station.reasons import UNKNOWN_CURVE, TrustError


def _h(s: str) -> int:
    return int(s, 16)


_EXTRA = (
    Curve("secp192r1",
          p=_h("fffffffffffffffffffffffffffffffeffffffffffffffff"),
          a=_h("fffffffffffffffffffffffffffffffefffffffffffffffc"),
          b=_h("64210519e59c80e70fa7e9ab72243049feb8deecc146b9b1"),
          gx=_h("188da80eb03090f67cbf20eb43a18800f4ff0afd82ff1012"),
          gy=_h("07192b95ffc8da78631011ed6b24cdd573f977a11e794811"),
          n=_h("ffffffffffffffffffffffff99def836146bc9b1b4d22831")),
    Curve("secp224r1",
          p=_h("ffffffffffffffffffffffffffffffff000000000000000000000001"),
          a=_h("fffffffffffffffffffffffffffffffefffffffffffffffffffffffe"),
          b=_h("b4050a850c04b3abf54132565044b0b7d7bfd8ba270b39432355ffb4"),
          gx=_h("b70e0cbd6bb4bf7f321390b94a03c1d356c21122343280d6115c1d21"),
          gy=_h("bd376388b5f723fb4c22dfe6cd4375a05a07476444d5819985007e34"),
          n=_h("ffffffffffffffffffffffffffff16a2e0b8f03e13dd29455c5c2a3d")),
    Curve("secp256k1",
          p=_h("fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f"),
          a=0, b=7,
          gx=_h("79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"),
          gy=_h("483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8"),
          n=_h("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")),
    Curve("brainpoolP160r1",
          p=_h("e95e4a5f737059dc60dfc7ad95b3d8139515620f"),
          a=_h("340e7be2a280eb74e2be61bada745d97e8f7c300"),
          b=_h("1e589a8595423412134faa2dbdec95c8d8675e58"),
          gx=_h("bed5af16ea3f6a4f62938c4631eb5af7bdbcdbc3"),
          gy=_h("1667cb477a1a8ec338f94741669c976316da6321"),
          n=_h("e95e4a5f737059dc60df5991d45029409e60fc09")),
    Curve("brainpoolP192r1",
          p=_h("c302f41d932a36cda7a3463093d18db78fce476de1a86297"),
          a=_h("6a91174076b1e0e19c39c031fe8685c1cae040e5c69a28ef"),
          b=_h("469a28ef7c28cca3dc721d044f4496bcca7ef4146fbf25c9"),
          gx=_h("c0a0647eaab6a48753b033c56cb0f0900a2f5c4853375fd6"),
          gy=_h("14b690866abd5bb88b5f4828c1490002e6773fa2fa299b8f"),
          n=_h("c302f41d932a36cda7a3462f9e9e916b5be8f1029ac4acc1")),
    Curve("brainpoolP224r1",
          p=_h("d7c134aa264366862a18302575d1d787b09f075797da89f57ec8c0ff"),
          a=_h("68a5e62ca9ce6c1c299803a6c1530b514e182ad8b0042a59cad29f43"),
          b=_h("2580f63ccfe44138870713b1a92369e33e2135d266dbb372386c400b"),
          gx=_h("0d9029ad2c7e5cf4340823b2a87dc68c9e4ce3174c1e6efdee12c07d"),
          gy=_h("58aa56f772c0726f24c6b89e4ecdac24354b9e99caa3f6d3761402cd"),
          n=_h("d7c134aa264366862a18302575d0fb98d116bc4b6ddebca3a5a7939f")),
    Curve("brainpoolP320r1",
          p=_h("d35e472036bc4fb7e13c785ed201e065f98fcfa6f6f40def4f92b9ec7893ec28"
               "fcd412b1f1b32e27"),
          a=_h("3ee30b568fbab0f883ccebd46d3f3bb8a2a73513f5eb79da66190eb085ffa9f4"
               "92f375a97d860eb4"),
          b=_h("520883949dfdbc42d3ad198640688a6fe13f41349554b49acc31dccd88453981"
               "6f5eb4ac8fb1f1a6"),
          gx=_h("43bd7e9afb53d8b85289bcc48ee5bfe6f20137d10a087eb6e7871e2a10a599c7"
                "10af8d0d39e20611"),
          gy=_h("14fdd05545ec1cc8ab4093247f77275e0743ffed117182eaa9c77877aaac6ac7"
                "d35245d1692e8ee1"),
          n=_h("d35e472036bc4fb7e13c785ed201e065f98fcfa5b68f12a32d482ec7ee8658e9"
               "8691555b44c59311")),
)

NAMED_CURVES: dict[str, Curve] = {**nfc_crypto.CURVES, **{c.name: c for c in _EXTRA}}

CURVE_OIDS: dict[str, str] = {
    "1.2.840.10045.3.1.1": "secp192r1", "1.3.132.0.33": "secp224r1",
    "1.2.840.10045.3.1.7": "secp256r1", "1.3.132.0.34": "secp384r1",
    "1.3.132.0.35": "secp521r1", "1.3.132.0.10": "secp256k1",
    "1.3.36.3.3.2.8.1.1.1": "brainpoolP160r1", "1.3.36.3.3.2.8.1.1.3": "brainpoolP192r1",
    "1.3.36.3.3.2.8.1.1.5": "brainpoolP224r1", "1.3.36.3.3.2.8.1.1.7": "brainpoolP256r1",
    "1.3.36.3.3.2.8.1.1.9": "brainpoolP320r1", "1.3.36.3.3.2.8.1.1.11": "brainpoolP384r1",
    "1.3.36.3.3.2.8.1.1.13": "brainpoolP512r1",
}

# Curves OpenSSL verifies for us (fast); the others are verified by station.nfc.crypto.Curve.
CRYPTOGRAPHY_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "secp192r1": ec.SECP192R1, "secp224r1": ec.SECP224R1, "secp256r1": ec.SECP256R1,
    "secp384r1": ec.SECP384R1, "secp521r1": ec.SECP521R1, "secp256k1": ec.SECP256K1,
    "brainpoolP256r1": ec.BrainpoolP256R1, "brainpoolP384r1": ec.BrainpoolP384R1,
    "brainpoolP512r1": ec.BrainpoolP512R1,
}


@dataclass(frozen=True)
class CurveChoice:
    """The named curve a key lives on, and whether its certificate spelled it out."""

    curve: Curve
    explicit: bool


def _field_int(value: bytes) -> int:
    return int.from_bytes(value, "big")


def _generator_matches(curve: Curve, encoded: bytes) -> bool:
    size = curve.size
    if len(encoded) == 1 + 2 * size and encoded[0] == 0x04:
        return encoded == curve.encode(curve.g)
    if len(encoded) == 1 + size and encoded[0] in (0x02, 0x03):
        # Compressed generator: compare x and the parity of y, no square root needed.
        return encoded[0] == 0x02 + (curve.gy & 1) and _field_int(encoded[1:]) == curve.gx
    return False


def curve_from_specified(spec: keys.SpecifiedECDomain) -> Curve:
    """The named curve whose p, a, b, G, n and h equal these explicit parameters."""
    try:
        if spec["field_id"]["field_type"].native != "prime_field":
            raise TrustError(UNKNOWN_CURVE, "explicit parameters over a binary field")
        p = spec["field_id"]["parameters"].native
        a = _field_int(spec["curve"]["a"].native)
        b = _field_int(spec["curve"]["b"].native)
        base = spec["base"].native
        n = spec["order"].native
        h = spec["cofactor"].native
    except TrustError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise TrustError(UNKNOWN_CURVE, f"malformed explicit parameters "
                                        f"({type(exc).__name__})") from None
    if not isinstance(p, int) or not isinstance(base, bytes) or not isinstance(n, int):
        raise TrustError(UNKNOWN_CURVE, "malformed explicit parameters")
    for curve in NAMED_CURVES.values():
        if (curve.p, curve.a, curve.b, curve.n) != (p, a, b, n):
            continue
        # RFC 3279: cofactor is OPTIONAL; when present it must be the curve's.
        if h is not None and h != curve.h:
            break
        if not _generator_matches(curve, base):
            break
        return curve
    raise TrustError(UNKNOWN_CURVE, f"explicit {p.bit_length()}-bit prime-field parameters "
                                    "match no named curve (altered generator, order or "
                                    "coefficients?)")


def curve_for(params: keys.ECDomainParameters) -> CurveChoice:
    """The curve of an id-ecPublicKey AlgorithmIdentifier's parameters (named or explicit)."""
    try:
        kind = params.name
    except (ValueError, TypeError) as exc:
        raise TrustError(UNKNOWN_CURVE, f"malformed EC parameters ({type(exc).__name__})") \
            from None
    if kind == "named":
        oid = params.chosen.dotted
        name = CURVE_OIDS.get(oid)
        if name is None:
            raise TrustError(UNKNOWN_CURVE, f"named curve {oid} is not supported")
        return CurveChoice(NAMED_CURVES[name], explicit=False)
    if kind == "specified":
        return CurveChoice(curve_from_specified(params.chosen), explicit=True)
    raise TrustError(UNKNOWN_CURVE, "implicitCA parameters are not supported")
