"""A small operator CA: the broker's CA, its server certificate, station client certificates.

Layout of the CA directory (``--dir``)::

    ca.key  ca.pem                 the CA (ECDSA P-384, 10 years); ca.key 0600
    server.key  server.pem         the broker's certificate (SAN = the broker names/addresses)
    ingest.key  ingest.pem         the backend's MQTT client certificate (CN = ingest);
                                   further backend identities (ingest-2, operator-…) beside it
    backend-seal.key  backend-seal.pub.pem   the backend's X25519 sealing key pair
    stations/<id>.pem              each signed station certificate
    registry.json                  station id → signing public key (see registry.py)
    crl.pem                        the CA's CRL (revoked stations; the broker's crlfile)

Station certificates carry only ``clientAuth``; the server certificate only ``serverAuth``, so
neither can stand in for the other. The CSR's subject is not trusted: the certificate is issued
for the station id the operator names, and refused if the CSR says otherwise.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from provisioning import mosquitto, registry
from station import keys
from station.errors import KeyFormatError, ProvisioningError

CA_DAYS = 3650
SERVER_DAYS = 825
STATION_DAYS = 730


def _name(cn: str, org: str = "station deployment") -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass(frozen=True)
class CaPaths:
    dir: Path

    @property
    def ca_key(self) -> Path:
        return self.dir / "ca.key"

    @property
    def ca_cert(self) -> Path:
        return self.dir / "ca.pem"

    @property
    def server_key(self) -> Path:
        return self.dir / "server.key"

    @property
    def server_cert(self) -> Path:
        return self.dir / "server.pem"

    @property
    def registry(self) -> Path:
        return self.dir / "registry.json"

    @property
    def seal_key(self) -> Path:
        return self.dir / "backend-seal.key"

    @property
    def seal_public(self) -> Path:
        return self.dir / "backend-seal.pub.pem"

    def client(self, cn: str) -> tuple[Path, Path]:
        return self.dir / f"{cn}.pem", self.dir / f"{cn}.key"

    def station_cert(self, station_id: str) -> Path:
        return self.dir / "stations" / f"{station_id}.pem"

    @property
    def crl(self) -> Path:
        return self.dir / "crl.pem"


class OperatorCa:
    def __init__(self, directory: Path) -> None:
        self.paths = CaPaths(Path(directory))
        self.key = keys.load_tls_key(self.paths.ca_key)
        self.cert = keys.load_certificate(self.paths.ca_cert)

    @classmethod
    def create(cls, directory: Path, *, name: str = "station broker CA",
               now: dt.datetime | None = None) -> OperatorCa:
        paths = CaPaths(Path(directory))
        if paths.ca_key.exists():
            raise ProvisioningError(f"{paths.ca_key} exists: refusing to replace a CA")
        keys.ensure_key_dir(paths.dir)
        key = ec.generate_private_key(ec.SECP384R1())
        start = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(minutes=5)
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name)).issuer_name(_name(name))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=True, crl_sign=True,
                                         encipher_only=False, decipher_only=False),
                           critical=True)
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA384())
        )
        keys.save_private_key(key, paths.ca_key)
        keys.save_public(cert.public_bytes(serialization.Encoding.PEM), paths.ca_cert)
        return cls(paths.dir)

    def _issue(self, subject: x509.Name, public_key: ec.EllipticCurvePublicKey, *, days: int,
               usage: x509.ObjectIdentifier, san: list[x509.GeneralName] | None = None,
               now: dt.datetime | None = None) -> x509.Certificate:
        start = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(minutes=5)
        end = min(start + dt.timedelta(days=days), self.cert.not_valid_after_utc)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject).issuer_name(self.cert.subject)
            .public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=True, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.key.public_key()), critical=False)
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return builder.sign(self.key, hashes.SHA384())

    def issue_server(self, names: list[str], *, days: int = SERVER_DAYS) -> Path:
        """The broker's key and certificate; ``names`` are DNS names or IP addresses."""
        if not names:
            raise ProvisioningError("the broker certificate needs at least one name")
        san: list[x509.GeneralName] = []
        for n in names:
            try:
                san.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                san.append(x509.DNSName(n))
        key = ec.generate_private_key(ec.SECP256R1())
        cert = self._issue(_name(names[0]), key.public_key(), days=days, san=san,
                           usage=ExtendedKeyUsageOID.SERVER_AUTH)
        keys.save_private_key(key, self.paths.server_key)
        keys.save_public(cert.public_bytes(serialization.Encoding.PEM), self.paths.server_cert)
        return self.paths.server_cert

    def issue_client(self, cn: str, *, days: int = STATION_DAYS) -> tuple[Path, Path]:
        """A backend identity's key + certificate, made here (the backend's key may live here).
        Only reserved backend names (:func:`provisioning.mosquitto.is_backend_name`): the
        broker grants the backend role by name, and ``sign`` never issues such a name."""
        if not mosquitto.is_backend_name(cn):
            raise ProvisioningError(f"{cn!r} is not a backend name (ingest, ingest-N, "
                                    "operator-N, …); stations are signed with `sign`")
        if self.paths.client(cn)[0].exists():
            raise ProvisioningError(f"backend identity {cn!r} exists")
        key = ec.generate_private_key(ec.SECP256R1())
        cert = self._issue(_name(cn), key.public_key(), days=days,
                           usage=ExtendedKeyUsageOID.CLIENT_AUTH)
        cert_path, key_path = self.paths.client(cn)
        keys.save_private_key(key, key_path)
        keys.save_public(cert.public_bytes(serialization.Encoding.PEM), cert_path)
        return cert_path, key_path

    def sign_station(self, station_id: str, csr_pem: bytes, signing_public_pem: bytes, *,
                     days: int = STATION_DAYS, now: dt.datetime | None = None) -> Path:
        """Sign a station's CSR and record its signing public key in the registry."""
        if not keys.valid_station_id(station_id):
            # '+', '#' or '/' in a username would widen the broker's topic grants.
            raise ProvisioningError("a station id is letters, digits, '-' or '_'")
        if mosquitto.is_backend_name(station_id):
            # A station certificate named like the backend would get the backend's grants
            # (every station's records, forged receipts and commands): issue 17, attack 2.
            raise ProvisioningError(f"{station_id!r} is reserved for backend identities")
        if (known := registry.load(self.paths.registry).get(station_id)) is not None \
                and known.revoked_at:
            raise ProvisioningError(f"station {station_id!r} is revoked; `unrevoke` it first")
        try:
            csr = x509.load_pem_x509_csr(csr_pem)
        except ValueError:
            raise KeyFormatError("CSR", "is not a PEM certificate signing request") from None
        if not csr.is_signature_valid:
            raise ProvisioningError("the CSR's signature does not verify")
        if keys.certificate_cn(csr) != station_id:
            raise ProvisioningError(f"the CSR is for {keys.certificate_cn(csr)!r}, "
                                    f"not {station_id!r}")
        public = csr.public_key()
        if not isinstance(public, ec.EllipticCurvePublicKey):
            raise ProvisioningError("the CSR's key is not an EC key")
        signing = keys.parse_signing_public_key(signing_public_pem)
        entries = registry.load(self.paths.registry)
        known = entries.get(station_id)
        if known is not None and known.key_id != keys.key_id(signing):
            # Rotation is allowed but must be deliberate: the operator signs again with --rotate.
            raise ProvisioningError(f"station {station_id!r} is registered with another "
                                    "signing key; pass --rotate to replace it")
        cert = self._issue(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, station_id)]),
                           public, days=days, usage=ExtendedKeyUsageOID.CLIENT_AUTH, now=now)
        dest = self.paths.station_cert(station_id)
        dest.parent.mkdir(parents=True, exist_ok=True)
        keys.save_public(cert.public_bytes(serialization.Encoding.PEM), dest)
        entries[station_id] = registry.RegistryEntry(
            signing_key=keys.public_pem(signing).decode(), key_id=keys.key_id(signing),
            tls_serial=f"{cert.serial_number:x}",
            tls_not_after=cert.not_valid_after_utc.isoformat())
        registry.save(self.paths.registry, entries)
        return dest

    def backends(self) -> list[str]:
        """The backend identities made here (``<name>.pem`` beside the CA)."""
        return sorted(p.stem for p in self.paths.dir.glob("*.pem")
                      if mosquitto.is_backend_name(p.stem))

    def set_revoked(self, station_id: str, revoked: bool, *,
                    now: dt.datetime | None = None) -> None:
        """Mark a station revoked (or not) in the registry and write the CRL anew."""
        entries = registry.load(self.paths.registry)
        entry = entries.get(station_id)
        if entry is None:
            raise ProvisioningError(f"no registered station {station_id!r}")
        when = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
        entries[station_id] = dataclasses.replace(
            entry, revoked_at=when.isoformat() if revoked else None)
        registry.save(self.paths.registry, entries)
        self.write_crl(now=now)

    def write_crl(self, *, now: dt.datetime | None = None, days: int = 30) -> Path:
        """The CA's CRL listing every revoked station's certificate. Mosquitto's ``crlfile``
        makes OpenSSL check it for every client, so it always exists (empty at first); renew
        it before ``nextUpdate`` (re-running `python -m provisioning mosquitto` does)."""
        start = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(minutes=5)
        builder = (x509.CertificateRevocationListBuilder()
                   .issuer_name(self.cert.subject)
                   .last_update(start).next_update(start + dt.timedelta(days=days)))
        for entry in registry.load(self.paths.registry).values():
            if entry.revoked_at:
                builder = builder.add_revoked_certificate(
                    x509.RevokedCertificateBuilder()
                    .serial_number(int(entry.tls_serial, 16))
                    .revocation_date(dt.datetime.fromisoformat(entry.revoked_at)).build())
        crl = builder.sign(self.key, hashes.SHA384())
        keys.save_public(crl.public_bytes(serialization.Encoding.PEM), self.paths.crl)
        return self.paths.crl

    def forget_station(self, station_id: str) -> None:
        """Drop a station from the registry (before re-signing a rotated identity)."""
        entries = registry.load(self.paths.registry)
        entries.pop(station_id, None)
        registry.save(self.paths.registry, entries)

    def create_seal_key(self) -> str:
        """The backend's X25519 sealing key pair; returns the public key's id."""
        if self.paths.seal_key.exists():
            raise ProvisioningError(f"{self.paths.seal_key} exists: refusing to replace it "
                                    "(records sealed to it could no longer be opened)")
        key = keys.generate_seal_key()
        keys.save_private_key(key, self.paths.seal_key)
        keys.save_public(keys.public_pem(key.public_key()), self.paths.seal_public)
        return keys.key_id(key.public_key())
