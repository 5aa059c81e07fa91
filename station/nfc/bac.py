"""Basic Access Control, terminal side (ICAO 9303-11 §4.3 and Appendix D).

GET CHALLENGE → RND.IC; EXTERNAL AUTHENTICATE with E_IFD = E(K_Enc, RND.IFD ‖ RND.IC ‖ K.IFD)
and its retail MAC; the chip answers E_IC ‖ M_IC. Session keys come from K.IFD ⊕ K.IC and the
SSC from the low halves of both challenges.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from station.drivers.reader import Transport
from station.errors import AuthFailed, ProtocolError, StatusWordError
from station.nfc import crypto
from station.nfc.apdu import CommandApdu, transceive
from station.nfc.crypto import SessionKeys
from station.nfc.password import AccessKey
from station.nfc.sm import SecureMessaging


def authenticate(transport: Transport, key: AccessKey, *,
                 random: Callable[[int], bytes] = secrets.token_bytes) -> SecureMessaging:
    """Run BAC with the MRZ key; :class:`AuthFailed` when the chip refuses it."""
    if key.kind != "MRZ":
        raise AuthFailed("BAC needs the MRZ key")
    k_enc, k_mac = crypto.bac_keys(key.value)
    resp = transceive(transport, CommandApdu(0x00, 0x84, 0x00, 0x00, le=8))
    if resp.sw != 0x9000 or len(resp.data) != 8:
        raise StatusWordError(resp.sw, "GET CHALLENGE") if resp.sw != 0x9000 else \
            ProtocolError("GET CHALLENGE did not return 8 bytes")
    rnd_ic = resp.data
    rnd_ifd, k_ifd = random(8), random(16)
    e_ifd = crypto.des3_encrypt(k_enc, rnd_ifd + rnd_ic + k_ifd)
    m_ifd = crypto.retail_mac(k_mac, crypto.pad(e_ifd))
    resp = transceive(transport, CommandApdu(0x00, 0x82, 0x00, 0x00, e_ifd + m_ifd, le=40))
    # 6300 / 6982 / 63Cx as 9303-11 §4.3 chips answer; 6988 ("SM data objects incorrect") is
    # how vsmartcard's vicc ePass says M_IFD did not verify under its MRZ-derived K_MAC.
    if resp.sw in (0x6300, 0x6982, 0x6988) or resp.sw >> 4 == 0x63C:
        raise AuthFailed("BAC refused the MRZ key",
                         tries_left=resp.sw & 0xF if resp.sw >> 4 == 0x63C else None)
    resp.check("EXTERNAL AUTHENTICATE")
    if len(resp.data) != 40:
        raise ProtocolError("EXTERNAL AUTHENTICATE answer is not 40 bytes")
    e_ic, m_ic = resp.data[:32], resp.data[32:]
    if not crypto.constant_time_equal(crypto.retail_mac(k_mac, crypto.pad(e_ic)), m_ic):
        raise AuthFailed("the chip's BAC cryptogram MAC does not verify")
    r = crypto.des3_decrypt(k_enc, e_ic)
    if r[:8] != rnd_ic or r[8:16] != rnd_ifd:
        raise AuthFailed("the chip's BAC answer does not echo the challenges")
    keys = SessionKeys.derive(crypto.xor(k_ifd, r[16:32]), "3DES")
    ssc = int.from_bytes(rnd_ic[4:] + rnd_ifd[4:], "big")
    return SecureMessaging(transport, keys, ssc)


__all__ = ["authenticate"]
