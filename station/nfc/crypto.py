"""Cryptographic primitives of ICAO 9303-11 access control and secure messaging.

Pure functions shared by the terminal side (``station.nfc``) and the virtual chip
(``station.sim``): the key derivation function (§9.7.1), ISO 9797-1 padding method 2, 3DES-CBC
and AES-CBC, the retail MAC (ISO 9797-1 MAC algorithm 3) and AES-CMAC truncated to 8 bytes,
BAC keys from the MRZ information (§9.7.2 / Appendix D), elliptic-curve arithmetic on the
curves PACE uses, PACE Generic Mapping (§9.5.1 / Appendix G) and the PACE authentication tokens.

Nothing here keeps state; secrets are ``bytes`` owned by the caller.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Literal

# cryptography ≥ 43 keeps TripleDES (still mandatory for BAC) in its "decrepit" package.
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES as _TripleDES
from cryptography.hazmat.primitives import cmac as _cmac
from cryptography.hazmat.primitives.ciphers import Cipher as _Cipher
from cryptography.hazmat.primitives.ciphers import algorithms, modes

from station.errors import ProtocolError, UnsupportedCard
from station.nfc import tlv

CipherKind = Literal["3DES", "AES"]

# KDF counters, ICAO 9303-11 §9.7.1.
KDF_ENC = 1
KDF_MAC = 2
KDF_PI = 3


# --- key derivation ---------------------------------------------------------------------------


def adjust_parity(key: bytes) -> bytes:
    """Set the DES odd-parity bit of every byte (ICAO 9303-11 §9.7.1.1: 3DES keys are
    parity-adjusted)."""
    out = bytearray()
    for b in key:
        b &= 0xFE
        out.append(b | ((bin(b).count("1") + 1) & 1))
    return bytes(out)


def kdf(secret: bytes, counter: int, cipher: CipherKind, key_bits: int = 128) -> bytes:
    """KDF(K, c) of ICAO 9303-11 §9.7.1: H(K ‖ c) with c a 32-bit big-endian counter;
    SHA-1 for 3DES and AES-128, SHA-256 for AES-192/256."""
    data = secret + counter.to_bytes(4, "big")
    if cipher == "3DES":
        if key_bits not in (112, 128):
            raise ValueError("3DES keys are 2-key (112/128 bits)")
        return adjust_parity(hashlib.sha1(data).digest()[:16])
    if key_bits == 128:
        return hashlib.sha1(data).digest()[:16]
    if key_bits in (192, 256):
        return hashlib.sha256(data).digest()[: key_bits // 8]
    raise ValueError(f"unsupported AES key length {key_bits}")


def bac_key_seed(mrz_information: str) -> bytes:
    """K_seed = the 16 most significant bytes of SHA-1(MRZ information) (Appendix D.2)."""
    return hashlib.sha1(mrz_information.encode("ascii")).digest()[:16]


def bac_keys(mrz_information: str) -> tuple[bytes, bytes]:
    """(K_Enc, K_MAC) of BAC from the MRZ information."""
    seed = bac_key_seed(mrz_information)
    return kdf(seed, KDF_ENC, "3DES"), kdf(seed, KDF_MAC, "3DES")


def pace_password_key(password: bytes | str, kind: Literal["MRZ", "CAN"]) -> bytes:
    """The PACE password secret K (§9.7.3): SHA-1 of the MRZ information, or the CAN itself
    (ISO 8859-1 digits)."""
    if isinstance(password, str):
        password = password.encode("latin-1")
    if kind == "MRZ":
        return hashlib.sha1(password).digest()
    return password


# --- padding, block ciphers, MACs ---------------------------------------------------------------


def pad(data: bytes, block: int = 8) -> bytes:
    """ISO/IEC 9797-1 padding method 2: 0x80 then zeros up to a block boundary."""
    data = data + b"\x80"
    return data + b"\x00" * (-len(data) % block)


def unpad(data: bytes) -> bytes:
    """Remove ISO/IEC 9797-1 method 2 padding; :class:`ProtocolError` if there is none."""
    end = data.rstrip(b"\x00")
    if not end or end[-1] != 0x80 or len(data) - len(end) >= 16:
        raise ProtocolError("bad ISO 9797-1 padding in decrypted data")
    return end[:-1]


def _des3_key(key: bytes) -> bytes:
    if len(key) == 16:
        return key + key[:8]  # 2-key 3DES: K1 K2 K1
    if len(key) == 24:
        return key
    raise ValueError("3DES key must be 16 or 24 bytes")


def _check_blocks(data: bytes, block: int) -> None:
    if len(data) % block:
        raise ProtocolError(f"data of {len(data)} bytes is not a multiple of {block}")


def des3_encrypt(key: bytes, data: bytes, iv: bytes = b"\x00" * 8) -> bytes:
    _check_blocks(data, 8)
    enc = _Cipher(_TripleDES(_des3_key(key)), modes.CBC(iv)).encryptor()
    return enc.update(data) + enc.finalize()


def des3_decrypt(key: bytes, data: bytes, iv: bytes = b"\x00" * 8) -> bytes:
    _check_blocks(data, 8)
    dec = _Cipher(_TripleDES(_des3_key(key)), modes.CBC(iv)).decryptor()
    return dec.update(data) + dec.finalize()


def aes_encrypt(key: bytes, data: bytes, iv: bytes = b"\x00" * 16) -> bytes:
    _check_blocks(data, 16)
    enc = _Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return enc.update(data) + enc.finalize()


def aes_decrypt(key: bytes, data: bytes, iv: bytes = b"\x00" * 16) -> bytes:
    _check_blocks(data, 16)
    dec = _Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    return dec.update(data) + dec.finalize()


def _des_ecb(key8: bytes, block: bytes, *, decrypt: bool = False) -> bytes:
    # Single DES as 3DES with K1=K2=K3 (cryptography has no plain DES).
    c = _Cipher(_TripleDES(key8 * 3), modes.ECB())
    op = c.decryptor() if decrypt else c.encryptor()
    return op.update(block) + op.finalize()


def retail_mac(key: bytes, data: bytes) -> bytes:
    """ISO/IEC 9797-1 MAC algorithm 3 (single-DES CBC, 3DES on the last block) with a 2-key
    3DES key. ``data`` must already be padded (a multiple of 8 bytes)."""
    _check_blocks(data, 8)
    if len(data) == 0:
        raise ValueError("retail MAC of nothing")
    ka, kb = key[:8], key[8:16]
    enc = _Cipher(_TripleDES(ka * 3), modes.CBC(b"\x00" * 8)).encryptor()
    h = (enc.update(data) + enc.finalize())[-8:]
    h = _des_ecb(kb, h, decrypt=True)
    return _des_ecb(ka, h)


def aes_cmac(key: bytes, data: bytes) -> bytes:
    """AES-CMAC (NIST SP 800-38B) truncated to 8 bytes, as ICAO 9303-11 §9.8.6.2 uses it."""
    c = _cmac.CMAC(algorithms.AES(key))
    c.update(data)
    return c.finalize()[:8]


def decrypt_nonce(cipher: CipherKind, k_pi: bytes, z: bytes) -> bytes:
    """PACE step 1: s = D(K_π, z), CBC with a zero IV (§9.5.4)."""
    return des3_decrypt(k_pi, z) if cipher == "3DES" else aes_decrypt(k_pi, z)


def encrypt_nonce(cipher: CipherKind, k_pi: bytes, s: bytes) -> bytes:
    """The chip side of PACE step 1: z = E(K_π, s)."""
    return des3_encrypt(k_pi, s) if cipher == "3DES" else aes_encrypt(k_pi, s)


@dataclass(frozen=True, repr=False)
class SessionKeys:
    """Secure-messaging session keys and the cipher they belong to (repr hides the keys)."""

    cipher: CipherKind
    k_enc: bytes
    k_mac: bytes

    def __repr__(self) -> str:
        return f"SessionKeys({self.cipher}-{len(self.k_enc) * 8})"

    @property
    def block(self) -> int:
        """Block size: also the SSC length and the padding boundary (8 for 3DES, 16 for AES)."""
        return 8 if self.cipher == "3DES" else 16

    @classmethod
    def derive(cls, secret: bytes, cipher: CipherKind, key_bits: int = 128) -> SessionKeys:
        """KS_Enc = KDF(K, 1), KS_MAC = KDF(K, 2)."""
        return cls(cipher, kdf(secret, KDF_ENC, cipher, key_bits),
                   kdf(secret, KDF_MAC, cipher, key_bits))

    def iv(self, ssc: bytes) -> bytes:
        """The encryption IV: zero for 3DES, E(KS_Enc, SSC) for AES (§9.8.6.2)."""
        if self.cipher == "3DES":
            return b"\x00" * 8
        enc = _Cipher(algorithms.AES(self.k_enc), modes.ECB()).encryptor()
        return enc.update(ssc) + enc.finalize()

    def encrypt(self, ssc: bytes, padded: bytes) -> bytes:
        if self.cipher == "3DES":
            return des3_encrypt(self.k_enc, padded)
        return aes_encrypt(self.k_enc, padded, self.iv(ssc))

    def decrypt(self, ssc: bytes, data: bytes) -> bytes:
        if self.cipher == "3DES":
            return des3_decrypt(self.k_enc, data)
        return aes_decrypt(self.k_enc, data, self.iv(ssc))

    def mac(self, padded: bytes) -> bytes:
        """MAC over already padded data (retail MAC for 3DES, CMAC-8 for AES)."""
        if self.cipher == "3DES":
            return retail_mac(self.k_mac, padded)
        return aes_cmac(self.k_mac, padded)


# --- elliptic curves ----------------------------------------------------------------------------

Point = tuple[int, int] | None
"""An affine point; ``None`` is the point at infinity."""


@dataclass(frozen=True)
class Curve:
    """Short Weierstrass curve y² = x³ + ax + b over GF(p), with generator G of order n."""

    name: str
    p: int
    a: int
    b: int
    gx: int
    gy: int
    n: int
    h: int = 1

    @property
    def size(self) -> int:
        """Bytes of a field element."""
        return (self.p.bit_length() + 7) // 8

    @property
    def g(self) -> tuple[int, int]:
        return (self.gx, self.gy)

    def contains(self, pt: Point) -> bool:
        if pt is None:
            return False
        x, y = pt
        if not (0 <= x < self.p and 0 <= y < self.p):
            return False
        return (y * y - (x * x * x + self.a * x + self.b)) % self.p == 0

    # Jacobian coordinates (X, Y, Z) ↔ affine (X/Z², Y/Z³): no inversion per step.
    def _double(self, x: int, y: int, z: int) -> tuple[int, int, int]:
        p = self.p
        if y == 0 or z == 0:
            return (1, 1, 0)
        yy = y * y % p
        s = 4 * x * yy % p
        zz = z * z % p
        m = (3 * x * x + self.a * zz * zz) % p
        x3 = (m * m - 2 * s) % p
        y3 = (m * (s - x3) - 8 * yy * yy) % p
        z3 = 2 * y * z % p
        return (x3, y3, z3)

    def _add(self, p1: tuple[int, int, int], p2: tuple[int, int, int]) -> tuple[int, int, int]:
        p = self.p
        x1, y1, z1 = p1
        x2, y2, z2 = p2
        if z1 == 0:
            return p2
        if z2 == 0:
            return p1
        z1z1 = z1 * z1 % p
        z2z2 = z2 * z2 % p
        u1 = x1 * z2z2 % p
        u2 = x2 * z1z1 % p
        s1 = y1 * z2 * z2z2 % p
        s2 = y2 * z1 * z1z1 % p
        if u1 == u2:
            if s1 != s2:
                return (1, 1, 0)
            return self._double(x1, y1, z1)
        hh = (u2 - u1) % p
        r = (s2 - s1) % p
        h2 = hh * hh % p
        h3 = hh * h2 % p
        u1h2 = u1 * h2 % p
        x3 = (r * r - h3 - 2 * u1h2) % p
        y3 = (r * (u1h2 - x3) - s1 * h3) % p
        z3 = hh * z1 * z2 % p
        return (x3, y3, z3)

    def _affine(self, pt: tuple[int, int, int]) -> Point:
        x, y, z = pt
        if z == 0:
            return None
        zi = pow(z, -1, self.p)
        zi2 = zi * zi % self.p
        return (x * zi2 % self.p, y * zi2 * zi % self.p)

    def add(self, p1: Point, p2: Point) -> Point:
        if p1 is None:
            return p2
        if p2 is None:
            return p1
        return self._affine(self._add((*p1, 1), (*p2, 1)))

    def mul(self, k: int, pt: Point) -> Point:
        """k·P by double-and-add over Jacobian coordinates."""
        if pt is None:
            return None
        k %= self.n
        if k == 0:
            return None
        base = (*pt, 1)
        acc: tuple[int, int, int] = (1, 1, 0)
        for bit in bin(k)[2:]:
            acc = self._double(*acc)
            if bit == "1":
                acc = self._add(acc, base)
        return self._affine(acc)

    def encode(self, pt: Point) -> bytes:
        """Uncompressed encoding 04 ‖ x ‖ y (BSI TR-03111 §3.2.1)."""
        if pt is None:
            raise ValueError("cannot encode the point at infinity")
        return b"\x04" + pt[0].to_bytes(self.size, "big") + pt[1].to_bytes(self.size, "big")

    def decode(self, data: bytes) -> tuple[int, int]:
        """Parse an uncompressed point and check it lies on the curve (an invalid-curve point
        from a card would leak the private key)."""
        n = self.size
        if len(data) != 1 + 2 * n or data[0] != 0x04:
            raise ProtocolError(f"{self.name}: point is not an uncompressed {2 * n + 1}-byte "
                                "encoding")
        pt = (int.from_bytes(data[1 : 1 + n], "big"), int.from_bytes(data[1 + n :], "big"))
        if not self.contains(pt):
            raise ProtocolError(f"{self.name}: point is not on the curve")
        return pt

    def random_scalar(self) -> int:
        return secrets.randbelow(self.n - 1) + 1

    def public_key(self, private: int, generator: Point = None) -> tuple[int, int]:
        pt = self.mul(private, generator or self.g)
        if pt is None:
            raise ValueError("private key gives the point at infinity")
        return pt

    def shared_x(self, private: int, peer: tuple[int, int]) -> bytes:
        """ECDH: the x coordinate of private·peer, as a field-size octet string."""
        pt = self.mul(private, peer)
        if pt is None:
            raise ProtocolError(f"{self.name}: ECDH gave the point at infinity")
        return pt[0].to_bytes(self.size, "big")


def _h(s: str) -> int:
    return int(s, 16)


BRAINPOOL_P256R1 = Curve(
    "brainpoolP256r1",
    p=_h("A9FB57DBA1EEA9BC3E660A909D838D726E3BF623D52620282013481D1F6E5377"),
    a=_h("7D5A0975FC2C3057EEF67530417AFFE7FB8055C126DC5C6CE94A4B44F330B5D9"),
    b=_h("26DC5C6CE94A4B44F330B5D9BBD77CBF958416295CF7E1CE6BCCDC18FF8C07B6"),
    gx=_h("8BD2AEB9CB7E57CB2C4B482FFC81B7AFB9DE27E1E3BD23C23A4453BD9ACE3262"),
    gy=_h("547EF835C3DAC4FD97F8461A14611DC9C27745132DED8E545C1D54C72F046997"),
    n=_h("A9FB57DBA1EEA9BC3E660A909D838D718C397AA3B561A6F7901E0E82974856A7"),
)
BRAINPOOL_P384R1 = Curve(
    "brainpoolP384r1",
    p=_h("8CB91E82A3386D280F5D6F7E50E641DF152F7109ED5456B412B1DA197FB71123"
         "ACD3A729901D1A71874700133107EC53"),
    a=_h("7BC382C63D8C150C3C72080ACE05AFA0C2BEA28E4FB22787139165EFBA91F90F"
         "8AA5814A503AD4EB04A8C7DD22CE2826"),
    b=_h("04A8C7DD22CE28268B39B55416F0447C2FB77DE107DCD2A62E880EA53EEB62D5"
         "7CB4390295DBC9943AB78696FA504C11"),
    gx=_h("1D1C64F068CF45FFA2A63A81B7C13F6B8847A3E77EF14FE3DB7FCAFE0CBD10E8"
          "E826E03436D646AAEF87B2E247D4AF1E"),
    gy=_h("8ABE1D7520F9C2A45CB1EB8E95CFD55262B70B29FEEC5864E19C054FF9912928"
          "0E4646217791811142820341263C5315"),
    n=_h("8CB91E82A3386D280F5D6F7E50E641DF152F7109ED5456B31F166E6CAC0425A7"
         "CF3AB6AF6B7FC3103B883202E9046565"),
)
BRAINPOOL_P512R1 = Curve(
    "brainpoolP512r1",
    p=_h("AADD9DB8DBE9C48B3FD4E6AE33C9FC07CB308DB3B3C9D20ED6639CCA70330871"
         "7D4D9B009BC66842AECDA12AE6A380E62881FF2F2D82C68528AA6056583A48F3"),
    a=_h("7830A3318B603B89E2327145AC234CC594CBDD8D3DF91610A83441CAEA9863BC"
         "2DED5D5AA8253AA10A2EF1C98B9AC8B57F1117A72BF2C7B9E7C1AC4D77FC94CA"),
    b=_h("3DF91610A83441CAEA9863BC2DED5D5AA8253AA10A2EF1C98B9AC8B57F1117A7"
         "2BF2C7B9E7C1AC4D77FC94CADC083E67984050B75EBAE5DD2809BD638016F723"),
    gx=_h("81AEE4BDD82ED9645A21322E9C4C6A9385ED9F70B5D916C1B43B62EEF4D0098E"
          "FF3B1F78E2D0D48D50D1687B93B97D5F7C6D5047406A5E688B352209BCB9F822"),
    gy=_h("7DDE385D566332ECC0EABFA9CF7822FDF209F70024A57B1AA000C55B881F8111"
          "B2DCDE494A5F485E5BCA4BD88A2763AED1CA2B2FA8F0540678CD1E0F3AD80892"),
    n=_h("AADD9DB8DBE9C48B3FD4E6AE33C9FC07CB308DB3B3C9D20ED6639CCA70330870"
         "553E5C414CA92619418661197FAC10471DB1D381085DDADDB58796829CA90069"),
)
NIST_P256 = Curve(
    "secp256r1",
    p=_h("FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF"),
    a=_h("FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFC"),
    b=_h("5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B"),
    gx=_h("6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296"),
    gy=_h("4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5"),
    n=_h("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551"),
)
NIST_P384 = Curve(
    "secp384r1",
    p=(1 << 384) - (1 << 128) - (1 << 96) + (1 << 32) - 1,
    a=(1 << 384) - (1 << 128) - (1 << 96) + (1 << 32) - 4,
    b=_h("B3312FA7E23EE7E4988E056BE3F82D19181D9C6EFE8141120314088F5013875A"
         "C656398D8A2ED19D2A85C8EDD3EC2AEF"),
    gx=_h("AA87CA22BE8B05378EB1C71EF320AD746E1D3B628BA79B9859F741E082542A38"
          "5502F25DBF55296C3A545E3872760AB7"),
    gy=_h("3617DE4A96262C6F5D9E98BF9292DC29F8F41DBD289A147CE9DA3113B5F0B8C0"
          "0A60B1CE1D7E819D7A431D7C90EA0E5F"),
    n=_h("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF"
         "581A0DB248B0A77AECEC196ACCC52973"),
)
NIST_P521 = Curve(
    "secp521r1",
    p=(1 << 521) - 1,
    a=(1 << 521) - 4,
    b=_h("0051953EB9618E1C9A1F929A21A0B68540EEA2DA725B99B315F3B8B489918EF1"
         "09E156193951EC7E937B1652C0BD3BB1BF073573DF883D2C34F1EF451FD46B503F00"),
    gx=_h("00C6858E06B70404E9CD9E3ECB662395B4429C648139053FB521F828AF606B4D"
          "3DBAA14B5E77EFE75928FE1DC127A2FFA8DE3348B3C1856A429BF97E7E31C2E5BD66"),
    gy=_h("011839296A789A3BC0045C8A5FB42C7D1BD998F54449579B446817AFBD17273E"
          "662C97EE72995EF42640C550B9013FAD0761353C7086A272C24088BE94769FD16650"),
    n=_h("01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
         "FA51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409"),
)

CURVES: dict[str, Curve] = {c.name: c for c in (
    BRAINPOOL_P256R1, BRAINPOOL_P384R1, BRAINPOOL_P512R1, NIST_P256, NIST_P384, NIST_P521)}

# Standardized domain parameters (ICAO 9303-11 §9.5.1, BSI TR-03110-3 table 4): the parameterId
# of PACEInfo. Only the ECDH curves this station supports are listed.
STANDARD_DOMAIN_PARAMETERS: dict[int, Curve] = {
    12: NIST_P256, 13: BRAINPOOL_P256R1, 15: NIST_P384, 16: BRAINPOOL_P384R1,
    17: BRAINPOOL_P512R1, 18: NIST_P521,
}


def curve_for_parameter_id(parameter_id: int) -> Curve:
    try:
        return STANDARD_DOMAIN_PARAMETERS[parameter_id]
    except KeyError:

        raise UnsupportedCard(f"PACE domain parameters {parameter_id} are not supported") from None


# --- PACE Generic Mapping and tokens ------------------------------------------------------------


def gm_mapped_generator(curve: Curve, s: bytes, h: Point) -> tuple[int, int]:
    """Generic Mapping (§9.5.4.1): G̃ = s·G + H, with H the ECDH point of the mapping keys."""
    g = curve.add(curve.mul(int.from_bytes(s, "big"), curve.g), h)
    if g is None:
        raise ProtocolError("PACE mapping gave the point at infinity")
    return g


def gm_shared_point(curve: Curve, private: int, peer: tuple[int, int]) -> tuple[int, int]:
    """H = private · peer mapping public key (the whole point, not only x)."""
    pt = curve.mul(private, peer)
    if pt is None:
        raise ProtocolError("PACE mapping gave the point at infinity")
    return pt


def encode_oid(oid: str) -> bytes:
    """DER content octets of an OBJECT IDENTIFIER given in dotted form."""
    arcs = [int(a) for a in oid.split(".")]
    if len(arcs) < 2:
        raise ValueError("an OID has at least two arcs")
    out = bytearray((40 * arcs[0] + arcs[1],))
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return bytes(out)


def decode_oid(content: bytes) -> str:
    if not content:
        raise ProtocolError("empty OBJECT IDENTIFIER")
    first = content[0]
    arcs: list[int] = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    value = 0
    for b in content[1:]:
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            arcs.append(value)
            value = 0
    if content[-1] & 0x80:
        raise ProtocolError("truncated OBJECT IDENTIFIER")
    return ".".join(str(a) for a in arcs)


def public_key_data_object(oid: str, public_point: bytes) -> bytes:
    """7F49 { 06 OID, 86 ECDH point } — the input of the PACE token (§9.5.5 / TR-03110-3 D.3)."""
    return tlv.encode(0x7F49, tlv.encode(0x06, encode_oid(oid)) + tlv.encode(0x86, public_point))


def auth_token(keys: SessionKeys, oid: str, peer_public_point: bytes) -> bytes:
    """T = MAC(KS_MAC, PK data object of the *other* side's ephemeral key). CMAC needs no padding;
    the retail MAC is computed over ISO 9797-1 method 2 padded input."""
    data = public_key_data_object(oid, peer_public_point)
    if keys.cipher == "3DES":
        return retail_mac(keys.k_mac, pad(data, 8))
    return aes_cmac(keys.k_mac, data)


def constant_time_equal(a: bytes, b: bytes) -> bool:
    return secrets.compare_digest(a, b)


def xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))
