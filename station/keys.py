"""The station's keys on disk: generate, save with safe permissions, load with a permission check.

Layout under ``<state_dir>/keys/`` (see :class:`KeyPaths`):

- ``signing.pem`` — the station's Ed25519 record-signing key, PKCS#8 PEM, mode 0600.
- ``backend-seal.pub.pem`` — the backend's X25519 public key (SubjectPublicKeyInfo PEM) that
  citizen data is sealed to (HPKE); public, mode 0644.
- ``client.key`` / ``client.csr`` / ``client.pem`` — the TLS client key (ECDSA P-256, PKCS#8,
  0600), its CSR with the station id as subject CN (Mosquitto's ``use_identity_as_username``) and
  the certificate the operator CA signed.

Private keys are written atomically (temporary file created 0600, fsync, rename) so a power cut
leaves either the old key or the new one, never half a key nor a moment where it is readable.
A private key is refused on load when group/others may read or write it, or when it belongs to
another user than the loading process (root may load any owner's key: ``station doctor`` runs
as root). Errors name the file and the problem, never key material; nothing here logs.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519
from cryptography.x509.oid import NameOID

from station.errors import KeyFormatError, KeyMissing, KeyStoreError, UnsafeKeyFile

PRIVATE_MODE = 0o600
PUBLIC_MODE = 0o644
DIR_MODE = 0o700


@dataclass(frozen=True)
class KeyPaths:
    """Where each key lives; build with :meth:`under` from the station's state directory."""

    dir: Path
    signing: Path
    backend_seal: Path
    client_key: Path
    client_csr: Path
    client_cert: Path

    @classmethod
    def under(cls, state_dir: Path | str) -> KeyPaths:
        d = Path(state_dir) / "keys"
        return cls(dir=d, signing=d / "signing.pem", backend_seal=d / "backend-seal.pub.pem",
                   client_key=d / "client.key", client_csr=d / "client.csr",
                   client_cert=d / "client.pem")


# --- generation -----------------------------------------------------------------------------


def generate_signing_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def generate_tls_key() -> ec.EllipticCurvePrivateKey:
    # P-256: what every Mosquitto/OpenSSL build and the Pi's TLS offload handle well.
    return ec.generate_private_key(ec.SECP256R1())


def generate_seal_key() -> x25519.X25519PrivateKey:
    """The backend's sealing key pair (made by the operator/backend, never on a station)."""
    return x25519.X25519PrivateKey.generate()


def valid_station_id(station_id: str) -> bool:
    """Letters, digits, '-' and '_' only: the id becomes an MQTT username and topic level."""
    return bool(station_id) and len(station_id) <= 64 and all(
        c.isascii() and (c.isalnum() or c in "-_") for c in station_id)


def build_csr(key: ec.EllipticCurvePrivateKey, station_id: str) -> x509.CertificateSigningRequest:
    """A CSR whose subject CN is the station id: the broker maps it to the MQTT username."""
    if not valid_station_id(station_id):
        raise ValueError("station id must be letters, digits, '-' or '_'")
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, station_id)])
    return (x509.CertificateSigningRequestBuilder().subject_name(subject)
            .sign(key, hashes.SHA256()))


def key_id(public_key: ed25519.Ed25519PublicKey | x25519.X25519PublicKey) -> str:
    """A short stable fingerprint (SHA-256 of the raw public key, 16 hex digits) for logs and
    the registry: identifies a key without revealing anything secret."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


# --- encoding -------------------------------------------------------------------------------


def private_pem(key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
                | x25519.X25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def public_pem(key: ed25519.Ed25519PublicKey | x25519.X25519PublicKey
               | ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


# --- writing --------------------------------------------------------------------------------


def private_database(path: Path) -> None:
    """Create a database file 0600 before SQLite opens it (and narrow a looser existing one):
    SQLite gives its ``-wal``/``-shm`` files the database file's mode, so they follow. A
    directory it has to create is made 0700."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=DIR_MODE)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE_MODE)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, PRIVATE_MODE)
    finally:
        os.close(fd)


def ensure_key_dir(directory: Path, *, owner: tuple[int, int] | None = None) -> None:
    """Create the keys directory 0700 (and fix a looser mode on an existing one)."""
    directory.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    os.chmod(directory, DIR_MODE)
    if owner is not None:
        os.chown(directory, *owner)


def write_file(path: Path, data: bytes, mode: int, *,
               owner: tuple[int, int] | None = None) -> None:
    """Write ``data`` atomically with ``mode`` from the first byte (never briefly readable)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)  # a leftover from a write cut short
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)  # the umask may have narrowed it; never widened
        if owner is not None:
            os.fchown(fd, *owner)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)  # the rename itself must survive a power cut
    finally:
        os.close(dfd)


def save_private_key(key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
                     | x25519.X25519PrivateKey, path: Path, *,
                     owner: tuple[int, int] | None = None) -> None:
    """Save a private key as PKCS#8 PEM, mode 0600, optionally chowned to ``owner`` (uid, gid)."""
    write_file(path, private_pem(key), PRIVATE_MODE, owner=owner)


def save_public(data: bytes, path: Path, *, owner: tuple[int, int] | None = None) -> None:
    """Save a public PEM (public key, certificate, CSR) mode 0644."""
    write_file(path, data, PUBLIC_MODE, owner=owner)


# --- reading --------------------------------------------------------------------------------


def check_private_file(path: Path, *, expect_uid: int | None = None) -> os.stat_result:
    """Raise unless ``path`` is a regular file only its owner can read, owned by the right user.

    ``expect_uid`` defaults to the calling process's user; root (uid 0) may read any owner's
    key but the mode check still applies.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise KeyMissing(str(path), "does not exist") from None
    except OSError as exc:
        raise KeyStoreError(str(path), f"cannot stat: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeKeyFile(str(path), "is not a regular file")
    if st.st_mode & 0o077:
        raise UnsafeKeyFile(str(path), f"mode {stat.S_IMODE(st.st_mode):04o} lets group/others "
                            f"access it; chmod 600 it (and consider the key leaked)")
    euid = os.geteuid()
    wanted = euid if expect_uid is None else expect_uid
    if st.st_uid != wanted and not (expect_uid is None and euid == 0):
        raise UnsafeKeyFile(str(path), f"owned by uid {st.st_uid}, expected uid {wanted}")
    return st


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise KeyMissing(str(path), "does not exist") from None
    except OSError as exc:
        raise KeyStoreError(str(path), f"cannot read: {exc.strerror}") from None


def _load_private(path: Path, expect_uid: int | None) -> object:
    check_private_file(path, expect_uid=expect_uid)
    try:
        return serialization.load_pem_private_key(_read(path), password=None)
    except (ValueError, TypeError, IndexError):
        # The library's message may quote the input; ours names only the file.
        raise KeyFormatError(str(path), "is not an unencrypted PKCS#8 PEM private key") from None


def load_signing_key(path: Path, *, expect_uid: int | None = None) -> ed25519.Ed25519PrivateKey:
    key = _load_private(path, expect_uid)
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise KeyFormatError(str(path), "is not an Ed25519 key")
    return key


def load_tls_key(path: Path, *, expect_uid: int | None = None) -> ec.EllipticCurvePrivateKey:
    key = _load_private(path, expect_uid)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyFormatError(str(path), "is not an EC private key")
    return key


def load_seal_private_key(path: Path, *,
                          expect_uid: int | None = None) -> x25519.X25519PrivateKey:
    """The backend's sealing private key (backend side only)."""
    key = _load_private(path, expect_uid)
    if not isinstance(key, x25519.X25519PrivateKey):
        raise KeyFormatError(str(path), "is not an X25519 key")
    return key


def _load_public(path: Path) -> object:
    try:
        return serialization.load_pem_public_key(_read(path))
    except (ValueError, TypeError, IndexError):
        raise KeyFormatError(str(path), "is not a PEM SubjectPublicKeyInfo public key") from None


def load_backend_seal_key(path: Path) -> x25519.X25519PublicKey:
    key = _load_public(path)
    if not isinstance(key, x25519.X25519PublicKey):
        raise KeyFormatError(str(path), "is not an X25519 public key")
    return key


def parse_backend_seal_key(pem: bytes, source: str = "backend key") -> x25519.X25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError, IndexError):
        raise KeyFormatError(source, "is not a PEM SubjectPublicKeyInfo public key") from None
    if not isinstance(key, x25519.X25519PublicKey):
        raise KeyFormatError(source, "is not an X25519 public key")
    return key


def parse_signing_public_key(pem: bytes,
                             source: str = "signing key") -> ed25519.Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError, IndexError):
        raise KeyFormatError(source, "is not a PEM SubjectPublicKeyInfo public key") from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise KeyFormatError(source, "is not an Ed25519 public key")
    return key


def load_certificate(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(_read(path))
    except ValueError:
        raise KeyFormatError(str(path), "is not a PEM X.509 certificate") from None


def load_csr(path: Path) -> x509.CertificateSigningRequest:
    try:
        return x509.load_pem_x509_csr(_read(path))
    except ValueError:
        raise KeyFormatError(str(path), "is not a PEM certificate signing request") from None


def certificate_cn(cert: x509.Certificate | x509.CertificateSigningRequest) -> str:
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = attrs[0].value if attrs else ""
    return value if isinstance(value, str) else value.decode()
