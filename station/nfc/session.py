"""Reading a chip: which files, in what order, over which channel — and resuming after the card
left the field.

A :class:`ChipSession` lives for one card *reading*, which may span several taps: each call of
:meth:`ChipSession.read` authenticates again (PACE, or BAC when the card has no PACE), selects
the eMRTD application and reads only what is still missing, continuing a file that was cut
short at the byte where it stopped. Files already complete are never read again. A partial read
is never passed on: :meth:`read` either returns every requested file or raises.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from station.drivers.reader import Transport
from station.errors import (
    EmptyFile,
    LdsFormatError,
    ProtocolError,
    StatusWordError,
    TagLost,
    UnsupportedCard,
)
from station.log import event
from station.nfc import aa, ca
from station.nfc.access import establish
from station.nfc.files import (
    Progress,
    ReadStrategy,
    read_file,
    select_application,
    supports_extended_length,
)
from station.nfc.lds.secinfo import CardAccess, SecurityInfos
from station.nfc.lds.security import parse_dg14, parse_dg15
from station.nfc.password import Passwords
from station.nfc.proof import ChipProof
from station.nfc.sm import SecureMessaging, max_plain_read
from station.reasons import AA_FAILED, CA_FAILED

log = logging.getLogger(__name__)

FILE_IDS: dict[str, int] = {
    "COM": 0x011E, "DG1": 0x0101, "DG2": 0x0102, "DG3": 0x0103, "DG11": 0x010B,
    "DG12": 0x010C, "DG13": 0x010D, "DG14": 0x010E, "DG15": 0x010F, "SOD": 0x011D,
}
DEFAULT_FILES = ("COM", "DG1", "DG13", "DG14", "DG15", "SOD")

# Files a terminal without Terminal Authentication may be refused (6982): skipped, not failed.
PROTECTED_FILES = frozenset({"DG3", "DG4"})

# EF.CardSecurity (BSI TR-03110-3 §A.1.2, ICAO 9303-11 §9.2): in the master file, FID 011D,
# readable after PACE; carries the signed SecurityInfos for PACE-CAM and CA.
EF_CARD_SECURITY = 0x011D


@dataclass(frozen=True)
class ChipRead:
    protocol: str
    """Access control used: "none" (plain card), "PACE", "BAC"."""
    files: dict[str, bytes] = field(default_factory=dict)
    skipped: tuple[str, ...] = ()
    """Files the card refused (DG3 without terminal authentication) or does not have."""
    detail: str = ""
    apdus: int = 0
    taps: int = 1
    card_access: CardAccess | None = None
    """EF.CardAccess as the tap read and parsed it (the verifier reads what it announces)."""
    chip_authentication: ChipProof | None = None
    """Chip Authentication as run during the read (None: the card offers none / not asked)."""
    active_authentication: ChipProof | None = None
    card_security: bytes | None = None
    """EF.CardSecurity when the card has one (read after PACE)."""


class CountingTransport:
    """Counts APDUs (for the CLI, the bench and the tag-loss tests)."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.count = 0

    def transmit(self, apdu: bytes) -> bytes:
        self.count += 1
        return self.inner.transmit(apdu)


class ChipSession:
    """Reads ``files`` with ``key``, resuming across taps. ``key``: one password, or every
    password for the card (:class:`~station.nfc.password.AccessKeys`), of which
    :func:`~station.nfc.access.establish` takes the one PACE or BAC runs with.

    With ``authenticate_chip`` (the default) DG14 is read first and Chip Authentication runs
    right after it on every tap, so that every following file arrives under keys only the
    genuine chip can have; Active Authentication runs once DG15 is read. Their results are
    :class:`ChipProof` values for :func:`station.trust.verification.verify` (which insists DG14 /
    DG15 are PA-verified). A chip that fails CA is authenticated again (PACE/BAC) and read to
    the end, so the failure is reported with the data, never as a genuine read."""

    def __init__(self, key: Passwords, files: Sequence[str] = DEFAULT_FILES, *,
                 progress: Progress | None = None, extended: bool | None = None,
                 authenticate_chip: bool = True, require_pace: bool = False) -> None:
        unknown = [f for f in files if f not in FILE_IDS]
        if unknown:
            raise ValueError(f"unknown files: {', '.join(unknown)}")
        self.key = key
        self.files = tuple(files)
        self.progress = progress
        self.extended = extended
        """Extended-length READ BINARY: None = when the card's ATR advertises it."""
        self._atr = b""
        self.done: dict[str, bytes] = {}
        self.partial: dict[str, bytearray] = {}
        self.skipped: list[str] = []
        self.strategy: ReadStrategy | None = None
        self.protocol = ""
        self.detail = ""
        self.card_access: CardAccess | None = None
        self.apdus = 0
        self.taps = 0
        self.authenticate_chip = authenticate_chip
        self.require_pace = require_pace
        """Refuse a card offering no PACE (a CCCD); a read that began with PACE always does."""
        self.ca: ChipProof | None = None
        self.aa: ChipProof | None = None
        self.card_security: bytes | None = None
        self._card_security_tried = False
        self._dg14: SecurityInfos | None = None
        self._naked_error_step = True
        self._naked_error_step_learned = False

    @property
    def complete(self) -> bool:
        return all(f in self.done or f in self.skipped for f in self.files)

    def read(self, transport: Transport) -> ChipRead:
        """One tap. Raises :class:`TagLost` (with the file and offset reached) when the card
        leaves; call again with the next connection to resume."""
        self._atr = bytes(getattr(transport, "atr", b"") or b"")
        counter = CountingTransport(transport)
        self.taps += 1
        started = time.monotonic()
        try:
            self._read(counter)
        finally:
            self.apdus += counter.count
        event(log, "nfc.read_ok", protocol=self.protocol, files=len(self.done),
              apdus=self.apdus, taps=self.taps,
              ms=round((time.monotonic() - started) * 1000, 1))
        return ChipRead(self.protocol, {f: self.done[f] for f in self.files if f in self.done},
                        tuple(self.skipped), self.detail, self.apdus, self.taps,
                        self.card_access, self.ca, self.aa, self.card_security)

    def _read(self, transport: Transport) -> None:
        current: str | None = None
        try:
            result = establish(transport, self.key,
                               require_pace=self.require_pace or self.protocol == "PACE")
            known = None if self.card_access is None else self.card_access.raw
            if known is not None and result.card_access.raw != known:
                # A different card on the second tap: never splice two cards' files.
                raise UnsupportedCard("a different card was presented to resume the reading")
            self.card_access = result.card_access
            self.protocol, self.detail = result.protocol, result.detail
            channel = result.channel
            channel.naked_error_step = self._naked_error_step
            if self.strategy is None:
                extended = (supports_extended_length(self._atr) if self.extended is None
                            else self.extended)
                best = max_plain_read(channel.keys, extended=extended)
                short = max_plain_read(channel.keys)
                ladder = tuple(sorted({best, short, 192, 128, 64}, reverse=True))
                self.strategy = ReadStrategy(best, extended, ladder)
            if (self.authenticate_chip and self.protocol == "PACE"
                    and not self._card_security_tried and self._card_security_expected()):
                self._read_card_security(channel)
            select_application(channel)
            ca_done = False
            for name in self._order():
                if name in self.done or name in self.skipped:
                    continue
                if name != "DG14" and not ca_done and self._wants_ca():
                    current = None
                    channel = self._chip_authentication(transport, channel)
                    ca_done = True
                current = name
                buf = self.partial.setdefault(name, bytearray())
                try:
                    for attempt in range(3):
                        try:
                            data = read_file(channel, FILE_IDS[name], name,
                                             progress=self.progress, strategy=self.strategy,
                                             into=buf)
                            break
                        except ProtocolError:
                            if attempt == 2 or not self._adapt(channel):
                                raise
                            channel = self._reauthenticate(transport)
                except StatusWordError as exc:
                    if (exc.sw == 0x6982 and name in PROTECTED_FILES) or exc.sw == 0x6A82:
                        # DG3 needs terminal authentication; a file the card lacks is skipped
                        # and reported, never invented.
                        self.skipped.append(name)
                        self.partial.pop(name, None)
                        event(log, "nfc.file_skipped", file=name, sw=f"{exc.sw:04X}")
                        continue
                    raise
                except EmptyFile:
                    self.skipped.append(name)
                    self.partial.pop(name, None)
                    event(log, "nfc.file_skipped", file=name, sw="empty")
                    continue
                self.done[name] = data
                self.partial.pop(name, None)
                current = None
            if not ca_done and self._wants_ca() and self.ca is None:
                channel = self._chip_authentication(transport, channel)
            if self.authenticate_chip and self.aa is None and "DG15" in self.done:
                self._active_authentication(channel)
        except TagLost as exc:
            if self.strategy is not None and self.strategy.extended:
                # A reader that cannot carry extended APDUs fails the transmit, which looks
                # like a card leaving: read with short APDUs from the next tap on.
                self.strategy.extended = False
                self.strategy.max_le = max(n for n in self.strategy.ladder if n <= 256)
            offset = len(self.partial.get(current, b"")) if current else 0
            event(log, "nfc.tag_lost", file=current or "-", offset=offset)
            raise TagLost(f"card left the field while reading {current or 'access control'} "
                          f"at offset {offset}", file=current, offset=offset) from exc


    def _adapt(self, channel: SecureMessaging) -> bool:
        """Secure messaging broke during a read: whether one of the two chip conventions this
        reader learns (each once per session) explains it, so that authenticating again and
        reading on is worth it. Nothing unverified is ever accepted either way.

        - The chip ended SM (6988) after an unprotected error answer: the SSC convention for
          such answers was wrong (see :attr:`SecureMessaging.naked_error_step`); try the other.
        - An answer was refused here (no MAC) while first reads go past the end of a file:
          vsmartcard's vicc ePass answers such a read with data and 6282 but no DO'8E' (it MACs
          only 9000 answers); read the 4-byte header first from now on."""
        if not channel.broken:
            return False
        if channel.ended_by_card:
            if not channel.naked_errors or self._naked_error_step_learned:
                return False
            self._naked_error_step = not self._naked_error_step
            self._naked_error_step_learned = True
            event(log, "nfc.ssc_convention", naked_error_step=self._naked_error_step)
            return True
        if self.strategy is None or self.strategy.header_first:
            return False
        self.strategy.header_first = True
        event(log, "nfc.header_first")
        return True

    def _reauthenticate(self, transport: Transport) -> SecureMessaging:
        # Never weaker than the first authentication of this read: a PACE card stays PACE.
        result = establish(transport, self.key,
                           require_pace=self.require_pace or self.protocol == "PACE")
        result.channel.naked_error_step = self._naked_error_step
        select_application(result.channel)
        return result.channel

    # --- chip and active authentication -------------------------------------------------------

    def _order(self) -> list[str]:
        """DG14 first when CA is wanted: CA runs right after it, before the other files."""
        if self.authenticate_chip and "DG14" in self.files:
            return ["DG14"] + [f for f in self.files if f != "DG14"]
        return list(self.files)

    def _wants_ca(self) -> bool:
        """CA on this tap: DG14 read, chip authentication asked for, and not failed already
        (a failure is final; a success is repeated on every tap, since each new PACE session
        must be bound to the chip's key again)."""
        return (self.authenticate_chip and "DG14" in self.done
                and (self.ca is None or self.ca.ok))

    def _dg14_infos(self) -> SecurityInfos | None:
        if self._dg14 is None and "DG14" in self.done:
            self._dg14 = parse_dg14(self.done["DG14"])
        return self._dg14

    def _chip_authentication(self, transport: Transport,
                             channel: SecureMessaging) -> SecureMessaging:
        try:
            infos = self._dg14_infos()
            option = ca.choose(infos) if infos is not None else None
        except (LdsFormatError, ProtocolError) as exc:
            self.ca = ChipProof("CA", False, CA_FAILED, f"DG14 unusable: {exc}")
            return channel
        if option is None:
            return channel  # no CA key in DG14: not performed (AA may still prove the chip)
        outcome = ca.authenticate(channel, option)
        if outcome.ok and outcome.channel is not None:
            if self.ca is None:
                self.ca = ChipProof("CA", True, None, outcome.detail)
            return outcome.channel
        self.ca = ChipProof("CA", False, outcome.reason or CA_FAILED, outcome.detail)
        if outcome.channel is not None:
            return outcome.channel
        # The chip dropped secure messaging: authenticate again and read the rest, so the
        # failure is reported with the data (a clone's files are copies of signed ones).
        return self._reauthenticate(transport)

    def _active_authentication(self, channel: SecureMessaging) -> None:
        try:
            spki = parse_dg15(self.done["DG15"])
            infos = self._dg14_infos()
        except (LdsFormatError, ProtocolError) as exc:
            self.aa = ChipProof("AA", False, AA_FAILED, f"DG14/DG15 unusable: {exc}")
            return
        outcome = aa.authenticate(channel, spki, infos)
        self.aa = ChipProof("AA", outcome.ok, outcome.reason, outcome.detail)

    def _card_security_expected(self) -> bool:
        """Only cards whose EF.CardAccess announces PACE-CAM or CA/TA version 2 carry
        EF.CardSecurity (the CCCD's announces CA and TA version 1): no APDU spent on others."""
        infos = None if self.card_access is None else self.card_access.infos
        return infos is not None and infos.has_card_security

    def _read_card_security(self, channel: SecureMessaging) -> None:
        """EF.CardSecurity, when EF.CardAccess says the card has one."""
        try:
            self.card_security = read_file(channel, EF_CARD_SECURITY, "CardSecurity")
        except StatusWordError as exc:
            event(log, "nfc.card_security_absent", sw=f"{exc.sw:04X}")
        self._card_security_tried = True


def read_plain(
    transport: Transport, names: Iterable[str] = ("COM", "DG1"),
    progress: Progress | None = None,
) -> ChipRead:
    """Plain-channel read (the skeleton's file card has no access control)."""
    select_application(transport)
    files = {name: read_file(transport, FILE_IDS[name], name, progress=progress)
             for name in names}
    return ChipRead("none", files)
