"""Explicit EC parameters map to named curves only when all of p, a, b, G, n, h match."""

from __future__ import annotations

import hashlib
import secrets
import shutil
import subprocess

import pytest
from asn1crypto import core, keys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from station import reasons as E
from station.nfc.crypto import Curve
from station.nfc.curves import CURVE_OIDS, NAMED_CURVES, curve_from_specified
from station.nfc.publickey import PublicKey, verify_ecdsa
from station.reasons import TrustError


def specified(curve: Curve, *, g: tuple[int, int] | None = None, n: int | None = None,
              b: int | None = None, h: int | None = None) -> keys.SpecifiedECDomain:
    size = curve.size
    gx, gy = g or curve.g
    value = {
        "version": "ecdpVer1",
        "field_id": {"field_type": "prime_field", "parameters": core.Integer(curve.p)},
        "curve": {"a": curve.a.to_bytes(size, "big"),
                  "b": (curve.b if b is None else b).to_bytes(size, "big")},
        "base": b"\x04" + gx.to_bytes(size, "big") + gy.to_bytes(size, "big"),
        "order": curve.n if n is None else n,
        "cofactor": curve.h if h is None else h,
    }
    return keys.SpecifiedECDomain(value)


@pytest.mark.parametrize("name", sorted(NAMED_CURVES))
def test_every_named_curve_maps_back(name: str) -> None:
    curve = NAMED_CURVES[name]
    assert curve.contains(curve.g)
    assert curve_from_specified(specified(curve)) is curve


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
@pytest.mark.parametrize("name", sorted(NAMED_CURVES))
def test_table_matches_openssl(name: str) -> None:
    ossl_name = {"secp192r1": "prime192v1", "secp256r1": "prime256v1"}.get(name, name)
    der = subprocess.run(["openssl", "ecparam", "-name", ossl_name, "-param_enc", "explicit",
                          "-outform", "DER"], capture_output=True, check=True).stdout
    params = keys.ECDomainParameters.load(der)
    assert curve_from_specified(params.chosen) is NAMED_CURVES[name]


def test_curveball_generator_is_refused() -> None:
    curve = NAMED_CURVES["brainpoolP512r1"]
    g2 = curve.mul(2, curve.g)
    assert g2 is not None
    with pytest.raises(TrustError) as exc:
        curve_from_specified(specified(curve, g=g2))
    assert exc.value.reason == E.UNKNOWN_CURVE


@pytest.mark.parametrize("change", ["n", "b", "h"])
def test_altered_parameters_are_refused(change: str) -> None:
    curve = NAMED_CURVES["brainpoolP256r1"]
    kwargs = {"n": curve.n + 2} if change == "n" else (
        {"b": curve.b ^ 1} if change == "b" else {"h": 4})
    with pytest.raises(TrustError) as exc:
        curve_from_specified(specified(curve, **kwargs))  # type: ignore[arg-type]
    assert exc.value.reason == E.UNKNOWN_CURVE


def test_curve_oids_name_known_curves() -> None:
    assert set(CURVE_OIDS.values()) == set(NAMED_CURVES)


def _sign_pure(curve: Curve, d: int, h: bytes) -> tuple[int, int]:
    n = curve.n
    e = int.from_bytes(h, "big") >> max(0, len(h) * 8 - n.bit_length())
    while True:
        k = secrets.randbelow(n - 1) + 1
        pt = curve.mul(k, curve.g)
        assert pt is not None
        r = pt[0] % n
        s = pow(k, -1, n) * (e + r * d) % n
        if r and s:
            return r, s


@pytest.mark.parametrize("name", ["brainpoolP224r1", "brainpoolP320r1", "brainpoolP160r1"])
def test_pure_ecdsa_on_curves_openssl_does_not_expose(name: str) -> None:
    curve = NAMED_CURVES[name]
    d = curve.random_scalar()
    key = PublicKey("ec", curve, curve.encode(curve.public_key(d)))
    data = b"signed attributes"
    r, s = _sign_pure(curve, d, hashlib.sha256(data).digest())
    verify_ecdsa(key, "sha256", r, s, data)
    with pytest.raises(TrustError) as exc:
        verify_ecdsa(key, "sha256", r, s, data + b"!")
    assert exc.value.reason == E.BAD_SIGNATURE


def test_pure_ecdsa_agrees_with_openssl() -> None:
    curve = NAMED_CURVES["brainpoolP256r1"]
    priv = ec.generate_private_key(ec.BrainpoolP256R1())
    point = priv.public_key().public_bytes(serialization.Encoding.X962,
                                           serialization.PublicFormat.UncompressedPoint)
    pure = PublicKey("ec", curve, point)  # no ec_key: the station's own arithmetic
    data = b"x" * 100
    r, s = decode_dss_signature(priv.sign(data, ec.ECDSA(hashes.SHA512())))
    verify_ecdsa(pure, "sha512", r, s, data)
    with pytest.raises(TrustError):
        verify_ecdsa(pure, "sha512", r, (s + 1) % curve.n, data)
