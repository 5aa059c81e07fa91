"""PACE v2 with ECDH Generic Mapping, terminal side (ICAO 9303-11 §4.4 and §9.5, BSI TR-03110).

Steps: MSE:Set AT (protocol OID, password reference, domain parameters), then four GENERAL
AUTHENTICATE commands chained with CLA 10 (ISO 7816-4 command chaining) and the last with CLA 00:
encrypted nonce → mapping keys → ephemeral keys → authentication tokens. A wrong password shows
as 63Cx (x tries left) or 6300 at the token step: :class:`AuthFailed`.
"""

from __future__ import annotations

from collections.abc import Callable

from station.drivers.reader import Transport
from station.errors import AuthFailed, LdsFormatError, ProtocolError, StatusWordError
from station.nfc import crypto, tlv
from station.nfc.apdu import CommandApdu, ResponseApdu, transceive
from station.nfc.crypto import Curve, SessionKeys
from station.nfc.lds.secinfo import PaceInfo
from station.nfc.password import AccessKey
from station.nfc.sm import SecureMessaging

PASSWORD_REFERENCE = {"MRZ": 0x01, "CAN": 0x02}

ScalarSource = Callable[[Curve], int]
"""Where ephemeral private keys come from; tests inject the spec's vector keys."""


def _random_scalar(curve: Curve) -> int:
    return curve.random_scalar()


def _auth_error(resp: ResponseApdu, step: str) -> AuthFailed | StatusWordError:
    sw = resp.sw
    if sw >> 4 == 0x63C:
        return AuthFailed(f"PACE refused the password at {step}; {sw & 0xF} tries left",
                          tries_left=sw & 0xF)
    if sw == 0x6300:
        return AuthFailed(f"PACE refused the password at {step}")
    if sw == 0x6983:
        return AuthFailed("PACE password is blocked", tries_left=0)
    if sw == 0x6283 or sw == 0x6985:
        return AuthFailed(f"PACE password is suspended or not usable ({sw:04X})")
    return StatusWordError(sw, f"PACE {step}")


def mse_set_at(info: PaceInfo, password_kind: str) -> CommandApdu:
    data = tlv.encode(0x80, crypto.encode_oid(info.oid))
    data += tlv.encode(0x83, bytes((PASSWORD_REFERENCE[password_kind],)))
    if info.parameter_id is not None:
        data += tlv.encode(0x84, bytes((info.parameter_id,)))
    return CommandApdu(0x00, 0x22, 0xC1, 0xA4, data)


def _general_authenticate(transport: Transport, tag: int, value: bytes, *, last: bool,
                          step: str) -> list[tlv.Tlv]:
    """One GA step: the dynamic authentication data 7C { tag value } out, the expected inner
    data object back."""
    body = tlv.encode(0x7C, tlv.encode(tag, value) if tag else b"")
    ext = len(body) > 255
    cmd = CommandApdu(0x00 if last else 0x10, 0x86, 0x00, 0x00, body,
                      le=65536 if ext else 256, extended=ext)
    resp = transceive(transport, cmd)
    if resp.sw != 0x9000:
        raise _auth_error(resp, step)
    try:
        outer = tlv.decode(resp.data)
        children = outer.children()
    except LdsFormatError as exc:
        raise ProtocolError(f"PACE {step}: malformed answer ({exc})") from None
    if outer.tag != 0x7C:
        raise ProtocolError(f"PACE {step}: answer is not a 7C template")
    return children


def _inner(objs: list[tlv.Tlv], tag: int, step: str) -> bytes:
    for o in objs:
        if o.tag == tag:
            return bytes(o.value)
    raise ProtocolError(f"PACE {step}: answer lacks tag {tag:02X}")


def authenticate(transport: Transport, key: AccessKey, info: PaceInfo, *,
                 scalars: ScalarSource = _random_scalar) -> tuple[SecureMessaging, str]:
    """Run PACE over ``transport`` and return (the secure channel with SSC 0, a description)."""
    if not info.supported or info.parameter_id is None:
        raise ProtocolError(f"PACE variant {info.oid} is not supported")
    curve = crypto.curve_for_parameter_id(info.parameter_id)
    resp = transceive(transport, mse_set_at(info, key.kind))
    if resp.sw != 0x9000:
        raise _auth_error(resp, "MSE:Set AT")

    # 1. Encrypted nonce.
    objs = _general_authenticate(transport, 0, b"", last=False, step="nonce")
    z = _inner(objs, 0x80, "nonce")
    k_pi = crypto.kdf(crypto.pace_password_key(key.value, key.kind), crypto.KDF_PI,
                      info.cipher, info.key_bits)
    try:
        s = crypto.decrypt_nonce(info.cipher, k_pi, z)
    except ProtocolError as exc:
        raise ProtocolError(f"PACE nonce: {exc}") from None

    # 2. Generic Mapping: G̃ = s·G + H.
    map_priv = scalars(curve)
    map_pub = curve.public_key(map_priv)
    objs = _general_authenticate(transport, 0x81, curve.encode(map_pub), last=False,
                                 step="mapping")
    chip_map = curve.decode(_inner(objs, 0x82, "mapping"))
    if chip_map == map_pub:
        raise ProtocolError("PACE mapping: chip echoed the terminal's key")
    h = crypto.gm_shared_point(curve, map_priv, chip_map)
    g_tilde = crypto.gm_mapped_generator(curve, s, h)

    # 3. Key agreement on the mapped generator.
    eph_priv = scalars(curve)
    eph_pub = curve.public_key(eph_priv, g_tilde)
    eph_pub_enc = curve.encode(eph_pub)
    objs = _general_authenticate(transport, 0x83, eph_pub_enc, last=False, step="key agreement")
    chip_eph_enc = _inner(objs, 0x84, "key agreement")
    chip_eph = curve.decode(chip_eph_enc)
    if chip_eph == eph_pub:  # §9.5.4: the chip's key must differ from ours
        raise ProtocolError("PACE key agreement: chip echoed the terminal's key")
    secret = curve.shared_x(eph_priv, chip_eph)
    keys = SessionKeys.derive(secret, info.cipher, info.key_bits)

    # 4. Mutual authentication tokens over the other side's ephemeral key.
    t_pcd = crypto.auth_token(keys, info.oid, chip_eph_enc)
    objs = _general_authenticate(transport, 0x85, t_pcd, last=True, step="token")
    t_picc = _inner(objs, 0x86, "token")
    if not crypto.constant_time_equal(t_picc, crypto.auth_token(keys, info.oid, eph_pub_enc)):
        raise AuthFailed("the chip's PACE token does not verify (not the card the key is for)")
    detail = (f"PACE {info.agreement}-{info.mapping} {info.cipher}-{info.key_bits} "
              f"{curve.name} {key.kind}")
    return SecureMessaging(transport, keys, 0), detail


__all__ = ["authenticate", "mse_set_at"]
