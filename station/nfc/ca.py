"""Chip Authentication v1 (BSI TR-03110-1 §3.4, ICAO 9303-11 §6.2), terminal side.

The terminal takes the chip's static key from DG14 (ChipAuthenticationPublicKeyInfo), makes an
ephemeral key pair on the same domain parameters, and sends its public key:

- AES (ChipAuthenticationInfo ``id-CA-{EC}DH-AES-CBC-CMAC-*``): MSE:Set AT (``00 22 41 A4``,
  DO'80' = the protocol OID, DO'84' = keyId if DG14 names several keys), then GENERAL
  AUTHENTICATE (``00 86 00 00``, ``7C { 80 PK_eph }``), answered with ``7C 00``;
- 3DES (``id-CA-{EC}DH-3DES-CBC-CBC``): MSE:Set KAT (``00 22 41 A6``, DO'91' = PK_eph,
  DO'84' = keyId), one step.

Both sides derive K = ECDH/DH x-coordinate (or Z), KS_Enc = KDF(K, 1), KS_MAC = KDF(K, 2) for
the cipher of the ChipAuthenticationInfo, and restart secure messaging with SSC = 0. The chip
answers the CA command under the *old* keys; only a chip that holds the private key of DG14's
public key can MAC its next answer under the new ones, so the first command under the new keys
(a SELECT of the application, then every following READ BINARY) is the proof. That proof is
worth something only if DG14 itself is PA-verified — :func:`station.trust.verification.verify`
checks that.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Literal

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from station.errors import ProtocolError, StatusWordError, TagLost
from station.log import event
from station.nfc import crypto, tlv
from station.nfc.apdu import CommandApdu, transceive
from station.nfc.crypto import SessionKeys
from station.nfc.curves import CRYPTOGRAPHY_CURVES
from station.nfc.files import select_application
from station.nfc.lds.secinfo import (
    ChipAuthenticationInfo,
    ChipAuthenticationPublicKeyInfo,
    SecurityInfos,
)
from station.nfc.publickey import load_public_key
from station.nfc.sm import SecureMessaging
from station.reasons import CA_FAILED, TrustError

log = logging.getLogger(__name__)

ID_PK_DH = "0.4.0.127.0.7.2.2.1.1"
ID_PK_ECDH = "0.4.0.127.0.7.2.2.1.2"
# DH public keys in DG14 (RFC 3279 dhpublicnumber; BSI TR-03110-3 §A.1.2.1 also allows it).
DH_PUBLIC_NUMBER = "1.2.840.10046.2.1"
MIN_DH_BITS = 1024
MAX_DH_BITS = 4096


class ChipAuthenticationError(ProtocolError):
    """Chip authentication could not be run or did not prove the chip (``detail`` names the
    step; never citizen data)."""


@dataclass(frozen=True)
class CaOption:
    """One usable pairing of DG14's key and protocol."""

    key: ChipAuthenticationPublicKeyInfo
    info: ChipAuthenticationInfo

    @property
    def description(self) -> str:
        bits = "" if self.info.cipher == "3DES" else f"-{self.info.key_bits}"
        return f"CA {self.info.agreement} {self.info.cipher}{bits}"


@dataclass(frozen=True)
class CaOutcome:
    """What :func:`authenticate` did. ``channel`` is the secure channel to go on with: the new
    one after success, the old one when the chip refused CA before switching (its SM is still
    alive), or None when the chip dropped SM (the caller must authenticate again)."""

    ok: bool
    detail: str
    channel: SecureMessaging | None
    reason: str | None = None


def choose(infos: SecurityInfos) -> CaOption | None:
    """The CA option to run: a ChipAuthenticationPublicKeyInfo paired with a
    ChipAuthenticationInfo of the same agreement (and keyId, when DG14 names keys). AES over
    3DES, longer keys first, ECDH over DH. None when DG14 offers no CA key at all; raises
    :class:`ChipAuthenticationError` when it offers keys but nothing this station can run."""
    keys = infos.chip_authentication_keys
    if not keys:
        return None
    options: list[CaOption] = []
    for key in keys:
        agreement: Literal["DH", "ECDH"] = "DH" if key.oid == ID_PK_DH else "ECDH"
        matching = [i for i in infos.chip_authentication
                    if i.agreement == agreement
                    and (key.key_id is None or i.key_id is None or i.key_id == key.key_id)
                    and i.version == 1]
        if not matching and len(keys) == 1 and not infos.chip_authentication:
            # ICAO 9303-11 §9.2.5: ChipAuthenticationInfo may be absent for CA v1 with 3DES.
            arc = 1 if agreement == "DH" else 2
            matching = [ChipAuthenticationInfo(f"0.4.0.127.0.7.2.2.3.{arc}.1", 1, key.key_id,
                                               agreement, "3DES", 128)]
        options += [CaOption(key, i) for i in matching]
    if not options:
        raise ChipAuthenticationError("DG14 offers chip-authentication keys but no protocol "
                                      "this station supports")
    return max(options, key=lambda o: (o.info.agreement == "ECDH", o.info.cipher == "AES",
                                       o.info.key_bits))


# --- key agreement ------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class Agreement:
    """The terminal's ephemeral public key (as sent to the chip) and the shared secret."""

    public: bytes
    secret: bytes


def agree(spki: bytes) -> Agreement:
    """Ephemeral key pair on the domain parameters of the chip's key and the shared secret
    with it (ECDH: the x-coordinate; DH: Z left-padded to the size of p, TR-03110-3 §A.2.3)."""
    from asn1crypto import keys

    try:
        info = keys.PublicKeyInfo.load(spki)
        algorithm = info["algorithm"]["algorithm"].dotted
    except (ValueError, TypeError, KeyError) as exc:
        raise ChipAuthenticationError(f"DG14 key is malformed ({type(exc).__name__})") from None
    if algorithm == "1.2.840.10045.2.1":
        return _agree_ec(spki)
    if algorithm in (DH_PUBLIC_NUMBER, "1.2.840.113549.1.3.1"):
        return _agree_dh(info)
    raise ChipAuthenticationError(f"DG14 key algorithm {algorithm} is not supported")


def _agree_ec(spki: bytes) -> Agreement:
    try:
        # Explicit parameters (common in DG14) are mapped to the named curve they equal.
        key = load_public_key(spki)
    except TrustError as exc:
        raise ChipAuthenticationError(f"DG14 key: {exc}") from None
    curve = key.curve
    assert curve is not None
    fast = CRYPTOGRAPHY_CURVES.get(curve.name)
    if fast is not None and key.ec_key is not None:
        eph = ec.generate_private_key(fast())
        secret = eph.exchange(ec.ECDH(), key.ec_key)
        public = eph.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        return Agreement(public, secret)
    # A curve OpenSSL does not know (brainpoolP224r1, …): the shared pure-Python arithmetic.
    private = curve.random_scalar()
    return Agreement(curve.encode(curve.public_key(private)),
                     curve.shared_x(private, curve.decode(key.point)))


def _agree_dh(info: object) -> Agreement:
    from asn1crypto import core, keys

    assert isinstance(info, keys.PublicKeyInfo)
    try:
        params = info["algorithm"]["parameters"]
        native = params.native if params is not None else None
        if not isinstance(native, dict):
            raise ChipAuthenticationError("DG14 DH key without domain parameters")
        p, g = int(native["p"]), int(native["g"])
        q = native.get("q")
        y = core.Integer.load(bytes(info["public_key"])).native
    except ChipAuthenticationError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise ChipAuthenticationError(f"DG14 DH key is malformed ({type(exc).__name__})") \
            from None
    if not MIN_DH_BITS <= p.bit_length() <= MAX_DH_BITS:
        raise ChipAuthenticationError(f"DH-{p.bit_length()} is not accepted")
    if not 1 < y < p - 1 or (q is not None and pow(y, int(q), p) != 1):
        raise ChipAuthenticationError("DG14 DH public key is not in the group")
    size = (p.bit_length() + 7) // 8
    # Plain modular arithmetic: OpenSSL's DH refuses some chips' 1024-bit groups, and one
    # exponentiation each way is all CA needs.
    x = secrets.randbelow((int(q) if q is not None else p - 1) - 2) + 2
    public = pow(g, x, p)
    z = pow(y, x, p)
    if z in (0, 1, p - 1):
        raise ChipAuthenticationError("DH gave a degenerate shared secret")
    return Agreement(public.to_bytes(size, "big"), z.to_bytes(size, "big"))


# --- the protocol ---------------------------------------------------------------------------


def authenticate(channel: SecureMessaging, option: CaOption) -> CaOutcome:
    """Run CA on an established secure channel. TagLost propagates (the session resumes and
    runs CA again); every other failure is an outcome with ``ok=False``."""
    try:
        agreement = agree(option.key.public_key)
    except ChipAuthenticationError as exc:
        return CaOutcome(False, str(exc), channel, CA_FAILED)
    info = option.info
    key_ref = (tlv.encode(0x84, _key_id(option.key.key_id))
               if option.key.key_id is not None else b"")
    try:
        if info.cipher == "3DES":
            transceive(channel, CommandApdu(0x00, 0x22, 0x41, 0xA6,
                                            tlv.encode(0x91, agreement.public) + key_ref)).check()
        else:
            oid = crypto.encode_oid(info.oid)
            transceive(channel, CommandApdu(0x00, 0x22, 0x41, 0xA4,
                                            tlv.encode(0x80, oid) + key_ref)).check()
            resp = transceive(channel, CommandApdu(
                0x00, 0x86, 0x00, 0x00, tlv.encode(0x7C, tlv.encode(0x80, agreement.public)),
                le=256)).check()
            if resp.data[:1] not in (b"", b"\x7c"):
                return CaOutcome(False, "GENERAL AUTHENTICATE answer is not a 7C template",
                                 channel, CA_FAILED)
    except StatusWordError as exc:
        event(log, "nfc.ca_refused", sw=f"{exc.sw:04X}")
        return CaOutcome(False, f"chip refused chip authentication ({exc.sw:04X})", channel,
                         CA_FAILED)
    except TagLost:
        raise
    except ProtocolError as exc:
        return CaOutcome(False, f"chip authentication aborted secure messaging ({exc})", None,
                         CA_FAILED)
    keys = SessionKeys.derive(agreement.secret, info.cipher, info.key_bits)
    new = SecureMessaging(channel.inner, keys, 0)
    try:
        # The first command under the new keys: the chip must check our MAC and MAC its answer.
        select_application(new)
    except TagLost:
        raise
    except (ProtocolError, StatusWordError) as exc:
        event(log, "nfc.ca_failed", step="new keys")
        return CaOutcome(False, f"chip did not answer under the new keys ({type(exc).__name__})",
                         None, CA_FAILED)
    event(log, "nfc.ca_ok", detail=option.description)
    return CaOutcome(True, option.description, new)


def _key_id(key_id: int) -> bytes:
    return key_id.to_bytes(max(1, (key_id.bit_length() + 7) // 8), "big")


__all__ = ["Agreement", "CaOption", "CaOutcome", "ChipAuthenticationError", "agree",
           "authenticate", "choose"]
