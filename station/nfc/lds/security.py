"""DG14 (SecurityInfos for chip authentication), DG15 (active-authentication public key) and
EF.SOD (the document security object: structure only — verifying it is the trust package's)."""

from __future__ import annotations

from dataclasses import dataclass

from station.errors import LdsFormatError, ProtocolError
from station.nfc import tlv
from station.nfc.crypto import decode_oid
from station.nfc.lds.secinfo import SecurityInfos, parse_security_infos
from station.trust.asn1 import LDS_SECURITY_OBJECT_CONTENT_TYPES

_HASHES = {
    "1.3.14.3.2.26": "sha1", "2.16.840.1.101.3.4.2.4": "sha224",
    "2.16.840.1.101.3.4.2.1": "sha256", "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}


def parse_dg14(data: bytes) -> SecurityInfos:
    root = tlv.decode(data, trailing=True)
    if root.tag != 0x6E:
        raise LdsFormatError("DG14 does not start with tag 6E")
    return parse_security_infos(root.value)


def parse_dg15(data: bytes) -> bytes:
    """The DER SubjectPublicKeyInfo of the active-authentication key."""
    root = tlv.decode(data, trailing=True)
    if root.tag != 0x6F:
        raise LdsFormatError("DG15 does not start with tag 6F")
    spki = tlv.decode(root.value)
    if spki.tag != 0x30:
        raise LdsFormatError("DG15 does not hold a SubjectPublicKeyInfo")
    return spki.encode()


@dataclass(frozen=True)
class Sod:
    hash_algorithm: str
    dg_hashes: dict[int, bytes]
    signed_data: bytes
    """The CMS ContentInfo (DER), for passive authentication."""


def parse_sod(data: bytes) -> Sod:
    from asn1crypto import cms

    root = tlv.decode(data, trailing=True)
    if root.tag != 0x77:
        raise LdsFormatError("EF.SOD does not start with tag 77")
    try:
        info = cms.ContentInfo.load(root.value)
        if info["content_type"].dotted != "1.2.840.113549.1.7.2":
            raise LdsFormatError("EF.SOD is not CMS SignedData")
        encap = info["content"]["encap_content_info"]
        # The content types real EF.SODs use for it (passive authentication accepts the same).
        if encap["content_type"].dotted not in LDS_SECURITY_OBJECT_CONTENT_TYPES:
            raise LdsFormatError("EF.SOD does not carry an LDSSecurityObject")
        lso = encap["content"].native
    except LdsFormatError:
        raise
    except Exception as exc:  # asn1crypto raises ValueError/TypeError on malformed DER
        raise LdsFormatError(f"EF.SOD is malformed: {type(exc).__name__}") from None
    if not isinstance(lso, bytes):
        raise LdsFormatError("EF.SOD LDSSecurityObject is not an OCTET STRING")
    seq = tlv.decode(lso)
    parts = seq.children()
    if len(parts) < 3:
        raise LdsFormatError("LDSSecurityObject is too short")
    alg = parts[1].require(0x06).value
    try:
        alg_oid = decode_oid(alg)
    except ProtocolError as exc:
        raise LdsFormatError(f"LDSSecurityObject: {exc}") from None
    hashes: dict[int, bytes] = {}
    for item in parts[2].children():
        # DataGroupHash ::= SEQUENCE { dataGroupNumber INTEGER, dataGroupHashValue OCTET STRING }
        fields = item.children()
        if len(fields) != 2 or fields[0].tag != 0x02 or fields[1].tag != 0x04:
            raise LdsFormatError("LDSSecurityObject: a DataGroupHash is not (INTEGER, OCTET "
                                 "STRING)")
        hashes[int.from_bytes(fields[0].value, "big")] = fields[1].value
    return Sod(_HASHES.get(alg_oid, alg_oid), hashes, root.value)
