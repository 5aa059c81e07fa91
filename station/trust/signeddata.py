"""CMS SignedData (RFC 5652) as EF.SOD and master lists use it: one signer, signed attributes.

:func:`open_signed_data` parses defensively; :func:`verify_signer` checks the content-type and
message-digest attributes and the signature over the DER of the attributes (§5.4: re-tagged as
SET OF). Failures are :class:`TrustError` with a reason code.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from asn1crypto import cms, core

from station.nfc.publickey import digest, hash_name
from station.reasons import (
    CONTENT_TYPE_MISMATCH,
    DSC_NOT_FOUND,
    MALFORMED_SOD,
    MESSAGE_DIGEST_MISMATCH,
    TrustError,
)
from station.trust.certs import Certificate, parse_certificate
from station.trust.names import same_rdns_in_any_order
from station.trust.signature import verify

OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
_ATTR_CONTENT_TYPE = "1.2.840.113549.1.9.3"
_ATTR_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
MAX_SIGNED_DATA_BYTES = 4 * 1024 * 1024  # a whole master list; an EF.SOD is a few KB


@dataclass(frozen=True, eq=False)
class SignedData:
    content_type: str
    content: bytes
    signer_info: cms.SignerInfo
    certificates: tuple[Certificate, ...]
    """Certificates carried in SignedData.certificates that parse (others are skipped)."""
    bad_certificates: int


def open_signed_data(der: bytes, content_type: str | Collection[str], what: str = "EF.SOD"
                     ) -> SignedData:
    """Parse a ContentInfo holding SignedData whose encapsulated content type is
    ``content_type`` (or one of them). BER as received: asn1crypto reads indefinite lengths
    (a New Zealand EF.SOD in gmrtd's test data has them on its five outer levels)."""
    accepted = (content_type,) if isinstance(content_type, str) else tuple(content_type)
    if len(der) > MAX_SIGNED_DATA_BYTES:
        raise TrustError(MALFORMED_SOD, f"{what}: {len(der)} bytes is absurd")
    try:
        info = cms.ContentInfo.load(der, strict=True)
        if info["content_type"].dotted != OID_SIGNED_DATA:
            raise TrustError(MALFORMED_SOD, f"{what} is not CMS SignedData")
        sd = info["content"]
        encap = sd["encap_content_info"]
        got_type = encap["content_type"].dotted
        if got_type not in accepted:
            raise TrustError(MALFORMED_SOD, f"{what} carries {got_type}, not "
                                            f"{' or '.join(accepted)}")
        content = encap["content"]
        if content is None or isinstance(content, core.Void):
            raise TrustError(MALFORMED_SOD, f"{what} has no encapsulated content")
        raw = content.native if isinstance(content, core.OctetString) else content.contents
        if not isinstance(raw, bytes):
            raise TrustError(MALFORMED_SOD, f"{what} content is not an OCTET STRING")
        signers = sd["signer_infos"]
        if len(signers) != 1:
            raise TrustError(MALFORMED_SOD, f"{what} has {len(signers)} signers, expected 1")
        certs: list[Certificate] = []
        bad = 0
        for choice in sd["certificates"] or []:
            if choice.name != "certificate":
                continue
            try:
                certs.append(parse_certificate(choice.chosen, f"{what} certificate"))
            except TrustError:
                bad += 1
        return SignedData(got_type, raw, signers[0], tuple(certs), bad)
    except TrustError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError,
            RecursionError) as exc:
        raise TrustError(MALFORMED_SOD, f"{what} is malformed ({type(exc).__name__})") from None


def signer_matches(sd: SignedData, cert: Certificate) -> bool:
    try:
        sid = sd.signer_info["sid"]
        if sid.name == "issuer_and_serial_number":
            ias = sid.chosen
            # The serial must be equal; the issuer may list its RDNs in another order (see
            # station.trust.names): the signature check that follows decides, not the name.
            return bool(ias["serial_number"].native == cert.serial
                        and same_rdns_in_any_order(ias["issuer"], cert.asn1.issuer))
        return cert.ski is not None and sid.chosen.native == cert.ski
    except (ValueError, TypeError, KeyError):
        return False


def find_signer(sd: SignedData, pool: Sequence[Certificate], what: str = "EF.SOD"
                ) -> tuple[Certificate, str]:
    """The signer's certificate: from SignedData.certificates, else from ``pool`` (the
    store's document signers). Returns it and where it came from ("sod" or "store")."""
    for cert in sd.certificates:
        if signer_matches(sd, cert):
            return cert, "sod"
    for cert in pool:
        if signer_matches(sd, cert):
            return cert, "store"
    extra = f" ({sd.bad_certificates} unreadable)" if sd.bad_certificates else ""
    raise TrustError(DSC_NOT_FOUND, f"{what}: the signer's certificate is neither in it"
                                    f"{extra} nor in the trust store")


def verify_signer(sd: SignedData, signer: Certificate) -> str:
    """Check the SignerInfo with ``signer``'s key; returns the signature algorithm."""
    si = sd.signer_info
    try:
        h = hash_name(si["digest_algorithm"])
        attrs = si["signed_attrs"]
        sig_alg = si["signature_algorithm"]
        signature = si["signature"].native
        if not attrs:
            # RFC 5652 §5.4: without signed attributes the signature covers the content.
            return verify(signer.key, sig_alg, signature, sd.content, digest_hint=h)
        content_types = [a["values"] for a in attrs if a["type"].dotted == _ATTR_CONTENT_TYPE]
        digests = [a["values"] for a in attrs if a["type"].dotted == _ATTR_MESSAGE_DIGEST]
        # §11.1/§11.2: exactly one attribute of each, with exactly one value.
        if (len(content_types) != 1 or len(content_types[0]) != 1
                or content_types[0][0].dotted != sd.content_type):
            raise TrustError(CONTENT_TYPE_MISMATCH, "signed content-type attribute does not "
                                                    "name the encapsulated content")
        if len(digests) != 1 or len(digests[0]) != 1:
            raise TrustError(MESSAGE_DIGEST_MISMATCH, "no single message-digest attribute")
        if digests[0][0].native != digest(h, sd.content):
            raise TrustError(MESSAGE_DIGEST_MISMATCH, "message digest does not match the "
                                                      "encapsulated content")
        signed = _set_of(attrs)
        return verify(signer.key, sig_alg, signature, signed, digest_hint=h)
    except TrustError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise TrustError(MALFORMED_SOD, f"SignerInfo is malformed ({type(exc).__name__})") \
            from None


def _set_of(attrs: cms.CMSAttributes) -> bytes:
    """The signed attributes as they were received, with the [0] IMPLICIT tag replaced by the
    universal SET OF tag (RFC 5652 §5.4) — never re-encoded, so a non-DER order still verifies
    exactly what the signer signed."""
    raw: bytes = attrs.dump()
    return b"\x31" + raw[1:]
