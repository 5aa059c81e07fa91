"""ASN.1 structures of ICAO 9303 that asn1crypto does not ship, for trust: CscaMasterList
(ICAO 9303-12 §9), the content of a master list's SignedData. (EF.SOD's LDSSecurityObject is
:mod:`station.nfc.lds.security`'s.)
"""

from __future__ import annotations

from typing import Any, ClassVar

from asn1crypto import core, x509

# id-icao-mrtd-security = 2.23.136.1.1 (the LDSSecurityObject, 2.23.136.1.1.1, is
# station.nfc.lds.security's)
OID_CSCA_MASTER_LIST = "2.23.136.1.1.2"
OID_ML_SIGNING_KEY = "2.23.136.1.1.3"  # extendedKeyUsage of a Master List Signer


class CertificateSet(core.SetOf):  # type: ignore[misc]
    _child_spec = x509.Certificate


class CscaMasterList(core.Sequence):  # type: ignore[misc]
    """CscaMasterList ::= SEQUENCE { version CscaMasterListVersion (v0),
    certList SET OF Certificate }"""

    _fields: ClassVar[list[Any]] = [("version", core.Integer), ("cert_list", CertificateSet)]
