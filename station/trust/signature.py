"""Signature checks of certificates, CRLs and CMS SignedData (ICAO 9303-12 §4, RFC 5754/5758/
4055, BSI TR-03111): ECDSA with SHA-1…SHA-512 (DER or plain r‖s), RSA PKCS#1 v1.5, RSASSA-PSS,
on the keys :mod:`station.nfc.publickey` loads. Every failure is a :class:`TrustError` with a
reason code.
"""

from __future__ import annotations

from asn1crypto import algos
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import padding

from station.nfc.publickey import (
    ECDSA_PLAIN,
    PublicKey,
    der_to_rs,
    hash_algorithm,
    hash_name,
    plain_to_rs,
    verify_ecdsa,
)
from station.reasons import BAD_SIGNATURE, UNSUPPORTED_ALGORITHM, TrustError


def _pss(params: algos.RSASSAPSSParams) -> tuple[str, padding.PSS]:
    h = hash_name(params["hash_algorithm"])
    mgf = params["mask_gen_algorithm"]
    if mgf["algorithm"].native != "mgf1":
        raise TrustError(UNSUPPORTED_ALGORITHM, f"PSS mask generation {mgf['algorithm'].dotted}")
    mgf_hash = hash_name(mgf["parameters"])
    if params["trailer_field"].native not in ("trailer_field_bc", 1):
        raise TrustError(UNSUPPORTED_ALGORITHM, "PSS trailer field other than 1")
    salt = params["salt_length"].native
    if not isinstance(salt, int) or salt < 0 or salt > 1024:
        raise TrustError(UNSUPPORTED_ALGORITHM, "PSS salt length is absurd")
    return h, padding.PSS(mgf=padding.MGF1(hash_algorithm(mgf_hash)), salt_length=salt)


def verify(key: PublicKey, algorithm: algos.SignedDigestAlgorithm, signature: bytes,
           data: bytes, *, digest_hint: str | None = None) -> str:
    """Check ``signature`` over ``data``; returns the algorithm's description.

    ``digest_hint`` is the SignerInfo's digest algorithm, needed when the signature algorithm
    is bare ``rsaEncryption`` (RFC 5652 allows it and some issuers write it)."""
    try:
        oid = algorithm["algorithm"].dotted
        if oid in ECDSA_PLAIN:
            h = ECDSA_PLAIN[oid]
            if key.curve is None:
                raise TrustError(UNSUPPORTED_ALGORITHM, "plain ECDSA signature but RSA key")
            r, s = plain_to_rs(signature, key.curve)
            verify_ecdsa(key, h, r, s, data)
            return f"ECDSA-plain-{h.upper()}"
        sig_algo = algorithm.signature_algo
        if sig_algo == "ecdsa":
            h = algorithm.hash_algo
            r, s = der_to_rs(signature)
            verify_ecdsa(key, h, r, s, data)
            return f"ECDSA-{h.upper()}"
        if key.rsa_key is None:
            raise TrustError(UNSUPPORTED_ALGORITHM, f"{sig_algo} signature but "
                                                    f"{key.description} key")
        pad: padding.AsymmetricPadding
        if sig_algo == "rsassa_pss":
            h, pad = _pss(algorithm["parameters"])
            desc = f"RSASSA-PSS-{h.upper()}"
        elif sig_algo == "rsassa_pkcs1v15":
            if oid == "1.2.840.113549.1.1.1":
                if digest_hint is None:
                    raise TrustError(UNSUPPORTED_ALGORITHM, "rsaEncryption without a digest")
                h = digest_hint
            else:
                h = algorithm.hash_algo
            pad = padding.PKCS1v15()
            desc = f"RSA-PKCS1-{h.upper()}"
        else:
            raise TrustError(UNSUPPORTED_ALGORITHM, f"signature algorithm {oid}")
        try:
            key.rsa_key.verify(signature, data, pad, hash_algorithm(h))
        except InvalidSignature:
            raise TrustError(BAD_SIGNATURE, f"{desc} signature does not verify") from None
        return desc
    except TrustError:
        raise
    except (ValueError, TypeError, KeyError, UnsupportedAlgorithm) as exc:
        raise TrustError(UNSUPPORTED_ALGORITHM,
                         f"signature algorithm unusable ({type(exc).__name__})") from None
