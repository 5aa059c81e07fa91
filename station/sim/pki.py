"""The issuer's test PKI: CSCA, Document Signers, CRL, CSCA master list and EF.SOD.

Everything here is synthetic and for tests, demos and integrators. The structures follow
ICAO 9303-12 (certificate and CRL profiles, master list) and ICAO 9303-10 §4.6.2 / RFC 5652
(EF.SOD = CMS SignedData over the LDS Security Object); ASN.1 is built with asn1crypto and every
signature is made with ``cryptography``.

Vietnam's CSCA is ECDSA brainpoolP512r1 with SHA-512 and writes its public key with *explicit*
curve parameters; :func:`make_csca` does the same with ``explicit=True`` (``cryptography`` can
load such a certificate but not its key, and OpenSSL 3 refuses it in chains — the station maps the
parameters itself, see ``station.trust``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from asn1crypto import algos, cms, core, keys
from asn1crypto import x509 as a_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from station.nfc import crypto as nfc_crypto
from station.nfc import tlv
from station.nfc.lds.security import OID_LDS_SECURITY_OBJECT, LdsSecurityObject
from station.trust.asn1 import OID_CSCA_MASTER_LIST, OID_ML_SIGNING_KEY, CscaMasterList

HashName = Literal["sha1", "sha224", "sha256", "sha384", "sha512"]
Algorithm = Literal["ecdsa", "rsa-pss", "rsa-pkcs1"]
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

__all__ = ["OID_CSCA_MASTER_LIST", "OID_LDS_SECURITY_OBJECT", "OID_ML_SIGNING_KEY",
           "CscaMasterList", "LdsSecurityObject"]  # re-exported for callers of the builders

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256,
    "sha384": hashes.SHA384, "sha512": hashes.SHA512,
}
_EC_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "brainpoolP256r1": ec.BrainpoolP256R1, "brainpoolP384r1": ec.BrainpoolP384R1,
    "brainpoolP512r1": ec.BrainpoolP512R1, "secp256r1": ec.SECP256R1,
    "secp384r1": ec.SECP384R1, "secp521r1": ec.SECP521R1,
}
_EPOCH = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def hash_algorithm(name: str) -> hashes.HashAlgorithm:
    try:
        return _HASHES[name]()
    except KeyError:
        raise ValueError(f"unsupported hash {name!r}") from None


def digest(name: str, data: bytes) -> bytes:
    return hashlib.new(name, data).digest()


@dataclass(frozen=True)
class Issued:
    """A private key with the certificate issued for it (``der`` exactly as issued: it may carry
    explicit curve parameters, which ``cert.public_key()`` cannot load)."""

    key: PrivateKey
    der: bytes
    algorithm: Algorithm
    hash: HashName

    @property
    def cert(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.der)

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def serial(self) -> int:
        return self.cert.serial_number

    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())


def generate_key(algorithm: Algorithm = "ecdsa", curve: str = "brainpoolP512r1",
                 rsa_bits: int = 2048) -> PrivateKey:
    if algorithm == "ecdsa":
        try:
            return ec.generate_private_key(_EC_CURVES[curve]())
        except KeyError:
            raise ValueError(f"unsupported curve {curve!r}") from None
    return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)


def _pss(hash_name: str) -> padding.PSS:
    # ICAO 9303-12 / RFC 4055: MGF1 with the same hash, salt length = hash length.
    h = hash_algorithm(hash_name)
    return padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size)


def sign(key: PrivateKey, algorithm: Algorithm, hash_name: str, data: bytes) -> bytes:
    """Sign ``data``: ECDSA (DER signature), RSA-PSS or RSA PKCS#1 v1.5."""
    h = hash_algorithm(hash_name)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(h))
    if algorithm == "rsa-pss":
        return key.sign(data, _pss(hash_name), h)
    return key.sign(data, padding.PKCS1v15(), h)


def signature_algorithm(algorithm: Algorithm, hash_name: str) -> algos.SignedDigestAlgorithm:
    """The AlgorithmIdentifier of a signature (RFC 5758 ECDSA, RFC 4055 RSASSA-PSS)."""
    if algorithm == "ecdsa":
        return algos.SignedDigestAlgorithm({"algorithm": f"{hash_name}_ecdsa"})
    if algorithm == "rsa-pss":
        size = hash_algorithm(hash_name).digest_size
        return algos.SignedDigestAlgorithm({
            "algorithm": "rsassa_pss",
            "parameters": algos.RSASSAPSSParams({
                "hash_algorithm": {"algorithm": hash_name},
                "mask_gen_algorithm": {"algorithm": "mgf1",
                                       "parameters": {"algorithm": hash_name}},
                "salt_length": size,
            }),
        })
    return algos.SignedDigestAlgorithm({"algorithm": f"{hash_name}_rsa"})


def _name(common_name: str, country: str = "VN") -> x509.Name:
    # Clearly synthetic names: no real authority is impersonated.
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, country),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Station Test PKI (synthetic)"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def _x509_hash(name: str) -> hashes.SHA224 | hashes.SHA256 | hashes.SHA384 | hashes.SHA512:
    # cryptography's certificate and CRL builders refuse SHA-1 (so do ICAO 9303-12 profiles).
    if name == "sha224":
        return hashes.SHA224()
    if name == "sha256":
        return hashes.SHA256()
    if name == "sha384":
        return hashes.SHA384()
    if name == "sha512":
        return hashes.SHA512()
    raise ValueError(f"certificates and CRLs cannot be signed with {name!r}")


def _issue(builder: x509.CertificateBuilder, issuer_key: PrivateKey, algorithm: Algorithm,
           hash_name: str) -> bytes:
    h = _x509_hash(hash_name)
    if isinstance(issuer_key, ec.EllipticCurvePrivateKey):
        cert = builder.sign(issuer_key, h)
    elif algorithm == "rsa-pss":
        cert = builder.sign(issuer_key, h, rsa_padding=_pss(hash_name))
    else:
        cert = builder.sign(issuer_key, h, rsa_padding=padding.PKCS1v15())
    return cert.public_bytes(serialization.Encoding.DER)


def explicit_public_key_info(public_key: ec.EllipticCurvePublicKey) -> keys.PublicKeyInfo:
    """The SubjectPublicKeyInfo of an EC key with its curve written as explicit parameters
    (RFC 3279 SpecifiedECDomain: prime field, a, b, G, n, h) instead of the named-curve OID."""
    curve = nfc_crypto.CURVES[public_key.curve.name]
    size = curve.size
    point = public_key.public_bytes(serialization.Encoding.X962,
                                    serialization.PublicFormat.UncompressedPoint)
    params = keys.ECDomainParameters(name="specified", value=keys.SpecifiedECDomain({
        "version": "ecdpVer1",
        "field_id": {"field_type": "prime_field", "parameters": core.Integer(curve.p)},
        "curve": {"a": curve.a.to_bytes(size, "big"), "b": curve.b.to_bytes(size, "big")},
        "base": curve.encode(curve.g),
        "order": curve.n,
        "cofactor": curve.h,
    }))
    return keys.PublicKeyInfo({
        "algorithm": {"algorithm": "ec", "parameters": params},
        "public_key": point,
    })


def with_explicit_parameters(cert_der: bytes, issuer_key: PrivateKey, algorithm: Algorithm,
                             hash_name: str) -> bytes:
    """Re-issue ``cert_der`` with its EC subject key written with explicit parameters."""
    cert = a_x509.Certificate.load(cert_der)
    tbs = cert["tbs_certificate"]
    public = x509.load_der_x509_certificate(cert_der).public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey):
        raise ValueError("explicit parameters apply to EC keys only")
    tbs["subject_public_key_info"] = explicit_public_key_info(public)
    tbs_der = tbs.dump(force=True)
    out = a_x509.Certificate({
        "tbs_certificate": a_x509.TbsCertificate.load(tbs_der),
        "signature_algorithm": cert["signature_algorithm"],
        "signature_value": sign(issuer_key, algorithm, hash_name, tbs_der),
    })
    return bytes(out.dump())


def make_csca(*, algorithm: Algorithm = "ecdsa", curve: str = "brainpoolP512r1",
              hash: HashName = "sha512", explicit: bool = False, rsa_bits: int = 3072,
              country: str = "VN", common_name: str = "CSCA VN TEST",
              not_before: dt.datetime = _EPOCH, years: int = 15, serial: int | None = None,
              key: PrivateKey | None = None) -> Issued:
    """A self-signed Country Signing CA certificate (ICAO 9303-12 §7.1.1 profile)."""
    key = key or generate_key(algorithm, curve, rsa_bits)
    name = _name(common_name, country)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    builder = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + dt.timedelta(days=365 * years))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier(ski.digest, None, None), critical=False)
    )
    der = _issue(builder, key, algorithm, hash)
    if explicit:
        der = with_explicit_parameters(der, key, algorithm, hash)
    return Issued(key, der, algorithm, hash)


def _issuer_ski(issuer: Issued) -> bytes:
    ext = issuer.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    return ext.value.digest


def make_dsc(csca: Issued, *, algorithm: Algorithm = "ecdsa", curve: str = "brainpoolP256r1",
             hash: HashName = "sha256", rsa_bits: int = 2048, common_name: str = "DS VN TEST",
             not_before: dt.datetime = _EPOCH, days: int = 365 * 10 + 90,
             serial: int | None = None, key: PrivateKey | None = None,
             extended_key_usage: Sequence[str] = ()) -> Issued:
    """A Document Signer certificate issued by ``csca`` (ICAO 9303-12 §7.1.1: keyUsage
    digitalSignature only, AuthorityKeyIdentifier = the CSCA's SubjectKeyIdentifier).

    ``extended_key_usage`` (OIDs) is for other signers, e.g. the Master List Signer."""
    key = key or generate_key(algorithm, curve, rsa_bits)
    csca_name = csca.cert.subject
    country = csca_name.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, str(country))).issuer_name(csca_name)
        .public_key(key.public_key())
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + dt.timedelta(days=days))
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier(_issuer_ski(csca), None, None),
                       critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
    )
    if extended_key_usage:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([x509.ObjectIdentifier(o) for o in extended_key_usage]),
            critical=False)
    der = _issue(builder, csca.key, csca.algorithm, csca.hash)
    return Issued(key, der, algorithm, hash)


def make_crl(csca: Issued, revoked_serials: Iterable[int] = (), *,
             this_update: dt.datetime | None = None, days: int = 90,
             number: int = 1) -> bytes:
    """A CRL (DER) signed by the CSCA (ICAO 9303-12 §7.1.4)."""
    this_update = this_update or dt.datetime.now(dt.UTC).replace(microsecond=0)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(csca.cert.subject)
        .last_update(this_update)
        .next_update(this_update + dt.timedelta(days=days))
        .add_extension(x509.AuthorityKeyIdentifier(_issuer_ski(csca), None, None),
                       critical=False)
        .add_extension(x509.CRLNumber(number), critical=False)
    )
    for serial in revoked_serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial)
            .revocation_date(this_update).build())
    h = _x509_hash(csca.hash)
    if isinstance(csca.key, ec.EllipticCurvePrivateKey):
        crl = builder.sign(csca.key, h)
    elif csca.algorithm == "rsa-pss":
        crl = builder.sign(csca.key, h, rsa_padding=_pss(csca.hash))
    else:
        crl = builder.sign(csca.key, h, rsa_padding=padding.PKCS1v15())
    return crl.public_bytes(serialization.Encoding.DER)


# --- CMS --------------------------------------------------------------------------------------


def _digest_algorithm(hash_name: str, with_null: bool) -> algos.DigestAlgorithm:
    alg = algos.DigestAlgorithm({"algorithm": hash_name})
    if with_null:
        return alg
    # RFC 5754 §2: generators SHOULD omit the NULL; asn1crypto always writes it, so encode the
    # bare OID sequence by hand and load it (a loaded value re-dumps its original bytes).
    oid = alg["algorithm"].dump()
    return algos.DigestAlgorithm.load(b"\x30" + tlv.encode_length(len(oid)) + oid)


def _signed_data(content_type: str, content: bytes, signer: Issued,
                 certificates: Sequence[bytes], *, hash_name: str, digest_null: bool,
                 signer_id: Literal["issuer_serial", "ski"],
                 signing_time: dt.datetime | None,
                 issuer_rdn_order: Sequence[int] | None = None) -> bytes:
    """RFC 5652 SignedData with one SignerInfo over signed attributes, wrapped in ContentInfo.

    ``issuer_rdn_order`` lists the certificate issuer's RDNs (by index) in the order the
    SignerInfo's issuerAndSerialNumber names them."""
    attrs = [
        {"type": "content_type", "values": [content_type]},
        {"type": "message_digest", "values": [digest(hash_name, content)]},
    ]
    if signing_time is not None:
        attrs.append({"type": "signing_time", "values": [cms.Time({"utc_time": signing_time})]})
    signed_attrs = cms.CMSAttributes(attrs)
    # §5.4: the signature covers the DER of the attributes with an explicit SET OF tag.
    signature = sign(signer.key, signer.algorithm, hash_name, signed_attrs.dump())
    cert = a_x509.Certificate.load(signer.der)
    if signer_id == "ski":
        sid = cms.SignerIdentifier(name="subject_key_identifier",
                                   value=_ski_of(signer))
        version = "v3"
    else:
        issuer = cert.issuer
        if issuer_rdn_order is not None:
            rdns = list(issuer.chosen)
            if sorted(issuer_rdn_order) != list(range(len(rdns))):
                raise ValueError("issuer_rdn_order must permute the issuer's RDNs")
            body = b"".join(rdns[i].dump() for i in issuer_rdn_order)
            issuer = a_x509.Name.load(b"\x30" + tlv.encode_length(len(body)) + body)
        sid = cms.SignerIdentifier(name="issuer_and_serial_number", value={
            "issuer": issuer, "serial_number": cert.serial_number})
        version = "v1"
    signer_info = cms.SignerInfo({
        "version": version,
        "sid": sid,
        "digest_algorithm": _digest_algorithm(hash_name, digest_null),
        "signed_attrs": signed_attrs,
        "signature_algorithm": signature_algorithm(signer.algorithm, hash_name),
        "signature": signature,
    })
    signed_data = cms.SignedData({
        "version": "v3",  # RFC 5652 §5.1: eContentType other than id-data
        "digest_algorithms": [_digest_algorithm(hash_name, digest_null)],
        "encap_content_info": {"content_type": content_type, "content": content},
        "certificates": [a_x509.Certificate.load(c) for c in certificates],
        "signer_infos": [signer_info],
    })
    return bytes(cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump())


def _ski_of(issued: Issued) -> bytes:
    try:
        ext = issued.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        return ext.value.digest
    except x509.ExtensionNotFound:
        return x509.SubjectKeyIdentifier.from_public_key(issued.key.public_key()).digest


def lds_security_object(dg_hashes: Mapping[int, bytes], hash: str = "sha256", *,
                        digest_null: bool = True,
                        lds_version: tuple[str, str] | None = None) -> bytes:
    """The DER LDSSecurityObject listing ``dg_hashes`` (data group number → hash)."""
    for number in dg_hashes:
        if not 1 <= number <= 16:
            raise ValueError(f"data group number {number} is outside 1..16")
    value = {
        "version": 1 if lds_version else 0,
        "hash_algorithm": _digest_algorithm(hash, digest_null),
        "data_group_hash_values": [
            {"data_group_number": n, "data_group_hash_value": dg_hashes[n]}
            for n in sorted(dg_hashes)
        ],
    }
    if lds_version:
        value["lds_version_info"] = {"lds_version": lds_version[0],
                                     "unicode_version": lds_version[1]}
    return bytes(LdsSecurityObject(value).dump())


def hash_data_groups(data_groups: Mapping[int, bytes], hash: str = "sha256") -> dict[int, bytes]:
    """Hash each data group's complete file contents (tag, length and value)."""
    return {n: digest(hash, raw) for n, raw in data_groups.items()}


def build_sod(dg_hashes: Mapping[int, bytes], dsc_key: PrivateKey, dsc_cert: x509.Certificate
              | bytes, hash: str = "sha256", *, signature_hash: str | None = None,
              algorithm: Algorithm | None = None, include_certificate: bool = True,
              digest_null: bool = True, signer_id: Literal["issuer_serial", "ski"] =
              "issuer_serial", lds_version: tuple[str, str] | None = None,
              signing_time: dt.datetime | None = _EPOCH,
              content_type: str = OID_LDS_SECURITY_OBJECT,
              issuer_rdn_order: Sequence[int] | None = None,
              indefinite_length: bool = False) -> bytes:
    """EF.SOD: tag 0x77 around a CMS SignedData (ICAO 9303-10 §4.6.2) whose encapsulated
    content is the LDS Security Object with ``dg_hashes`` computed with ``hash``.

    ``signature_hash`` (default ``hash``) is the digest of the signed attributes and signature;
    ``algorithm`` defaults to ECDSA for EC keys and RSA-PSS for RSA keys.

    Knobs that reproduce what real issuers write: ``content_type`` (the eContentType, also
    named by the signed content-type attribute), ``issuer_rdn_order`` (the SignerInfo names
    the DSC's issuer with its RDNs in this order) and ``indefinite_length`` (the five outer
    levels, ContentInfo to eContent, in BER indefinite-length form)."""
    der = dsc_cert if isinstance(dsc_cert, bytes) else dsc_cert.public_bytes(
        serialization.Encoding.DER)
    if algorithm is None:
        algorithm = "ecdsa" if isinstance(dsc_key, ec.EllipticCurvePrivateKey) else "rsa-pss"
    sig_hash = signature_hash or hash
    signer = Issued(dsc_key, der, algorithm, sig_hash)  # type: ignore[arg-type]
    content = lds_security_object(dg_hashes, hash, digest_null=digest_null,
                                  lds_version=lds_version)
    info = _signed_data(content_type, content, signer,
                        [der] if include_certificate else [], hash_name=sig_hash,
                        digest_null=digest_null, signer_id=signer_id,
                        signing_time=signing_time, issuer_rdn_order=issuer_rdn_order)
    if indefinite_length:
        info = _indefinite_outer_levels(info)
    return tlv.encode(0x77, info)


def _indefinite(tag: int, value: bytes) -> bytes:
    return bytes((tag,)) + b"\x80" + value + b"\x00\x00"


def _indefinite_outer_levels(content_info: bytes) -> bytes:
    """Re-encode ContentInfo, its [0], SignedData, EncapsulatedContentInfo and its [0] with
    indefinite lengths (X.690 §8.1.3.6), everything else (certificates, SignerInfo) as DER."""
    oid, explicit = tlv.decode(content_info).children()
    fields = explicit.children()[0].children()
    e_oid, e_content = fields[2].children()
    encap = _indefinite(0x30, e_oid.encode() + _indefinite(0xA0, e_content.value))
    body = b"".join(encap if i == 2 else f.encode() for i, f in enumerate(fields))
    return _indefinite(0x30, oid.encode() + _indefinite(0xA0, _indefinite(0x30, body)))


def make_master_list(signer: Issued, cscas: Iterable[bytes],
                     extra_certificates: Sequence[bytes] = ()) -> bytes:
    """A CMS-signed CSCA master list (ICAO 9303-12 §9) as a DER ContentInfo.

    ``signer`` is a Master List Signer (see :func:`make_ml_signer`); its certificate and
    ``extra_certificates`` (usually the CSCA that issued it) go into SignedData.certificates."""
    content = CscaMasterList({
        "version": 0,
        "cert_list": [a_x509.Certificate.load(c) for c in cscas],
    }).dump()
    return _signed_data(OID_CSCA_MASTER_LIST, bytes(content), signer,
                        [signer.der, *extra_certificates], hash_name=signer.hash,
                        digest_null=True, signer_id="issuer_serial", signing_time=_EPOCH)


def make_ml_signer(csca: Issued, *, algorithm: Algorithm = "ecdsa",
                   curve: str = "brainpoolP256r1", hash: HashName = "sha256") -> Issued:
    """A Master List Signer certificate issued by ``csca`` (extendedKeyUsage
    id-icao-cscaMasterListSigningKey)."""
    return make_dsc(csca, algorithm=algorithm, curve=curve, hash=hash,
                    common_name="MLS VN TEST", extended_key_usage=(OID_ML_SIGNING_KEY,))


# --- a complete test PKI ----------------------------------------------------------------------


@dataclass(frozen=True)
class TestPki:
    """The issuer's PKI for the virtual chips and their forgery knobs.

    ``csca`` signs ``dsc`` (good), ``revoked_dsc`` (listed in ``crl``) and ``expired_dsc``;
    ``rogue_csca`` carries the same subject name as ``csca`` but another key, and signs
    ``untrusted_dsc``. ``master_list`` (signed by ``ml_signer``, issued by ``csca``) lists
    ``csca``."""

    csca: Issued
    dsc: Issued
    revoked_dsc: Issued
    expired_dsc: Issued
    rogue_csca: Issued
    untrusted_dsc: Issued
    ml_signer: Issued
    crl: bytes
    master_list: bytes


def make_test_pki(*, algorithm: Algorithm = "ecdsa", explicit: bool = False,
                  now: dt.datetime | None = None) -> TestPki:
    now = now or dt.datetime.now(dt.UTC)
    csca = make_csca(algorithm=algorithm, explicit=explicit)
    rogue = make_csca(algorithm=algorithm, explicit=explicit)  # same name, other key
    dsc = make_dsc(csca, algorithm=algorithm, common_name="DS VN TEST 1")
    revoked = make_dsc(csca, algorithm=algorithm, common_name="DS VN TEST 2")
    expired = make_dsc(csca, algorithm=algorithm, common_name="DS VN TEST OLD",
                       not_before=now - dt.timedelta(days=800), days=400)
    untrusted = make_dsc(rogue, algorithm=algorithm, common_name="DS VN TEST 1")
    ml_signer = make_ml_signer(csca, algorithm=algorithm)
    return TestPki(
        csca=csca, dsc=dsc, revoked_dsc=revoked, expired_dsc=expired, rogue_csca=rogue,
        untrusted_dsc=untrusted, ml_signer=ml_signer,
        crl=make_crl(csca, [revoked.serial], this_update=now - dt.timedelta(days=1)),
        master_list=make_master_list(ml_signer, [csca.der], [csca.der]),
    )


def write_pki(pki: TestPki, out: Path) -> list[Path]:
    """Write the PKI as files an integrator (and openssl) can use; keys are PKCS#8 PEM, 0600.

    ``out/trust/`` is what a station's trust store should hold (the CSCA, its CRL and the
    master list); ``out/`` the issuer's certificates and keys; ``out/forged/`` the rogue CSCA
    and the DSC it signed, for forgery tests — never put those in a trust store."""
    written: list[Path] = []

    def put(path: Path, data: bytes, private: bool = False) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if private:
            path.chmod(0o600)
        written.append(path)

    for folder, label, issued in (
            (out, "csca", pki.csca), (out, "dsc", pki.dsc), (out, "dsc-revoked", pki.revoked_dsc),
            (out, "dsc-expired", pki.expired_dsc), (out, "ml-signer", pki.ml_signer),
            (out / "forged", "rogue-csca", pki.rogue_csca),
            (out / "forged", "dsc-untrusted", pki.untrusted_dsc)):
        put(folder / f"{label}.der", issued.der)
        put(folder / f"{label}.pem", issued.pem)
        put(folder / f"{label}.key.pem", issued.key_pem(), private=True)
    put(out / "csca.crl", pki.crl)
    put(out / "masterlist.ml", pki.master_list)
    put(out / "trust" / "csca.pem", pki.csca.pem)
    put(out / "trust" / "csca.crl", pki.crl)
    put(out / "trust" / "masterlist.ml", pki.master_list)
    return written
