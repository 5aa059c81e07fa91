"""EF.CardSecurity is read only from chips whose EF.CardAccess says they have one
(BSI TR-03110-3: PACE-CAM, or chip/terminal authentication version 2)."""

from __future__ import annotations

from station.nfc.lds.secinfo import (
    ChipAuthenticationInfo,
    PaceInfo,
    SecurityInfos,
    TerminalAuthenticationInfo,
    parse_security_infos,
)
from station.nfc.password import AccessKey
from station.nfc.session import ChipSession
from station.sim import issuer
from station.sim.chip import CccdChip
from station.sim.citizens import generate
from tests.fakes import Direct

GM = PaceInfo("0.4.0.127.0.7.2.2.4.2.2", 2, 13, "ECDH", "GM", "AES", 128)
CAM = PaceInfo("0.4.0.127.0.7.2.2.4.6.2", 2, 13, "ECDH", "CAM", "AES", 128)


def _ca(version: int) -> ChipAuthenticationInfo:
    return ChipAuthenticationInfo("0.4.0.127.0.7.2.2.3.2.2", version, None, "ECDH", "AES", 128)


def test_which_cards_have_card_security() -> None:
    ta1 = TerminalAuthenticationInfo("0.4.0.127.0.7.2.2.2", 1)
    ta2 = TerminalAuthenticationInfo("0.4.0.127.0.7.2.2.2", 2)
    assert not SecurityInfos((GM, _ca(1), ta1)).has_card_security  # the CCCD's
    assert SecurityInfos((CAM, _ca(1))).has_card_security
    assert SecurityInfos((GM, _ca(2))).has_card_security
    assert SecurityInfos((GM, ta2)).has_card_security


def test_cccd_read_spends_no_apdu_on_card_security() -> None:
    image = issuer.issue(generate(71))
    infos = parse_security_infos(image.mf_files[0x011C])
    assert not infos.has_card_security
    link = Direct(CccdChip(image))
    ChipSession(AccessKey.can(image.can)).read(link)
    # EF.CardSecurity and EF.SOD share FID 011D (SFI 1D): the first lives in the MF and would
    # be read before the eMRTD application is selected; EF.SOD only after. Header bytes stay
    # in clear under secure messaging.
    app = next(i for i, a in enumerate(link.apdus) if a[1:3] == b"\xa4\x04")
    before = link.apdus[:app]
    assert not any(a[1] == 0xB0 and a[2] == 0x80 | 0x1D for a in before)
    assert not any(a[1] == 0xA4 and a[2] in (0x00, 0x02) and a[0] & 0x0C for a in before)
