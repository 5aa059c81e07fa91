"""PC/SC reader adapter over pyscard: the production reader, and the one tests use with pcscd
and the vpcd virtual reader driver (so the station never knows the card is virtual).

pyscard is imported lazily: `station --help` must not need libpcsclite.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable
from typing import Any

from station.errors import CardError, NoCard, ReaderUnavailable, TagLost
from station.log import event

log = logging.getLogger(__name__)


def list_readers() -> list[str]:
    """Names of the PC/SC readers pcscd knows; raises ReaderUnavailable if pcscd is not there."""
    try:
        from smartcard.Exceptions import SmartcardException
        from smartcard.pcsc.PCSCExceptions import BaseSCardException
        from smartcard.System import readers
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ReaderUnavailable(f"pyscard is not installed: {exc}") from None
    try:
        return [str(r) for r in readers()]
    except (SmartcardException, BaseSCardException) as exc:
        # EstablishContextException (pcscd absent: not a SmartcardException) or
        # ListReadersException (pcscd not answering).
        raise ReaderUnavailable(f"PC/SC service (pcscd) is not reachable: "
                                f"{type(exc).__name__}") from None


class PcscConnection:
    """A connected card; ``transmit`` maps pyscard failures to :class:`TagLost`."""

    def __init__(self, connection: Any, reader_name: str) -> None:
        self._conn = connection
        self._reader_name = reader_name
        self._atr = bytes(connection.getATR())

    @property
    def atr(self) -> bytes:
        return self._atr

    @property
    def reader_name(self) -> str:
        return self._reader_name

    def transmit(self, apdu: bytes) -> bytes:
        from smartcard.Exceptions import CardConnectionException

        try:
            data, sw1, sw2 = self._conn.transmit(list(apdu))
        except CardConnectionException:
            raise TagLost("card stopped answering") from None
        return bytes(data) + bytes((sw1, sw2))

    def close(self) -> None:
        _release(self._conn)


def _release(conn: Any) -> None:
    """Disconnect and release the PC/SC context now, not in pyscard's ``__del__`` (which raises
    once pcscd is gone)."""
    from smartcard.Exceptions import SmartcardException

    for step in ("disconnect", "release"):
        # The card or the service may already be gone: nothing left to free then.
        with contextlib.suppress(SmartcardException):
            getattr(conn, step, lambda: None)()


class PcscReader:
    """The first reader whose name contains ``name`` (empty: any reader)."""

    def __init__(self, name: str = "", *, poll_s: float = 0.05) -> None:
        self.name = name
        self.poll_s = poll_s

    def _matching(self) -> list[str]:
        names = list_readers()
        matching = [n for n in names if self.name in n]
        if not matching:
            raise ReaderUnavailable(
                f"no PC/SC reader matching {self.name!r} (found {len(names)} reader(s))"
            )
        return matching

    def wait_for_card(self, timeout_s: float) -> PcscConnection:
        """Block until a card is present on a matching reader, then connect to it."""
        deadline = time.monotonic() + timeout_s
        while True:
            conn = connect_present(self._matching())
            if conn is not None:
                event(log, "reader.card_present", reader=conn.reader_name)
                return conn
            if time.monotonic() >= deadline:
                raise NoCard(f"no card within {timeout_s:g} s")
            time.sleep(self.poll_s)


def connect_present(reader_names: Iterable[str]) -> PcscConnection | None:
    """Connect to the card on the first of ``reader_names`` that has one, without waiting;
    None when none has a card."""
    from smartcard.Exceptions import CardConnectionException, NoCardException
    from smartcard.System import readers

    wanted = set(reader_names)
    for reader in readers():
        if str(reader) not in wanted:
            continue
        conn = reader.createConnection()
        try:
            conn.connect()
        except (NoCardException, CardConnectionException):
            _release(conn)
            continue
        return PcscConnection(conn, str(reader))
    return None


__all__ = ["CardError", "PcscConnection", "PcscReader", "connect_present", "list_readers"]
