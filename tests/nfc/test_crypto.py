"""ICAO 9303-11 worked examples (Appendix D: BAC; Appendix G: PACE ECDH-GM brainpoolP256r1
AES-128) reproduced from their inputs, plus the curve arithmetic checked against cryptography."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from station.errors import ProtocolError
from station.nfc import crypto
from station.nfc.crypto import BRAINPOOL_P256R1, CURVES, SessionKeys
from tests.nfc.icao_vectors import (
    C_EPH_PRIV,
    C_EPH_PUB,
    C_MAP_PRIV,
    C_MAP_PUB,
    MAPPED_G,
    MRZ_INFO_D,
    MRZ_INFO_G,
    OID_PACE_ECDH_GM_AES128,
    SHARED_H,
    T_EPH_PRIV,
    T_EPH_PUB,
    T_MAP_PRIV,
    T_MAP_PUB,
)

H = bytes.fromhex

# --- Appendix D (BAC) -------------------------------------------------------------------------

def test_bac_key_derivation_appendix_d() -> None:
    assert crypto.bac_key_seed(MRZ_INFO_D) == H("239AB9CB282DAF66231DC5A4DF6BFBAE")
    k_enc, k_mac = crypto.bac_keys(MRZ_INFO_D)
    assert k_enc == H("AB94FDECF2674FDFB9B391F85D7F76F2")
    assert k_mac == H("7962D9ECE03D1ACD4C76089DCE131543")


def test_bac_mutual_authentication_cryptograms_appendix_d() -> None:
    k_enc, k_mac = crypto.bac_keys(MRZ_INFO_D)
    rnd_ic, rnd_ifd = H("4608F91988702212"), H("781723860C06C226")
    k_ifd = H("0B795240CB7049B01C19B33E32804F0B")
    e_ifd = crypto.des3_encrypt(k_enc, rnd_ifd + rnd_ic + k_ifd)
    assert e_ifd == H("72C29C2371CC9BDB65B779B8E8D37B29ECC154AA56A8799FAE2F498F76ED92F2")
    assert crypto.retail_mac(k_mac, crypto.pad(e_ifd)) == H("5F1448EEA8AD90A7")
    # The chip's answer decrypts to RND.IC ‖ RND.IFD ‖ K.IC.
    e_ic = H("46B9342A41396CD7386BF5803104D7CEDC122B9132139BAF2EEDC94EE178534F")
    assert crypto.retail_mac(k_mac, crypto.pad(e_ic)) == H("2F2D235D074D7449")
    r = crypto.des3_decrypt(k_enc, e_ic)
    assert r[:8] == rnd_ic and r[8:16] == rnd_ifd
    k_ic = r[16:]
    assert k_ic == H("0B4F80323EB3191CB04970CB4052790B")
    keys = SessionKeys.derive(crypto.xor(k_ifd, k_ic), "3DES")
    assert keys.k_enc == H("979EC13B1CBFE9DCD01AB0FED307EAE5")
    assert keys.k_mac == H("F1CB1F1FB5ADF208806B89DC579DC1F8")


def test_pad_unpad() -> None:
    assert crypto.pad(H("011E")) == H("011E800000000000")
    assert crypto.pad(b"", 16) == H("80") + bytes(15)
    assert crypto.pad(bytes(8)) == bytes(8) + H("8000000000000000")
    assert crypto.unpad(H("011E800000000000")) == H("011E")
    for bad in (bytes(8), H("0102030405060708"), H("80") + bytes(16)):
        with pytest.raises(ProtocolError):
            crypto.unpad(bad)


# --- Appendix G (PACE ECDH-GM, brainpoolP256r1, AES-128) --------------------------------------

def test_pace_password_and_nonce_appendix_g() -> None:
    k = crypto.pace_password_key(MRZ_INFO_G, "MRZ")
    assert k == H("7E2D2A41C74EA0B38CD36F863939BFA8E9032AAD")
    k_pi = crypto.kdf(k, crypto.KDF_PI, "AES", 128)
    assert k_pi == H("89DED1B26624EC1E634C1989302849DD")
    s = crypto.decrypt_nonce("AES", k_pi, H("95A3A016522EE98D01E76CB6B98B42C3"))
    assert s == H("3F00C4D39D153F2B2A214A078D899B22")
    assert crypto.encrypt_nonce("AES", k_pi, s) == H("95A3A016522EE98D01E76CB6B98B42C3")


def test_pace_generic_mapping_appendix_g() -> None:
    c = BRAINPOOL_P256R1
    assert c.public_key(T_MAP_PRIV) == T_MAP_PUB
    assert c.public_key(C_MAP_PRIV) == C_MAP_PUB
    # Both sides reach the same H and the same mapped generator.
    assert crypto.gm_shared_point(c, T_MAP_PRIV, C_MAP_PUB) == SHARED_H
    assert crypto.gm_shared_point(c, C_MAP_PRIV, T_MAP_PUB) == SHARED_H
    s = H("3F00C4D39D153F2B2A214A078D899B22")
    g_tilde = crypto.gm_mapped_generator(c, s, SHARED_H)
    assert g_tilde == MAPPED_G
    assert c.public_key(T_EPH_PRIV, g_tilde) == T_EPH_PUB
    assert c.public_key(C_EPH_PRIV, g_tilde) == C_EPH_PUB
    secret = c.shared_x(T_EPH_PRIV, C_EPH_PUB)
    assert secret == c.shared_x(C_EPH_PRIV, T_EPH_PUB)
    assert secret == H("28768D20701247DAE81804C9E780EDE582A9996DB4A315020B2733197DB84925")
    keys = SessionKeys.derive(secret, "AES", 128)
    assert keys.k_enc == H("F5F0E35C0D7161EE6724EE513A0D9A7F")
    assert keys.k_mac == H("FE251C7858B356B24514B3BD5F4297D1")
    t_pcd = crypto.auth_token(keys, OID_PACE_ECDH_GM_AES128, c.encode(C_EPH_PUB))
    t_picc = crypto.auth_token(keys, OID_PACE_ECDH_GM_AES128, c.encode(T_EPH_PUB))
    assert t_pcd == H("C2B0BD78D94BA866")
    assert t_picc == H("3ABB9674BCE93C08")


def test_oid_round_trip() -> None:
    content = crypto.encode_oid(OID_PACE_ECDH_GM_AES128)
    assert content == H("04007F00070202040202")
    assert crypto.decode_oid(content) == OID_PACE_ECDH_GM_AES128
    assert crypto.encode_oid("1.0.10646.1.0.8") == H("28D316010008")
    assert crypto.decode_oid(H("28D316010008")) == "1.0.10646.1.0.8"


_CRYPTOGRAPHY_CURVES: dict[str, ec.EllipticCurve] = {
    "brainpoolP256r1": ec.BrainpoolP256R1(), "brainpoolP384r1": ec.BrainpoolP384R1(),
    "brainpoolP512r1": ec.BrainpoolP512R1(), "secp256r1": ec.SECP256R1(),
    "secp384r1": ec.SECP384R1(), "secp521r1": ec.SECP521R1(),
}


@pytest.mark.parametrize("name", sorted(CURVES))
def test_curve_parameters_and_arithmetic_agree_with_cryptography(name: str) -> None:
    c = CURVES[name]
    assert c.contains(c.g)
    assert c.mul(c.n, c.g) is None  # G has order n
    k = int.from_bytes(hashlib.sha512(name.encode()).digest(), "big") % c.n
    ours = c.public_key(k)
    theirs = ec.derive_private_key(k, _CRYPTOGRAPHY_CURVES[name]).public_key().public_numbers()
    assert ours == (theirs.x, theirs.y)
    # ECDH agrees with OpenSSL's.
    k2 = (k * 7 + 3) % c.n
    peer = c.public_key(k2)
    priv = ec.derive_private_key(k, _CRYPTOGRAPHY_CURVES[name])
    pub = ec.EllipticCurvePublicNumbers(*peer, _CRYPTOGRAPHY_CURVES[name]).public_key()
    assert c.shared_x(k, peer) == priv.exchange(ec.ECDH(), pub)
    assert c.decode(c.encode(peer)) == peer
    # Addition is consistent with scalar multiplication: 2P + 3P = 5P.
    assert c.add(c.mul(2, peer), c.mul(3, peer)) == c.mul(5, peer)
    assert c.add(peer, c.mul(c.n - 1, peer)) is None


def test_decode_rejects_points_off_the_curve() -> None:
    c = BRAINPOOL_P256R1
    x, y = c.g
    with pytest.raises(ProtocolError):
        c.decode(b"\x04" + x.to_bytes(32, "big") + (y + 1).to_bytes(32, "big"))
    with pytest.raises(ProtocolError):
        c.decode(b"\x02" + x.to_bytes(32, "big"))


def test_kdf_key_lengths_and_3des_parity() -> None:
    secret = bytes(range(20))
    assert len(crypto.kdf(secret, 1, "AES", 192)) == 24
    assert crypto.kdf(secret, 1, "AES", 256) == hashlib.sha256(secret + H("00000001")).digest()
    k = crypto.kdf(secret, 1, "3DES")
    assert all(bin(b).count("1") % 2 == 1 for b in k)


def test_aes_sm_iv_is_encrypted_ssc() -> None:
    keys = SessionKeys("AES", bytes(range(16)), bytes(16))
    ssc = (1).to_bytes(16, "big")
    assert keys.iv(ssc) == crypto.aes_encrypt(keys.k_enc, ssc)
    assert SessionKeys("3DES", bytes(16), bytes(16)).iv(bytes(8)) == bytes(8)
    assert "00" not in repr(keys)
