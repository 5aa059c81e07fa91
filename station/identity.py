"""The station's identity on disk, station side of provisioning (``station provision``).

- :func:`create` makes the Ed25519 signing key and the TLS client key + CSR (CN = station id)
  under ``<state_dir>/keys``, owned by the service user, 0600. It never replaces an existing
  identity unless asked to rotate: re-running the installer keeps the keys.
- :func:`install_certificate` installs the certificate the operator CA signed, after checking it
  is for this key and this station id and chains to the given CA.
- :func:`install_backend_key` installs the backend's X25519 sealing public key.
- :func:`install_trust` copies CSCA certificates and CMS master lists into the trust directory.

The operator side (CA, broker config, registry) is the ``provisioning`` package.
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from station import keys
from station.errors import KeyFormatError, ProvisioningError

# id-icao-mrtd-security-masterList (ICAO 9303-12 §9): the eContentType of a CSCA master list.
MASTER_LIST_OID = "2.23.136.1.1.2"


@dataclass(frozen=True)
class Identity:
    station_id: str
    signing_key_id: str
    """:func:`station.keys.key_id` of the signing public key (what the registry lists)."""
    csr: Path
    signing_public: Path
    created: bool
    """False when an existing identity was kept."""


def create(state_dir: Path, station_id: str, *, owner: tuple[int, int] | None = None,
           rotate: bool = False) -> Identity:
    paths = keys.KeyPaths.under(state_dir)
    keys.ensure_key_dir(paths.dir, owner=owner)
    signing_pub = paths.dir / "signing.pub.pem"
    have = paths.signing.exists() or paths.client_key.exists()
    if have and not rotate:
        signing = keys.load_signing_key(paths.signing,
                                        expect_uid=owner[0] if owner else None)
        tls = keys.load_tls_key(paths.client_key, expect_uid=owner[0] if owner else None)
        if paths.client_csr.exists():
            cn = keys.certificate_cn(keys.load_csr(paths.client_csr))
            if cn != station_id:
                raise ProvisioningError(
                    f"the existing identity is for station {cn!r}, not {station_id!r}; "
                    "use --rotate to make a new one")
        else:
            keys.save_public(_csr_pem(tls, station_id), paths.client_csr, owner=owner)
        if not signing_pub.exists():
            keys.save_public(keys.public_pem(signing.public_key()), signing_pub, owner=owner)
        return Identity(station_id, keys.key_id(signing.public_key()), paths.client_csr,
                        signing_pub, created=False)
    signing = keys.generate_signing_key()
    tls = keys.generate_tls_key()
    keys.save_private_key(signing, paths.signing, owner=owner)
    keys.save_private_key(tls, paths.client_key, owner=owner)
    keys.save_public(keys.public_pem(signing.public_key()), signing_pub, owner=owner)
    keys.save_public(_csr_pem(tls, station_id), paths.client_csr, owner=owner)
    # A certificate for the previous TLS key would no longer match: drop it.
    paths.client_cert.unlink(missing_ok=True)
    return Identity(station_id, keys.key_id(signing.public_key()), paths.client_csr,
                    signing_pub, created=True)


def _csr_pem(key: ec.EllipticCurvePrivateKey, station_id: str) -> bytes:
    return keys.build_csr(key, station_id).public_bytes(serialization.Encoding.PEM)


def install_certificate(state_dir: Path, station_id: str, cert_pem: bytes, ca_pem: bytes,
                        ca_dest: Path, *, owner: tuple[int, int] | None = None,
                        now: dt.datetime | None = None) -> x509.Certificate:
    """Check and install the signed client certificate and the broker CA."""
    paths = keys.KeyPaths.under(state_dir)
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        raise KeyFormatError("certificate", "is not a PEM X.509 certificate") from None
    try:
        ca = x509.load_pem_x509_certificate(ca_pem)
    except ValueError:
        raise KeyFormatError("CA certificate", "is not a PEM X.509 certificate") from None
    tls = keys.load_tls_key(paths.client_key, expect_uid=owner[0] if owner else None)
    if cert.public_key() != tls.public_key():
        raise ProvisioningError("the certificate is not for this station's TLS key "
                                "(signed from another CSR?)")
    if keys.certificate_cn(cert) != station_id:
        raise ProvisioningError(f"the certificate's CN is {keys.certificate_cn(cert)!r}, "
                                f"not the station id {station_id!r}")
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        raise ProvisioningError("the certificate was not issued by the given CA") from None
    when = now or dt.datetime.now(dt.UTC)
    if not (cert.not_valid_before_utc <= when <= cert.not_valid_after_utc):
        raise ProvisioningError(f"the certificate is not valid now (valid "
                                f"{cert.not_valid_before_utc:%Y-%m-%d} to "
                                f"{cert.not_valid_after_utc:%Y-%m-%d}); check the clock")
    keys.save_public(cert_pem, paths.client_cert, owner=owner)
    ca_dest.parent.mkdir(parents=True, exist_ok=True)
    keys.save_public(ca_pem, ca_dest)
    return cert


def install_backend_key(state_dir: Path, pem: bytes, *,
                        owner: tuple[int, int] | None = None) -> str:
    """Install the backend's sealing public key; returns its key id (to compare out of band)."""
    paths = keys.KeyPaths.under(state_dir)
    key = keys.parse_backend_seal_key(pem)
    keys.ensure_key_dir(paths.dir, owner=owner)
    keys.save_public(keys.public_pem(key), paths.backend_seal, owner=owner)
    return keys.key_id(key)


def classify_trust_file(data: bytes, name: str) -> str:
    """``"csca"`` for an X.509 certificate (PEM or DER), ``"masterlist"`` for a CMS master
    list; anything else is a :class:`KeyFormatError`. Full validation is the trust store's."""
    for loader in (x509.load_pem_x509_certificate, x509.load_der_x509_certificate):
        try:
            cert = loader(data)
        except ValueError:
            continue
        bc = _basic_constraints(cert)
        if bc is None or not bc.ca:
            raise KeyFormatError(name, "is a certificate but not a CA (no basicConstraints CA)")
        return "csca"
    from asn1crypto import cms

    try:
        info = cms.ContentInfo.load(data, strict=True)
        if info["content_type"].native != "signed_data":
            raise ValueError
        econtent = info["content"]["encap_content_info"]["content_type"].dotted
    except (ValueError, TypeError, KeyError):
        raise KeyFormatError(name, "is neither a CSCA certificate nor a CMS master list") from None
    if econtent != MASTER_LIST_OID:
        raise KeyFormatError(name, f"is CMS signed data but not a master list ({econtent})")
    return "masterlist"


def _basic_constraints(cert: x509.Certificate) -> x509.BasicConstraints | None:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return None


def install_trust(trust_dir: Path, files: list[Path]) -> dict[str, int]:
    """Copy CSCA certificates / master lists into ``trust_dir``; all are checked before any is
    copied, so a bad file leaves the store as it was. Returns counts by kind."""
    kinds: list[tuple[Path, str]] = []
    for f in files:
        try:
            data = f.read_bytes()
        except OSError as exc:
            raise KeyFormatError(str(f), f"cannot read: {exc.strerror}") from None
        kinds.append((f, classify_trust_file(data, str(f))))
    trust_dir.mkdir(parents=True, exist_ok=True)
    counts = {"csca": 0, "masterlist": 0}
    for f, kind in kinds:
        dest = trust_dir / f.name
        tmp = dest.with_name(f".{dest.name}.tmp")
        shutil.copyfile(f, tmp)
        tmp.chmod(keys.PUBLIC_MODE)
        tmp.replace(dest)
        counts[kind] += 1
    return counts
