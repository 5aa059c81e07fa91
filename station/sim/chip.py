"""A virtual CCCD chip: the card side of ICAO 9303-11 access control, secure messaging, chip and
active authentication, over the file system of a Vietnamese chip ID card.

:class:`CccdChip` is a :class:`station.sim.vpcd.Card`: put it behind
:class:`station.sim.vpcd.VpcdLink` and pcscd sees a contactless card. Its files and secrets come
from a :class:`CardImage` (built by :func:`station.sim.issuer.issue` from a synthetic citizen,
or by hand for the ICAO test vectors); its behaviour, including deliberate quirks, from
:class:`ChipOptions`.

Behaviour of the real card that the chip copies:
- SELECT MF answers 6D00 (``ChipOptions.select_mf``); EF.CardAccess (011C) is selected directly;
- the eMRTD application (A0000002471001) holds EF.COM, DG1, DG2, DG3, DG13, DG14, DG15, EF.SOD;
  its files answer 6982 until access control succeeded, and DG3 always does (no terminal
  authentication here);
- PACE v2 ECDH Generic Mapping (CAN or MRZ password) and BAC; a wrong password answers 63Cx
  with the tries left, then 6983 (blocked);
- secure messaging per §9.8 with the SSC incremented before each command and each response; a
  command with a bad MAC answers 6988 and ends the session, as does any plain command;
- Chip Authentication (MSE:Set KAT for 3DES, MSE:Set AT + GENERAL AUTHENTICATE for AES) answers
  under the old keys and then switches to new ones with SSC 0;
- Active Authentication (INTERNAL AUTHENTICATE): RSA with ISO/IEC 9796-2 scheme 1 (SHA-1) or
  ECDSA (plain r‖s over SHA-256).

Every crypto primitive comes from ``station.nfc.crypto`` and ``station.nfc.sm``: the chip and
the terminal share one implementation, and both are checked against the published vectors.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from station.errors import LdsFormatError, ProtocolError
from station.log import event
from station.nfc import crypto, sm, tlv
from station.nfc.apdu import CommandApdu
from station.nfc.crypto import Curve, SessionKeys
from station.sim.lds import CIPHER_ARC, ID_CA_ECDH, CipherName, PaceOption
from station.sim.vpcd import contactless_atr

log = logging.getLogger(__name__)

EMRTD_AID = bytes.fromhex("A0000002471001")
EF_CARD_ACCESS = 0x011C
EF_COM, EF_SOD = 0x011E, 0x011D
DG3 = 0x0103
# Short EF identifiers (ICAO 9303-10 table 32): DGn → n, COM → 1E, SOD → 1D, CardAccess → 1C.
SFI = {0x1C: EF_CARD_ACCESS, 0x1E: EF_COM, 0x1D: EF_SOD, **{n: 0x0100 + n for n in range(1, 17)}}

SW_OK = 0x9000
SW_WRONG_LENGTH = 0x6700
SW_SECURITY_NOT_SATISFIED = 0x6982
SW_BLOCKED = 0x6983
SW_CONDITIONS = 0x6985
SW_NO_CURRENT_EF = 0x6986
SW_SM_MISSING = 0x6987
SW_SM_INCORRECT = 0x6988
SW_WRONG_DATA = 0x6A80
SW_NOT_FOUND = 0x6A82
SW_WRONG_P1P2 = 0x6B00
SW_END_OF_FILE = 0x6282
SW_INS = 0x6D00
SW_CLA = 0x6E00

_CIPHERS: dict[str, tuple[crypto.CipherKind, int]] = {
    "3DES": ("3DES", 128), "AES-128": ("AES", 128), "AES-192": ("AES", 192),
    "AES-256": ("AES", 256),
}
_ARC_CIPHER = {arc: name for name, arc in CIPHER_ARC.items()}

Fault = Literal["garbage", "truncate", "wrong_length", "mute"]
"""Deliberately broken answers (by APDU index): random bytes, the answer cut by one byte, 6700,
or an empty answer (no status word at all)."""


@dataclass(frozen=True)
class ChipOptions:
    """What the chip offers and how it misbehaves. Defaults are a well-behaved CCCD."""

    pace: tuple[PaceOption, ...] = (PaceOption(),)
    """PACE variants advertised in EF.CardAccess (empty: BAC-only card)."""
    bac: bool = True
    ca_cipher: CipherName | None = "AES-128"
    """Chip Authentication cipher ("3DES", "AES-128", …) or None for a chip without CA."""
    ca_curve: str = "brainpoolP256r1"
    aa: Literal["rsa", "ecdsa"] | None = "rsa"
    rsa_bits: int = 1024
    face_format: Literal["jpeg", "jpeg2000"] = "jpeg"
    select_mf: Literal["6D00", "9000"] = "6D00"
    """Answer to SELECT MF: the real card refuses it with 6D00."""
    extended_length: bool = False
    """Accept extended-length APDUs (and advertise them in the ATR's historical bytes)."""
    max_read: int | None = None
    """Return at most this many plaintext bytes per READ BINARY, whatever Le asked (e.g. 0xDF,
    0x80): a quirk of some chips."""
    wrong_length_above: int | None = None
    """Answer 6700 to a READ BINARY asking for more than this."""
    password_tries: int = 3
    """PACE tries before the password is blocked (63Cx counts down, then 6983)."""
    faults: Mapping[int, Fault] = field(default_factory=dict)
    """Broken answers by 1-based APDU index since power-on."""
    end_of_file: Literal["9000", "6282"] = "9000"
    """Status word of a READ BINARY that returns fewer bytes than Le because the file ends
    (ISO 7816-4 §11.3.3 allows 6282, "end of file reached before reading Ne bytes")."""
    past_end: Literal["6B00", "6282"] | None = None
    """Answer to a READ BINARY at or beyond the end of the file: 6B00 (offset outside the EF)
    or an empty 6282; None: 6B00 beyond the end, an empty 9000 exactly at it."""
    beyond_end: Literal["6B00", "6Cxx", "pad"] | None = None
    """Answer to a READ BINARY whose Le goes past the end of the file (from an offset inside
    it): 6B00, 6Cxx with xx = the bytes left, or the bytes left followed by zeros up to Le (a
    wrong length); None: the bytes left (with ``end_of_file``'s status word). Real chips do each
    of these; the reader must still read every file completely."""
    omit_do99: bool = False
    """Protected responses without DO'99' (the status word only in the trailer), as
    vsmartcard's vicc ePass sends every answer (SELECT → DO'8E' ‖ 9000); the MAC still covers
    the data objects present."""
    withheld: frozenset[int] = frozenset()
    """File identifiers the chip answers 6A82 ("file not found") to although it holds them:
    a clone that withholds DG14/DG15 (0x010E/0x010F) so that chip/active authentication
    cannot run, or a chip hiding EF.CardAccess (0x011C) to push the reader to BAC."""


@dataclass(frozen=True, repr=False)
class CardImage:
    """Everything the chip holds: files and secrets (repr hides them)."""

    mf_files: Mapping[int, bytes]
    """Files outside the application (EF.CardAccess)."""
    app_files: Mapping[int, bytes]
    """Files of the eMRTD application by FID."""
    can: str
    mrz_information: str
    ca_key: ec.EllipticCurvePrivateKey | None = None
    aa_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | None = None

    def __repr__(self) -> str:
        return f"CardImage({len(self.app_files)} files)"


class Randomness:
    """Where the chip's random values come from. Tests inject the ICAO vectors' nonces and
    ephemeral keys; by default they are fresh from ``secrets``."""

    def __init__(self, nonces: list[bytes] | None = None,
                 scalars: list[int] | None = None) -> None:
        self._nonces = list(nonces or [])
        self._scalars = list(scalars or [])

    def bytes(self, n: int) -> bytes:
        if self._nonces:
            value = self._nonces.pop(0)
            if len(value) != n:
                raise ValueError(f"injected random value has {len(value)} bytes, wanted {n}")
            return value
        return secrets.token_bytes(n)

    def scalar(self, curve: Curve) -> int:
        return self._scalars.pop(0) if self._scalars else curve.random_scalar()


@dataclass
class _Pace:
    """The PACE protocol in progress."""

    option: PaceOption
    password: Literal["MRZ", "CAN"]
    curve: Curve
    cipher: crypto.CipherKind
    key_bits: int
    step: int = 0
    nonce: bytes = b""
    generator: tuple[int, int] | None = None
    own_public: bytes = b""
    peer_public: bytes = b""
    keys: SessionKeys | None = None


class _Reply(Exception):
    """Answer the current command with this status word (and nothing else)."""

    def __init__(self, sw: int) -> None:
        self.sw = sw


class CccdChip:
    """The virtual chip. Thread-confined: the vpcd link calls it from one thread."""

    def __init__(self, image: CardImage, options: ChipOptions | None = None, *,
                 randomness: Randomness | None = None) -> None:
        self.image = image
        self.options = options or ChipOptions()
        self.random = randomness or Randomness()
        hist = b"\x80\x73\x00\x00\x40" if self.options.extended_length else b""
        self._atr = contactless_atr(hist)
        self._tries = {"MRZ": self.options.password_tries, "CAN": self.options.password_tries}
        self.apdus = 0
        self.power_on()

    # --- the vpcd Card protocol ----------------------------------------------------------------

    @property
    def atr(self) -> bytes:
        return self._atr

    def power_on(self) -> None:
        self.apdus = 0
        self._reset_session()

    def power_off(self) -> None:
        self._reset_session()

    def _reset_session(self) -> None:
        self.keys: SessionKeys | None = None
        self.ssc = 0
        self.authenticated: Literal["PACE", "BAC"] | None = None
        self._app = False
        self._current: int | None = None
        self._pace: _Pace | None = None
        self._bac_challenge: bytes | None = None
        self._ca_oid: str | None = None
        self._pending_keys: SessionKeys | None = None
        self._room = 256

    def process(self, apdu: bytes) -> bytes:
        self.apdus += 1
        fault = self.options.faults.get(self.apdus)
        answer = self._process(apdu)
        if fault is None:
            return answer
        event(log, "sim.fault", kind=fault, apdu=self.apdus)
        if fault == "garbage":
            return secrets.token_bytes(max(3, len(answer)))
        if fault == "truncate":
            return answer[:-3] + answer[-2:] if len(answer) > 2 else answer[:1]
        if fault == "wrong_length":
            return SW_WRONG_LENGTH.to_bytes(2, "big")
        return b""

    # --- secure messaging ------------------------------------------------------------------------

    def _process(self, raw: bytes) -> bytes:
        if len(raw) < 4:
            return _sw(SW_WRONG_LENGTH)
        try:
            cmd = CommandApdu.decode(raw)
        except ProtocolError:
            return _sw(SW_WRONG_LENGTH)
        if (cmd.extended or len(raw) > 261) and not self.options.extended_length:
            return _sw(SW_WRONG_LENGTH)
        # The response data an answer may carry: Ne of a short or an extended APDU.
        ne = 65536 if cmd.extended or len(raw) > 261 else 256
        if cmd.cla & 0x0C:
            if self.keys is None:
                return _sw(SW_CONDITIONS)  # secure messaging before any session
            return self._protected(raw, ne)
        if self.keys is not None:
            # A plain command ends the secure session (ICAO 9303-11 §9.8.5); the command itself
            # is then handled in the unauthenticated state.
            event(log, "sim.sm_aborted", reason="plain command")
            self._reset_session()
        self._room = ne
        data, sw = self._dispatch(cmd)
        return data + _sw(sw)

    def _protected(self, raw: bytes, ne: int) -> bytes:
        keys = self.keys
        assert keys is not None
        self.ssc += 1
        try:
            cmd = sm.unprotect_command(keys, self.ssc, raw)
        except ProtocolError:
            event(log, "sim.sm_aborted", reason="bad protected command")
            self._reset_session()
            return _sw(SW_SM_INCORRECT)
        self._room = _plain_room(keys, ne, odd=bool(cmd.ins & 1))
        data, sw = self._dispatch(cmd)
        # CA answers under the old keys, then switches (§6.2): the dispatcher left the new keys
        # in _pending_keys.
        self.ssc += 1
        answer = sm.protect_response(keys, self.ssc, data, sw, odd_ins=bool(cmd.ins & 1),
                                     do99=not self.options.omit_do99)
        pending = self._pending_keys
        if pending is not None:
            self._pending_keys = None
            self.keys, self.ssc = pending, 0
            event(log, "sim.ca_switched", cipher=pending.cipher)
        return answer

    # --- commands --------------------------------------------------------------------------

    def _dispatch(self, cmd: CommandApdu) -> tuple[bytes, int]:
        handlers: dict[int, Callable[[CommandApdu], tuple[bytes, int]]] = {
            0xA4: self._select, 0xB0: self._read_binary, 0xB1: self._read_binary,
            0x22: self._mse, 0x86: self._general_authenticate, 0x84: self._get_challenge,
            0x82: self._external_authenticate, 0x88: self._internal_authenticate,
        }
        handler = handlers.get(cmd.ins)
        if handler is None:
            return b"", SW_INS
        if cmd.cla not in (0x00, 0x10) or (cmd.cla == 0x10 and cmd.ins != 0x86):
            return b"", SW_CLA  # no logical channels; command chaining only for PACE
        try:
            return handler(cmd)
        except _Reply as reply:
            return b"", reply.sw

    def _files(self) -> Mapping[int, bytes]:
        return self.image.app_files if self._app else self.image.mf_files

    def _select(self, cmd: CommandApdu) -> tuple[bytes, int]:
        p1, ident = cmd.p1, cmd.data
        if p1 == 0x04:
            if ident != EMRTD_AID:
                return b"", SW_NOT_FOUND
            self._app, self._current = True, None
            return b"", SW_OK
        if p1 == 0x00 and (not ident or ident == b"\x3f\x00"):
            if self.options.select_mf == "6D00":
                return b"", SW_INS  # as the real CCCD: SELECT MF is not supported
            self._app, self._current = False, None
            return b"", SW_OK
        if p1 in (0x00, 0x02) and len(ident) == 2:
            fid = int.from_bytes(ident, "big")
            if fid in self.options.withheld:
                return b"", SW_NOT_FOUND
            if fid == EF_CARD_ACCESS:
                if fid not in self.image.mf_files:
                    return b"", SW_NOT_FOUND  # BAC-only chips (older passports) have none
                self._current = fid  # reachable from the MF and from the application
                return b"", SW_OK
            if fid not in self._files():
                return b"", SW_NOT_FOUND
            self._current = fid
            return b"", SW_OK
        return b"", SW_WRONG_P1P2

    def _file_content(self, fid: int) -> bytes:
        if fid == EF_CARD_ACCESS:
            if fid not in self.image.mf_files:
                raise _Reply(SW_NOT_FOUND)
            return self.image.mf_files[fid]
        if self.authenticated is None or fid == DG3:
            # Application files need BAC/PACE; DG3 (fingerprints) needs terminal
            # authentication, which this chip does not offer: always 6982.
            raise _Reply(SW_SECURITY_NOT_SATISFIED)
        return self.image.app_files[fid]

    def _read_binary(self, cmd: CommandApdu) -> tuple[bytes, int]:
        if cmd.ins == 0xB1:
            try:
                obj = tlv.decode(cmd.data)
            except LdsFormatError:
                return b"", SW_WRONG_DATA
            if obj.tag != 0x54 or not 1 <= len(obj.value) <= 3:
                return b"", SW_WRONG_DATA
            offset = int.from_bytes(obj.value, "big")
            fid = self._current
        elif cmd.p1 & 0x80:
            sfi = cmd.p1 & 0x1F
            fid = SFI.get(sfi)
            if fid is None or fid in self.options.withheld or (
                    fid != EF_CARD_ACCESS and fid not in self._files()):
                return b"", SW_NOT_FOUND
            self._current, offset = fid, cmd.p2
        else:
            fid, offset = self._current, ((cmd.p1 & 0x7F) << 8) | cmd.p2
        if fid is None:
            return b"", SW_NO_CURRENT_EF
        content = self._file_content(fid)
        le = cmd.le or 256
        limit = self.options.wrong_length_above
        if limit is not None and le > limit:
            return b"", SW_WRONG_LENGTH
        if self.options.max_read is not None:
            le = min(le, self.options.max_read)
        past_end = self.options.past_end
        if offset > len(content) or (offset == len(content) and past_end is not None):
            return b"", SW_END_OF_FILE if past_end == "6282" else SW_WRONG_P1P2
        # A real chip never answers more than its response APDU carries: with secure messaging
        # in a short APDU that is 223 plaintext bytes (AES) or 231 (3DES), whatever Le said.
        room = self._room
        if cmd.ins == 0xB1:
            # DO'53' { data }: its tag and length take part of the room.
            n = min(le, room - 2)
            while n > 0 and len(tlv.encode(0x53, bytes(n))) > room:
                n -= 1
            return tlv.encode(0x53, content[offset : offset + n]), self._eof_sw(content, offset, n)
        n = min(le, room)
        left = len(content) - offset
        beyond = self.options.beyond_end
        if beyond is not None and n > left:
            if beyond == "6B00":
                return b"", SW_WRONG_P1P2
            if beyond == "6Cxx" and left < 256:
                return b"", 0x6C00 | left
            if beyond == "pad":
                return content[offset:] + bytes(n - left), SW_OK
        return content[offset : offset + n], self._eof_sw(content, offset, n)

    def _eof_sw(self, content: bytes, offset: int, n: int) -> int:
        if self.options.end_of_file == "6282" and offset + n > len(content):
            return SW_END_OF_FILE  # the file ended before Ne bytes (ISO 7816-4 §11.3.3)
        return SW_OK

    # --- PACE ------------------------------------------------------------------------------

    def _mse(self, cmd: CommandApdu) -> tuple[bytes, int]:
        try:
            dos = {o.tag: o.value for o in tlv.decode_all(cmd.data)}
        except LdsFormatError:
            return b"", SW_WRONG_DATA
        if (cmd.p1, cmd.p2) == (0xC1, 0xA4):
            return self._mse_pace(dos)
        if (cmd.p1, cmd.p2) == (0x41, 0xA4) and self.keys is not None:
            return self._mse_ca_at(dos)
        if (cmd.p1, cmd.p2) == (0x41, 0xA6) and self.keys is not None:
            return self._ca_agree(dos.get(0x91, b""), self._ca_cipher_of(None))
        return b"", SW_WRONG_P1P2

    def _mse_pace(self, dos: dict[int, bytes]) -> tuple[bytes, int]:
        oid_raw = dos.get(0x80)
        ref = dos.get(0x83)
        if oid_raw is None or ref not in (b"\x01", b"\x02"):
            return b"", SW_WRONG_DATA
        oid = crypto.decode_oid(oid_raw)
        option = next((p for p in self.options.pace if p.oid == oid), None)
        if option is None:
            return b"", SW_WRONG_DATA
        param = dos.get(0x84)
        if param is not None and int.from_bytes(param, "big") != option.parameter_id:
            option = next((p for p in self.options.pace if p.oid == oid
                           and p.parameter_id == int.from_bytes(param, "big")), None)
            if option is None:
                return b"", SW_WRONG_DATA
        password: Literal["MRZ", "CAN"] = "MRZ" if ref == b"\x01" else "CAN"
        if self._tries[password] <= 0:
            return b"", SW_BLOCKED
        cipher, bits = _CIPHERS[option.cipher]
        self._reset_session()
        self._pace = _Pace(option, password, crypto.curve_for_parameter_id(option.parameter_id),
                           cipher, bits)
        return b"", SW_OK

    def _general_authenticate(self, cmd: CommandApdu) -> tuple[bytes, int]:
        try:
            outer = tlv.decode(cmd.data)
            inner = {o.tag: o.value for o in outer.children()}
        except LdsFormatError:
            return b"", SW_WRONG_DATA
        if outer.tag != 0x7C:
            return b"", SW_WRONG_DATA
        if self._ca_oid is not None and self.keys is not None and 0x80 in inner:
            cipher = self._ca_cipher_of(self._ca_oid)
            _, sw = self._ca_agree(inner[0x80], cipher)
            return (tlv.encode(0x7C, b"") if sw == SW_OK else b""), sw
        pace = self._pace
        if pace is None:
            return b"", SW_CONDITIONS
        last = not cmd.cla & 0x10
        if last != (pace.step == 3):
            # Steps 1-3 are chained (CLA 10), the token step ends the chain (CLA 00):
            # ISO 7816-4 §5.1.1.1 as ICAO 9303-11 §4.4.4 uses it.
            self._pace = None
            return b"", SW_CONDITIONS
        try:
            return self._pace_step(pace, inner, last)
        except ProtocolError:
            self._pace = None
            return b"", SW_WRONG_DATA

    def _pace_step(self, pace: _Pace, inner: dict[int, bytes],
                   last: bool) -> tuple[bytes, int]:
        curve = pace.curve
        step = pace.step
        if step == 0:
            # Encrypted nonce: z = E(K_π, s) with s one cipher block of random bits (§9.5.4).
            secret = (self.image.mrz_information if pace.password == "MRZ"
                      else self.image.can)
            k_pi = crypto.kdf(crypto.pace_password_key(secret, pace.password), crypto.KDF_PI,
                              pace.cipher, pace.key_bits)
            pace.nonce = self.random.bytes(8 if pace.cipher == "3DES" else 16)
            z = crypto.encrypt_nonce(pace.cipher, k_pi, pace.nonce)
            pace.step = 1
            return tlv.encode(0x7C, tlv.encode(0x80, z)), SW_OK
        if step == 1 and 0x81 in inner:
            peer = curve.decode(inner[0x81])
            private = self.random.scalar(curve)
            own = curve.public_key(private)
            if own == peer:
                raise ProtocolError("terminal echoed the mapping key")
            h = crypto.gm_shared_point(curve, private, peer)
            pace.generator = crypto.gm_mapped_generator(curve, pace.nonce, h)
            pace.step = 2
            return tlv.encode(0x7C, tlv.encode(0x82, curve.encode(own))), SW_OK
        if step == 2 and 0x83 in inner and pace.generator is not None:
            peer_raw = inner[0x83]
            peer = curve.decode(peer_raw)
            private = self.random.scalar(curve)
            own = curve.public_key(private, pace.generator)
            if own == peer:  # §9.5.4: the two ephemeral keys must differ
                raise ProtocolError("terminal echoed the ephemeral key")
            pace.own_public, pace.peer_public = curve.encode(own), peer_raw
            pace.keys = SessionKeys.derive(curve.shared_x(private, peer), pace.cipher,
                                           pace.key_bits)
            pace.step = 3
            return tlv.encode(0x7C, tlv.encode(0x84, pace.own_public)), SW_OK
        if step == 3 and 0x85 in inner and last and pace.keys is not None:
            expected = crypto.auth_token(pace.keys, pace.option.oid, pace.own_public)
            self._pace = None
            if not crypto.constant_time_equal(expected, inner[0x85]):
                self._tries[pace.password] -= 1
                left = max(0, self._tries[pace.password])
                event(log, "sim.pace_refused", password=pace.password, tries_left=left)
                return b"", 0x63C0 | left
            self._tries[pace.password] = self.options.password_tries
            token = crypto.auth_token(pace.keys, pace.option.oid, pace.peer_public)
            # The keys take effect after this (still unprotected) answer.
            self.keys, self.ssc, self.authenticated = pace.keys, 0, "PACE"
            event(log, "sim.pace_ok", password=pace.password, cipher=pace.cipher)
            return tlv.encode(0x7C, tlv.encode(0x86, token)), SW_OK
        self._pace = None
        return b"", SW_CONDITIONS

    # --- BAC -------------------------------------------------------------------------------

    def _get_challenge(self, cmd: CommandApdu) -> tuple[bytes, int]:
        if (cmd.le or 256) != 8:
            return b"", SW_WRONG_LENGTH
        if not self.options.bac:
            return b"", SW_CONDITIONS
        self._bac_challenge = self.random.bytes(8)
        return self._bac_challenge, SW_OK

    def _external_authenticate(self, cmd: CommandApdu) -> tuple[bytes, int]:
        challenge, self._bac_challenge = self._bac_challenge, None
        if challenge is None:
            return b"", SW_CONDITIONS
        if len(cmd.data) != 40:
            return b"", SW_WRONG_LENGTH
        k_enc, k_mac = crypto.bac_keys(self.image.mrz_information)
        e_ifd, m_ifd = cmd.data[:32], cmd.data[32:]
        if not crypto.constant_time_equal(crypto.retail_mac(k_mac, crypto.pad(e_ifd)), m_ifd):
            event(log, "sim.bac_refused")
            return b"", SW_SECURITY_NOT_SATISFIED
        plain = crypto.des3_decrypt(k_enc, e_ifd)
        rnd_ifd, rnd_ic, k_ifd = plain[:8], plain[8:16], plain[16:]
        if rnd_ic != challenge:
            return b"", SW_SECURITY_NOT_SATISFIED
        k_ic = self.random.bytes(16)
        e_ic = crypto.des3_encrypt(k_enc, rnd_ic + rnd_ifd + k_ic)
        m_ic = crypto.retail_mac(k_mac, crypto.pad(e_ic))
        self.keys = SessionKeys.derive(crypto.xor(k_ifd, k_ic), "3DES")
        self.ssc = int.from_bytes(rnd_ic[4:] + rnd_ifd[4:], "big")
        self.authenticated = "BAC"
        event(log, "sim.bac_ok")
        return e_ic + m_ic, SW_OK

    # --- Chip Authentication ------------------------------------------------------------------

    def _ca_cipher_of(self, oid: str | None) -> tuple[crypto.CipherKind, int]:
        name: str | None = self.options.ca_cipher
        if oid is not None:
            name = _ARC_CIPHER.get(int(oid.rsplit(".", 1)[1]), name)
        if name is None:
            raise _Reply(SW_CONDITIONS)
        return _CIPHERS[name]

    def _mse_ca_at(self, dos: dict[int, bytes]) -> tuple[bytes, int]:
        oid_raw = dos.get(0x80)
        if oid_raw is None or self.image.ca_key is None or self.options.ca_cipher is None:
            return b"", SW_WRONG_DATA
        oid = crypto.decode_oid(oid_raw)
        if not oid.startswith(ID_CA_ECDH + "."):
            return b"", SW_WRONG_DATA
        self._ca_oid = oid
        return b"", SW_OK

    def _ca_agree(self, peer_raw: bytes,
                  cipher: tuple[crypto.CipherKind, int]) -> tuple[bytes, int]:
        key = self.image.ca_key
        if key is None:
            return b"", SW_CONDITIONS
        curve = crypto.CURVES[key.curve.name]
        try:
            peer = curve.decode(peer_raw)
        except ProtocolError:
            return b"", SW_WRONG_DATA
        secret = curve.shared_x(key.private_numbers().private_value, peer)
        self._pending_keys = SessionKeys.derive(secret, cipher[0], cipher[1])
        self._ca_oid = None
        return b"", SW_OK

    # --- Active Authentication ----------------------------------------------------------------

    def _internal_authenticate(self, cmd: CommandApdu) -> tuple[bytes, int]:
        key = self.image.aa_key
        if key is None:
            return b"", SW_INS
        if self.authenticated is None:
            return b"", SW_SECURITY_NOT_SATISFIED
        if len(cmd.data) != 8:
            return b"", SW_WRONG_DATA
        if isinstance(key, rsa.RSAPrivateKey):
            return iso9796_2_sign(key, cmd.data, self.random.bytes), SW_OK
        der = key.sign(cmd.data, ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        size = (key.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big"), SW_OK


def iso9796_2_sign(key: rsa.RSAPrivateKey, challenge: bytes,
                   random: Callable[[int], bytes] = secrets.token_bytes) -> bytes:
    """ISO/IEC 9796-2 digital signature scheme 1 with partial message recovery and SHA-1, as
    ICAO 9303-11 §6.1 uses for RSA active authentication: M = M1 ‖ M2 with M1 chip-chosen
    random bytes and M2 the terminal's challenge; the representative is
    6A ‖ M1 ‖ SHA-1(M1 ‖ M2) ‖ BC, raised to d mod n."""
    k = key.key_size // 8
    m1 = random(k - 22)
    rep = b"\x6a" + m1 + hashlib.sha1(m1 + challenge).digest() + b"\xbc"
    numbers = key.private_numbers()
    sig = pow(int.from_bytes(rep, "big"), numbers.d, numbers.public_numbers.n)
    return sig.to_bytes(k, "big")


def _plain_room(keys: SessionKeys, ne: int, *, odd: bool) -> int:
    """The most plaintext bytes whose protected answer (DO'87'/'85' ‖ DO'99' ‖ DO'8E') fits
    ``ne`` bytes of response data."""
    def size(n: int) -> int:
        value = (n // keys.block + 1) * keys.block + (0 if odd else 1)
        return 1 + len(tlv.encode_length(value)) + value + 4 + 10

    n = ne
    while n > 0 and size(n) > ne:
        n -= 1
    return n


def _sw(sw: int) -> bytes:
    return sw.to_bytes(2, "big")
