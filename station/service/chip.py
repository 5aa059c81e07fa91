"""The chip reader the service drives (:class:`~station.service.ports.ChipReader`), on
:class:`station.nfc.session.ChipSession` over the PC/SC reader.

One call of :meth:`PcscChipReader.read` is one tap: connect to the slot's card, PACE (or BAC),
read the profile's files, return a :class:`~station.service.readings.ChipReading`. A tap cut
short (the card lifted: the machine says "hold the card still" and keeps the keys) leaves the
:class:`ChipSession` in place, so the next tap with the same keys resumes where the first
stopped; any other end forgets it.

Keys: a QR gives both the CAN and the MRZ key
(:class:`~station.service.readings.DeskKeys`); PACE is run with the CAN. A
CCCD (keys from a QR, or from a TD1 MRZ issued by VNM) whose chip offers no PACE is refused
(:class:`~station.errors.PaceUnavailable`), never opened by BAC; a foreign document's MRZ key
opens a BAC-only chip by BAC. A CAN typed on the keypad opens PACE cards only. The *subject*
— how the machine checks that the card is the one whose QR was shown — is a keyed hash of
the MRZ document number (the last 9 digits of the ID number), which both the QR and DG1 carry;
the number itself never reaches the machine or the logs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from station.drivers.reader import Transport
from station.drivers.reader.pcsc import PcscReader
from station.errors import NoCard, TagLost, UnsupportedCard
from station.log import event
from station.nfc.lds.chip import ChipData
from station.nfc.session import ChipSession
from station.service.readings import ChipReading, DeskKeys, document_subject

log = logging.getLogger(__name__)

class _Cancellable:
    """A transport that stops at the next APDU once the runtime abandoned the read."""

    def __init__(self, inner: Transport, cancel: threading.Event) -> None:
        self.inner = inner
        self.cancel = cancel

    def transmit(self, apdu: bytes) -> bytes:
        if self.cancel.is_set():
            raise TagLost("read abandoned by the service")
        return self.inner.transmit(apdu)


Connect = Callable[[str], Any]
"""slot (reader name) → a connection with ``transmit`` and ``close`` (PcscConnection)."""


def pcsc_connect(slot: str, timeout_s: float = 1.0) -> Any:
    try:
        return PcscReader(slot).wait_for_card(timeout_s)
    except NoCard:
        # Placed and lifted before we connected: the same as lifted mid-read.
        raise TagLost("the card left before it could be read") from None


class PcscChipReader:
    """Reads ``files`` (the profile's :attr:`~station.service.profiles.Profile.files`)."""

    def __init__(self, files: Sequence[str], *, connect: Connect = pcsc_connect,
                 extended: bool | None = None) -> None:
        """``extended``: extended-length reads; None = when the card's ATR advertises them."""
        self.files = tuple(files)
        self.connect = connect
        self.extended = extended
        self._resume: tuple[DeskKeys, ChipSession] | None = None
        self._progress: Callable[[float], None] = lambda f: None

    def _on_progress(self, name: str, done: int, total: int) -> None:
        # Whole-read fraction: files finished plus the share of the current one.
        if self._resume is None:
            return
        session = self._resume[1]
        finished = len(session.done) + len(session.skipped)
        part = done / total if total else 0.0
        self._progress(min(1.0, (finished + part) / len(self.files)))

    def read(self, slot: str, keys: DeskKeys, progress: Callable[[float], None],
             cancel: threading.Event) -> tuple[ChipReading, str]:
        self._progress = progress
        conn = self.connect(slot)
        try:
            transport = _Cancellable(conn, cancel)
            if self._resume is None or self._resume[0] != keys:
                # Both passwords go down: establish() chooses PACE or BAC, and the key with it.
                self._resume = (keys, ChipSession(keys.access, self.files,
                                                  progress=self._on_progress,
                                                  extended=self.extended,
                                                  require_pace=keys.cccd))
            session = self._resume[1]
            try:
                result = session.read(transport)
            except TagLost:
                raise  # keep the session: the next tap with these keys resumes
            except BaseException:
                self._resume = None
                raise
            self._resume = None
        finally:
            conn.close()
        chip = ChipData.from_files(result.protocol, result.files, result.skipped)
        if chip.mrz is None:
            raise UnsupportedCard("the card has no readable DG1")
        event(log, "chip.read", detail=result.detail, taps=result.taps, apdus=result.apdus)
        return (ChipReading(chip, result.detail, result.taps, result.apdus,
                            result.chip_authentication, result.active_authentication,
                            keys.document, result.card_access),
                document_subject(chip.mrz))


def citizen_fields(chip: ChipData) -> dict[str, Any]:
    """The citizen fields of a reading under the profile vocabulary
    (:data:`station.service.profiles.FIELDS`); what the chip lacks is absent."""
    out: dict[str, Any] = {}
    d = chip.dg13
    if d is not None:
        names = {
            "id_number": d.id_number, "full_name": d.full_name,
            "date_of_birth": d.date_of_birth, "sex": d.sex, "nationality": d.nationality,
            "ethnicity": d.ethnicity, "religion": d.religion, "place_of_origin": d.hometown,
            "place_of_residence": d.residence,
            "personal_identification": d.identification_marks,
            "date_of_issue": d.date_of_issue, "date_of_expiry": d.date_of_expiry,
            "father_name": d.father, "mother_name": d.mother, "spouse_name": d.spouse,
            "old_id_number": d.old_id_number,
        }
        out.update({k: v for k, v in names.items() if v})
    if chip.face is not None:
        out["face"] = chip.face.data
    return out
