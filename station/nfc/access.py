"""The choice of access control for the access keys (:mod:`station.nfc.password`).

PACE first (ICAO 9303-11 §4.4: a chip with PACE must be accessed with PACE when the terminal
supports it); BAC only when the card's EF.CardAccess offers no PACE at all. The protocol used is
always part of the result, never a silent downgrade.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from station.drivers.reader import Transport
from station.errors import (
    AuthFailed,
    PaceUnavailable,
    ProtocolError,
    StatusWordError,
    UnsupportedCard,
)
from station.log import event
from station.nfc import bac, pace
from station.nfc.files import read_file
from station.nfc.lds.secinfo import CardAccess
from station.nfc.password import AccessKey, AccessKeys, Passwords
from station.nfc.sm import SecureMessaging

log = logging.getLogger(__name__)

EF_CARD_ACCESS = 0x011C


@dataclass
class AccessResult:
    protocol: Literal["PACE", "BAC"]
    channel: SecureMessaging
    detail: str
    """e.g. ``PACE ECDH-GM AES-128 brainpoolP256r1 CAN`` (no secrets)."""
    card_access: CardAccess


def read_card_access(transport: Transport) -> CardAccess:
    """EF.CardAccess, selected directly by FID (some CCCDs answer SELECT MF with 6D00), and
    parsed: the tap's only parse of it. ``CardAccess()`` when the card has none."""
    try:
        raw = read_file(transport, EF_CARD_ACCESS, "CardAccess")
    except StatusWordError as exc:
        if exc.sw in (0x6A82, 0x6A86, 0x6A80, 0x6986, 0x6982, 0x6D00, 0x6E00):
            return CardAccess()
        raise
    return CardAccess.parse(raw)


def establish(transport: Transport, key: Passwords, *,
              require_pace: bool = False) -> AccessResult:
    """Read EF.CardAccess, then run PACE when the card offers it, BAC otherwise, and return the
    secure channel: the one place the protocol, and so the password (``key``), is chosen. PACE
    runs with the CAN when there is one, else the MRZ key; BAC only with the MRZ key
    (:class:`AuthFailed` otherwise). With ``require_pace`` (a CCCD) a card offering no PACE is
    refused (:class:`PaceUnavailable`) before any BAC command is sent."""
    card_access = read_card_access(transport)
    infos = card_access.infos
    if require_pace and not card_access.offers_pace:
        event(log, "nfc.pace_unavailable", card_access=card_access.raw is not None)
        raise PaceUnavailable("this document must be read with PACE, and its EF.CardAccess is "
                              + ("missing or unreadable" if card_access.raw is None else
                                 "without a PACEInfo") + "; BAC is not used")
    if infos is not None and infos.pace:
        info = infos.best_pace()
        if info is None:
            raise UnsupportedCard("the card offers only PACE variants this station does not "
                                  "implement")
        channel, detail = pace.authenticate(transport, key.pace_key(), info)
        event_name = "nfc.pace_ok"
        protocol: Literal["PACE", "BAC"] = "PACE"
    else:
        bac_key = key.bac_key()
        if bac_key is None:
            raise AuthFailed("the card has no PACE and BAC needs the MRZ key, not the CAN")
        channel = bac.authenticate(transport, bac_key)
        detail = "BAC 3DES MRZ"
        event_name = "nfc.bac_ok"
        protocol = "BAC"
    event(log, event_name, detail=detail)
    return AccessResult(protocol, channel, detail, card_access)


__all__ = ["AccessKey", "AccessKeys", "AccessResult", "CardAccess", "Passwords",
           "ProtocolError", "establish", "read_card_access"]
