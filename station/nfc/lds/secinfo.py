"""SecurityInfos (ICAO 9303-11 §9.2, BSI TR-03110-3 §A.1): EF.CardAccess and DG14.

``SecurityInfos ::= SET OF SecurityInfo``; ``SecurityInfo ::= SEQUENCE { protocol OID,
requiredData ANY, optionalData ANY OPTIONAL }``. Unknown protocols are kept as
:class:`OtherInfo` so a new card generation never breaks parsing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from station.errors import LdsFormatError, ProtocolError
from station.nfc import tlv
from station.nfc.crypto import STANDARD_DOMAIN_PARAMETERS, CipherKind, decode_oid

BSI_DE = "0.4.0.127.0.7"
ID_PK = BSI_DE + ".2.2.1"
ID_TA = BSI_DE + ".2.2.2"
ID_CA = BSI_DE + ".2.2.3"
ID_PACE = BSI_DE + ".2.2.4"
ID_AA = "2.23.136.1.1.5"

# id-PACE-<agreement>-<mapping> arcs (TR-03110-3 §A.1.1.1).
_PACE_MAPPINGS: dict[str, tuple[str, str]] = {
    "1": ("DH", "GM"), "2": ("ECDH", "GM"), "3": ("DH", "IM"), "4": ("ECDH", "IM"),
    "6": ("ECDH", "CAM"),
}
# Last arc: 1 = 3DES-CBC-CBC, 2/3/4 = AES-CBC-CMAC-128/192/256.
_CIPHERS: dict[str, tuple[CipherKind, int]] = {
    "1": ("3DES", 128), "2": ("AES", 128), "3": ("AES", 192), "4": ("AES", 256),
}


@dataclass(frozen=True)
class PaceInfo:
    oid: str
    version: int
    parameter_id: int | None
    agreement: Literal["DH", "ECDH"]
    mapping: Literal["GM", "IM", "CAM"]
    cipher: CipherKind
    key_bits: int

    @property
    def supported(self) -> bool:
        """What this station implements: ECDH Generic Mapping on a standardized curve."""

        return (self.agreement == "ECDH" and self.mapping == "GM" and self.version == 2
                and self.parameter_id in STANDARD_DOMAIN_PARAMETERS)


@dataclass(frozen=True)
class ChipAuthenticationInfo:
    oid: str
    version: int
    key_id: int | None
    agreement: Literal["DH", "ECDH"]
    cipher: CipherKind
    key_bits: int


@dataclass(frozen=True)
class ChipAuthenticationPublicKeyInfo:
    oid: str
    public_key: bytes
    """The DER SubjectPublicKeyInfo (chip authentication is the trust issue's to run)."""
    key_id: int | None


@dataclass(frozen=True)
class TerminalAuthenticationInfo:
    oid: str
    version: int


@dataclass(frozen=True)
class ActiveAuthenticationInfo:
    oid: str
    version: int
    signature_algorithm: str | None


@dataclass(frozen=True)
class OtherInfo:
    oid: str
    raw: bytes


SecurityInfo = (PaceInfo | ChipAuthenticationInfo | ChipAuthenticationPublicKeyInfo
                | TerminalAuthenticationInfo | ActiveAuthenticationInfo | OtherInfo)


@dataclass(frozen=True)
class SecurityInfos:
    infos: tuple[SecurityInfo, ...]

    @property
    def pace(self) -> tuple[PaceInfo, ...]:
        return tuple(i for i in self.infos if isinstance(i, PaceInfo))

    @property
    def chip_authentication(self) -> tuple[ChipAuthenticationInfo, ...]:
        return tuple(i for i in self.infos if isinstance(i, ChipAuthenticationInfo))

    @property
    def chip_authentication_keys(self) -> tuple[ChipAuthenticationPublicKeyInfo, ...]:
        return tuple(i for i in self.infos if isinstance(i, ChipAuthenticationPublicKeyInfo))

    @property
    def terminal_authentication(self) -> tuple[TerminalAuthenticationInfo, ...]:
        return tuple(i for i in self.infos if isinstance(i, TerminalAuthenticationInfo))

    @property
    def has_card_security(self) -> bool:
        """Whether the chip should have EF.CardSecurity: BSI TR-03110-3 requires it with
        PACE-CAM and with version 2 of chip or terminal authentication."""
        return (any(p.mapping == "CAM" for p in self.pace)
                or any(i.version >= 2 for i in self.chip_authentication)
                or any(i.version >= 2 for i in self.terminal_authentication))

    def best_pace(self) -> PaceInfo | None:
        """The strongest supported PACE option (AES over 3DES, longer keys first)."""
        usable = [p for p in self.pace if p.supported]
        if not usable:
            return None
        return max(usable, key=lambda p: (p.cipher == "AES", p.key_bits))


def _int(obj: tlv.Tlv, what: str) -> int:
    if obj.tag != 0x02 or not obj.value or len(obj.value) > 8:
        raise LdsFormatError(f"{what}: expected a small INTEGER")
    return int.from_bytes(obj.value, "big", signed=True)


def _info(seq: tlv.Tlv) -> SecurityInfo:
    if seq.tag != 0x30:
        raise LdsFormatError("SecurityInfo is not a SEQUENCE")
    parts = seq.children()
    if len(parts) < 2 or parts[0].tag != 0x06:
        raise LdsFormatError("SecurityInfo without protocol OID and required data")
    try:
        oid = decode_oid(parts[0].value)
    except ProtocolError as exc:
        raise LdsFormatError(f"SecurityInfo: {exc}") from None
    rest = parts[1:]
    if oid.startswith(ID_PACE + "."):
        arcs = oid[len(ID_PACE) + 1 :].split(".")
        if len(arcs) == 2 and arcs[0] in _PACE_MAPPINGS and arcs[1] in _CIPHERS:
            agreement, mapping = _PACE_MAPPINGS[arcs[0]]
            cipher, bits = _CIPHERS[arcs[1]]
            param = _int(rest[1], "PACEInfo parameterId") if len(rest) > 1 else None
            return PaceInfo(oid, _int(rest[0], "PACEInfo version"), param,
                            agreement, mapping, cipher, bits)  # type: ignore[arg-type]
    if oid.startswith(ID_CA + "."):
        arcs = oid[len(ID_CA) + 1 :].split(".")
        if len(arcs) == 2 and arcs[0] in ("1", "2") and arcs[1] in _CIPHERS:
            cipher, bits = _CIPHERS[arcs[1]]
            key_id = _int(rest[1], "ChipAuthenticationInfo keyId") if len(rest) > 1 else None
            return ChipAuthenticationInfo(oid, _int(rest[0], "ChipAuthenticationInfo version"),
                                          key_id, "DH" if arcs[0] == "1" else "ECDH",
                                          cipher, bits)
    if oid in (ID_PK + ".1", ID_PK + ".2"):
        key_id = _int(rest[1], "ChipAuthenticationPublicKeyInfo keyId") if len(rest) > 1 else None
        return ChipAuthenticationPublicKeyInfo(oid, rest[0].encode(), key_id)
    if oid == ID_TA:
        return TerminalAuthenticationInfo(oid, _int(rest[0], "TerminalAuthenticationInfo"))
    if oid == ID_AA:
        alg = None
        if len(rest) > 1 and rest[1].tag == 0x06:
            alg = decode_oid(rest[1].value)
        return ActiveAuthenticationInfo(oid, _int(rest[0], "ActiveAuthenticationInfo"), alg)
    return OtherInfo(oid, seq.encode())


def parse_security_infos(data: bytes) -> SecurityInfos:
    """Parse a DER ``SET OF SecurityInfo`` (EF.CardAccess, or the content of DG14)."""
    root = tlv.decode(data, trailing=True)
    if root.tag != 0x31:
        raise LdsFormatError("SecurityInfos is not a SET")
    return SecurityInfos(tuple(_info(seq) for seq in root.children()))


@dataclass(frozen=True, repr=False)
class CardAccess:
    """EF.CardAccess as one tap read it: its bytes (a resumed tap compares them, to refuse a
    different card) and its SecurityInfos, parsed once and passed along the reading (the PACE
    choice, EF.CardSecurity, the verifier's advertised chip authentication).
    ``raw`` None: the card has no readable EF.CardAccess."""

    raw: bytes | None = None
    infos: SecurityInfos | None = None

    @classmethod
    def parse(cls, raw: bytes) -> CardAccess:
        return cls(raw, parse_security_infos(raw))

    @property
    def offers_pace(self) -> bool:
        return self.infos is not None and bool(self.infos.pace)

    def __repr__(self) -> str:
        return "CardAccess(none)" if self.raw is None else f"CardAccess({len(self.raw)} bytes)"
