"""ASN.1 structures of ICAO 9303 that asn1crypto does not ship.

- LDSSecurityObject (ICAO 9303-10 §4.6.2.2), the content of EF.SOD's SignedData.
- CscaMasterList (ICAO 9303-12 §9), the content of a master list's SignedData.
"""

from __future__ import annotations

from typing import Any, ClassVar

from asn1crypto import algos, core, x509

# id-icao-mrtd-security = 2.23.136.1.1
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
OID_CSCA_MASTER_LIST = "2.23.136.1.1.2"
OID_ML_SIGNING_KEY = "2.23.136.1.1.3"  # extendedKeyUsage of a Master List Signer


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


class CertificateSet(core.SetOf):  # type: ignore[misc]
    _child_spec = x509.Certificate


class CscaMasterList(core.Sequence):  # type: ignore[misc]
    """CscaMasterList ::= SEQUENCE { version CscaMasterListVersion (v0),
    certList SET OF Certificate }"""

    _fields: ClassVar[list[Any]] = [("version", core.Integer), ("cert_list", CertificateSet)]
