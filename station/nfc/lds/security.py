"""DG14 (SecurityInfos for chip authentication), DG15 (active-authentication public key) and
EF.SOD, the document security object: its structure (ICAO 9303-10 §4.6.2.2 LDSSecurityObject in
CMS SignedData), parsed here once for the reader and for passive authentication
(:mod:`station.trust.pa`, which verifies the signature over it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from asn1crypto import algos, cms, core

from station.errors import LdsFormatError
from station.nfc import tlv
from station.nfc.lds.secinfo import SecurityInfos, parse_security_infos
from station.nfc.publickey import digest, hash_name
from station.reasons import MALFORMED_SOD, TrustError

MAX_SOD_BYTES = 64 * 1024

OID_LDS_SECURITY_OBJECT = "2.23.136.1.1.1"
LDS_SECURITY_OBJECT_CONTENT_TYPES = (
    OID_LDS_SECURITY_OBJECT,
    # Seen on real EF.SODs (gmrtd's public test data; gmrtd accepts all four): id-data on a
    # Chinese passport, and two pre-ICAO identifiers for the same LDSSecurityObject — the
    # content is parsed as an LDSSecurityObject either way, and the signed content-type
    # attribute must name the same OID.
    "1.2.840.113549.1.7.1",  # id-data (RFC 5652 §4), CN
    "1.3.27.1.1.1",  # legacy ICAO LDS security object (BE, FR per gmrtd)
    "1.2.528.1.1006.1.20.1",  # Sdu (NL)
)


class DataGroupHash(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[Any]] = [
        ("data_group_number", core.Integer),
        ("data_group_hash_value", core.OctetString),
    ]


class DataGroupHashValues(core.SequenceOf):  # type: ignore[misc]
    _child_spec = DataGroupHash


class LdsVersionInfo(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[Any]] = [
        ("lds_version", core.PrintableString),
        ("unicode_version", core.PrintableString),
    ]


class LdsSecurityObject(core.Sequence):  # type: ignore[misc]
    """Version 0, or 1 with ldsVersionInfo."""

    _fields: ClassVar[list[Any]] = [
        ("version", core.Integer),
        ("hash_algorithm", algos.DigestAlgorithm),
        ("data_group_hash_values", DataGroupHashValues),
        ("lds_version_info", LdsVersionInfo, {"optional": True}),
    ]


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
class LdsSecurity:
    """The LDSSecurityObject: the hash algorithm and each listed data group's hash."""

    hash_algorithm: str
    dg_hashes: dict[int, bytes]
    version: int


def parse_lds_security_object(der: bytes) -> LdsSecurity:
    """Strictly: version 0 or 1, a known digest, data groups 1–16 each listed once with a hash
    of the digest's size. :class:`~station.reasons.TrustError` (``malformed-sod``, or
    ``unsupported-algorithm`` for an unknown digest) otherwise."""
    try:
        lso = LdsSecurityObject.load(der, strict=True)
        version = lso["version"].native
        if version not in (0, 1):
            raise TrustError(MALFORMED_SOD, f"LDSSecurityObject version {version}")
        h = hash_name(lso["hash_algorithm"])
        size = len(digest(h, b""))
        hashes: dict[int, bytes] = {}
        for item in lso["data_group_hash_values"]:
            number = item["data_group_number"].native
            value = item["data_group_hash_value"].native
            if not isinstance(number, int) or not 1 <= number <= 16:
                raise TrustError(MALFORMED_SOD, f"data group number {number}")
            if number in hashes:
                raise TrustError(MALFORMED_SOD, f"DG{number} is listed twice")
            if not isinstance(value, bytes) or len(value) != size:
                raise TrustError(MALFORMED_SOD, f"DG{number} hash is not a {h} value")
            hashes[number] = value
        return LdsSecurity(h, hashes, version)
    except TrustError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        raise TrustError(MALFORMED_SOD, f"LDSSecurityObject is malformed "
                                        f"({type(exc).__name__})") from None


@dataclass(frozen=True)
class Sod:
    hash_algorithm: str
    dg_hashes: dict[int, bytes]
    signed_data: bytes
    """The CMS ContentInfo (DER), for passive authentication."""
    version: int = 0


def sod_content_info(data: bytes) -> bytes:
    """The CMS ContentInfo inside EF.SOD's tag 77 (ICAO 9303-10 §4.6.2), size-checked;
    ``malformed-sod`` otherwise."""
    if len(data) > MAX_SOD_BYTES:
        raise TrustError(MALFORMED_SOD, f"EF.SOD of {len(data)} bytes is absurd")
    try:
        outer = tlv.decode(data, trailing=True)
    except Exception:
        raise TrustError(MALFORMED_SOD, "EF.SOD is not a BER-TLV object") from None
    if outer.tag != 0x77:
        raise TrustError(MALFORMED_SOD, "EF.SOD does not start with tag 77")
    return outer.value


def parse_sod(data: bytes) -> Sod:
    """EF.SOD's structure (its signature is passive authentication's to check):
    :class:`~station.errors.LdsFormatError` when it is not one."""
    try:
        content_info = sod_content_info(data)
    except TrustError as exc:
        raise LdsFormatError(exc.detail) from None
    try:
        info = cms.ContentInfo.load(content_info)
        if info["content_type"].dotted != "1.2.840.113549.1.7.2":
            raise LdsFormatError("EF.SOD is not CMS SignedData")
        encap = info["content"]["encap_content_info"]
        if encap["content_type"].dotted not in LDS_SECURITY_OBJECT_CONTENT_TYPES:
            raise LdsFormatError("EF.SOD does not carry an LDSSecurityObject")
        lso = encap["content"].native
    except LdsFormatError:
        raise
    except Exception as exc:  # asn1crypto raises ValueError/TypeError on malformed DER
        raise LdsFormatError(f"EF.SOD is malformed: {type(exc).__name__}") from None
    if not isinstance(lso, bytes):
        raise LdsFormatError("EF.SOD LDSSecurityObject is not an OCTET STRING")
    try:
        parsed = parse_lds_security_object(lso)
    except TrustError as exc:
        raise LdsFormatError(f"EF.SOD {exc.detail}") from None
    return Sod(parsed.hash_algorithm, parsed.dg_hashes, content_info, parsed.version)
