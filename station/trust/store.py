"""The CSCA trust store: a directory of certificates, CSCA master lists and CRLs.

- Loose CA certificates (PEM or DER, any name) are trust anchors: the operator put them there.
  Loose non-CA certificates are Document Signers, used when an EF.SOD does not carry its DSC.
- Master lists (ICAO 9303-12 §9, CMS) are accepted only when their signature verifies with the
  Master List Signer certificate, that signer carries the master-list-signer extended key usage
  (2.23.136.1.1.3, 9303-12 §4.4: a Document Signer of a trusted CSCA is not one), is valid now,
  *and* was issued by a loose CSCA certificate (a CA for certificate signing): a master list
  cannot vouch for itself. The CSCAs it lists become anchors.
- CRLs count only when signed by a CSCA of the store; a DSC is revoked when a CRL verified by
  the very key that issued the DSC lists its serial.

The store is an immutable value, loaded once (:meth:`TrustStore.load`); :class:`TrustStoreRef`
swaps in a freshly loaded one on reload, so a verification in flight keeps a consistent store.
Files that cannot be used are listed in ``problems`` (file name and reason), never fatal.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from asn1crypto import pem

from station.reasons import (
    KEY_USAGE,
    MALFORMED_SOD,
    NOT_MASTER_LIST_SIGNER,
    UNTRUSTED_CSCA,
    TrustError,
)
from station.trust.asn1 import OID_CSCA_MASTER_LIST, OID_ML_SIGNING_KEY, CscaMasterList
from station.trust.certs import Certificate, Crl, parse_certificate, parse_crl
from station.trust.signeddata import (
    find_signer,
    open_signed_data,
    verify_signer,
)

MAX_FILE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class MasterList:
    source: str
    signer: Certificate
    anchor: Certificate
    cscas: tuple[Certificate, ...]
    skipped: int
    """Entries that did not parse or whose key is unusable."""


@dataclass(frozen=True)
class TrustStore:
    path: str
    cscas: tuple[Certificate, ...] = ()
    dscs: tuple[Certificate, ...] = ()
    crls: tuple[Crl, ...] = ()
    master_lists: tuple[MasterList, ...] = ()
    problems: tuple[tuple[str, str], ...] = ()
    loaded_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    # --- lookups --------------------------------------------------------------------------

    def issuer_candidates(self, cert: Certificate) -> list[Certificate]:
        """CSCAs that may have issued ``cert``: matching key identifier first, then matching
        name. Candidates only — the caller verifies the signature."""
        by_key = [c for c in self.cscas if cert.aki is not None and c.ski == cert.aki]
        by_name = [c for c in self.cscas
                   if c not in by_key and c.asn1.subject == cert.asn1.issuer]
        return by_key + by_name

    def issuer_of(self, cert: Certificate) -> tuple[Certificate, str]:
        """The CSCA whose key verifies ``cert``'s signature, and the signature algorithm."""
        last: TrustError | None = None
        for csca in self.issuer_candidates(cert):
            try:
                return csca, cert.signed_by(csca)
            except TrustError as exc:
                last = exc
        if last is not None:
            raise TrustError(UNTRUSTED_CSCA, f"no CSCA in the store verifies the signature of "
                                             f"certificate serial {cert.serial:X} "
                                             f"({last.detail})")
        raise TrustError(UNTRUSTED_CSCA, f"no CSCA in the store for issuer of certificate "
                                         f"serial {cert.serial:X}")

    def revoked_by(self, cert: Certificate, issuer: Certificate) -> Crl | None:
        for crl in self.crls:
            if crl.issuer.key_id == issuer.key_id and cert.serial in crl.revoked:
                return crl
        return None

    def crls_for(self, issuer: Certificate) -> list[Crl]:
        """Every CRL the key of ``issuer`` signed."""
        return [crl for crl in self.crls if crl.issuer.key_id == issuer.key_id]

    # --- loading --------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path) -> TrustStore:
        """Load every regular, non-hidden file under ``path`` (not recursive)."""
        root = Path(path)
        if not root.is_dir():
            raise TrustError("no-trust-store", f"{root} is not a directory")
        anchors: list[Certificate] = []
        dscs: list[Certificate] = []
        lists: list[tuple[str, bytes]] = []
        crl_blobs: list[tuple[str, bytes]] = []
        problems: list[tuple[str, str]] = []
        for f in sorted(root.iterdir()):
            if f.name.startswith(".") or not f.is_file():
                continue
            try:
                if f.stat().st_size > MAX_FILE_BYTES:
                    problems.append((f.name, "larger than 8 MiB"))
                    continue
                data = f.read_bytes()
            except OSError as exc:
                problems.append((f.name, f"unreadable: {exc.strerror}"))
                continue
            for kind, der in _blocks(data):
                try:
                    if kind == "certificate":
                        cert = parse_certificate(der, f.name)
                        (anchors if cert.is_ca else dscs).append(cert)
                    elif kind == "crl":
                        crl_blobs.append((f.name, der))
                    elif kind == "cms":
                        lists.append((f.name, der))
                    else:
                        problems.append((f.name, "neither a certificate, a CRL nor a master "
                                                 "list"))
                except TrustError as exc:
                    problems.append((f.name, str(exc)))
        cscas = list(anchors)
        master_lists: list[MasterList] = []
        for name, der in lists:
            try:
                ml = verify_master_list(der, anchors, name)
            except TrustError as exc:
                problems.append((name, str(exc)))
                continue
            master_lists.append(ml)
            known = {c.fingerprint for c in cscas}
            cscas.extend(c for c in ml.cscas if c.fingerprint not in known)
        crls: list[Crl] = []
        for name, der in crl_blobs:
            try:
                crls.append(parse_crl(der, [c for c in cscas], name))
            except TrustError as exc:
                problems.append((name, str(exc)))
        return cls(str(root), tuple(cscas), tuple(dscs), tuple(crls), tuple(master_lists),
                   tuple(problems))


def _blocks(data: bytes) -> Iterable[tuple[str, bytes]]:
    """(kind, DER) for each object in a file: PEM blocks or one DER object."""
    if pem.detect(data):
        try:
            for label, _headers, der in pem.unarmor(data, multiple=True):
                yield _kind_of_label(label), der
        except ValueError:
            yield "unknown", b""
        return
    yield _kind_of_der(data), data


def _kind_of_label(label: str) -> str:
    if label in ("CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"):
        return "certificate"
    if label == "X509 CRL":
        return "crl"
    if label in ("CMS", "PKCS7"):
        return "cms"
    return "unknown"


OID_SIGNED_DATA_DER = bytes.fromhex("06092a864886f70d010702")


def _kind_of_der(data: bytes) -> str:
    """A CMS ContentInfo names signedData in its first bytes; otherwise whichever of
    Certificate and CertificateList parses (asn1crypto parses lazily: touch the fields)."""
    from asn1crypto import crl as a_crl
    from asn1crypto import x509 as a_x509

    if OID_SIGNED_DATA_DER in data[:24]:
        return "cms"
    try:
        cert = a_x509.Certificate.load(data, strict=True)
        tbs = cert["tbs_certificate"]
        tbs["validity"].native  # noqa: B018 - forces the parse
        tbs["subject_public_key_info"]["algorithm"].native  # noqa: B018
        return "certificate"
    except (ValueError, TypeError, KeyError):
        pass
    try:
        crl = a_crl.CertificateList.load(data, strict=True)
        crl["tbs_cert_list"]["this_update"].native  # noqa: B018
        return "crl"
    except (ValueError, TypeError, KeyError):
        return "unknown"


def verify_master_list(der: bytes, anchors: list[Certificate], source: str = "") -> MasterList:
    """Verify a CSCA master list: CMS signature by its Master List Signer, and that signer
    issued by one of ``anchors``. Returns the CSCAs it lists."""
    what = f"master list {source}".strip()
    sd = open_signed_data(der, OID_CSCA_MASTER_LIST, what)
    signer, _where = find_signer(sd, (), what)
    verify_signer(sd, signer)
    if OID_ML_SIGNING_KEY not in signer.extended_key_usage:
        raise TrustError(NOT_MASTER_LIST_SIGNER,
                         f"{what}: its signer (serial {signer.serial:X}) lacks the master list "
                         "signer extended key usage 2.23.136.1.1.3 (ICAO 9303-12 §4.4); a "
                         "Document Signer cannot publish CSCAs")
    if signer.key_usage and "digital_signature" not in signer.key_usage:
        raise TrustError(KEY_USAGE, f"{what}: its signer's key usage lacks digitalSignature")
    anchor: Certificate | None = None
    last: TrustError | None = None
    for csca in anchors:
        if not csca.is_ca or (csca.key_usage and "key_cert_sign" not in csca.key_usage):
            continue
        if (signer.aki is not None and csca.ski == signer.aki) or \
                csca.asn1.subject == signer.asn1.issuer:
            try:
                signer.signed_by(csca)
                anchor = csca
                break
            except TrustError as exc:
                last = exc
    if anchor is None:
        detail = f" ({last.detail})" if last else ""
        raise TrustError(UNTRUSTED_CSCA, f"{what}: its signer was not issued by a CSCA "
                                         f"certificate in the store{detail}; import the "
                                         "issuing country's CSCA certificate first")
    now = dt.datetime.now(dt.UTC)
    signer.valid_at(now)
    try:
        content = CscaMasterList.load(sd.content, strict=True)
        entries = list(content["cert_list"])
    except (ValueError, TypeError, KeyError) as exc:
        raise TrustError(MALFORMED_SOD, f"{what}: content is malformed "
                                        f"({type(exc).__name__})") from None
    cscas: list[Certificate] = []
    skipped = 0
    for entry in entries:
        try:
            cscas.append(parse_certificate(entry, source))
        except TrustError:
            skipped += 1
    return MasterList(source, signer, anchor, tuple(cscas), skipped)


class TrustStoreRef:
    """The current store, reloadable (e.g. on SIGHUP or after ``station trust import``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._store = TrustStore.load(self.path)

    @property
    def current(self) -> TrustStore:
        return self._store

    def reload(self) -> TrustStore:
        store = TrustStore.load(self.path)
        with self._lock:
            self._store = store
        return store
