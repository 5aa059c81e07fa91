"""The PC/SC card monitor: card placed / removed / reader lost / reader back, told to a
:class:`CardEvents` sink (the service's card watch turns them into session events).

It runs on its own thread, polling ``SCardGetStatusChange``
with a short timeout instead of using pyscard's ``CardMonitor``: the monitor's thread can die
silently when pcscd goes away (its exception is swallowed), and its observers run on that
thread. Here the loop *is* the monitor: it beats on every poll (so the runtime's supervisor sees a
wedged PC/SC call and restarts it), it only posts events (no card I/O in the loop: the chip is
read on the runtime's read worker), and it treats pcscd going away, a reader being unplugged and
a hung call alike — release the context, report :class:`ReaderLost`, re-establish with backoff,
report :class:`ReaderBack`.

Slots are PC/SC reader names. A card already lying on a reader when the monitor (re)starts is not
reported as placed: only a card put down while the station watches is reported (a card left
on the reader after pcscd restarted must be tapped again). A remove-and-replace between two
polls is caught by the reader's event counter (the upper 16 bits of ``dwEventState``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from station.log import event

log = logging.getLogger(__name__)

PNP_NOTIFICATION = "\\\\?PnP?\\Notification"
"""The pseudo-reader whose state changes when a reader is plugged in or out (pcsc-lite)."""

# PC/SC return codes (pcsclite.h / winscard): what ends a poll normally, and what means the
# service or the reader went away (then the context is useless: start again).
_S_SUCCESS = 0x00000000
_E_TIMEOUT = 0x8010000A
_E_NO_SERVICE = 0x8010001D
_E_SERVICE_STOPPED = 0x8010001E
_E_INVALID_HANDLE = 0x80100003
_E_NO_READERS = 0x8010002E
_E_UNKNOWN_READER = 0x80100009
_E_READER_UNAVAILABLE = 0x80100017
_E_UNKNOWN_RES_MNG = 0x8010002B


class CardEvents(Protocol):
    """Where the monitor tells what it sees (from its own thread: keep these quick)."""

    def placed(self, slot: str) -> None: ...

    def removed(self, slot: str) -> None: ...

    def lost(self) -> None: ...

    def back(self) -> None: ...


@dataclass
class _Slot:
    present: bool
    events: int


@dataclass
class CardMonitor:
    """Watches every PC/SC reader whose name contains ``reader`` (empty: all readers)."""

    reader: str = ""
    poll_ms: int = 250
    """Upper bound of one ``SCardGetStatusChange``; the monitor beats at least this often."""
    retry_s: float = 0.5
    """First delay before re-establishing after pcscd or the reader went away (doubles up to
    ``max_retry_s``)."""
    max_retry_s: float = 2.0
    """Longest wait between attempts: a restarted pcscd is seen within this much (the station
    must recover from a pcscd restart within 5 s)."""
    _lost: bool | None = field(default=None, init=False, repr=False)

    def watch(self, sink: CardEvents, beat: Callable[[], None], stop: threading.Event) -> None:
        """Poll until ``stop``, calling ``beat`` at least every ``poll_ms`` (and while waiting
        to retry) so a supervisor can tell a wedged PC/SC call."""
        from smartcard import scard

        delay = self.retry_s
        while not stop.is_set():
            beat()
            ctx = _establish(scard)
            if ctx is None:
                self._report_lost(sink, "no_service")
                _sleep_beating(stop, beat, delay)
                delay = min(delay * 2, self.max_retry_s)
                continue
            try:
                if self._watch(scard, ctx, sink, beat, stop):
                    delay = self.retry_s  # it worked for a while: retry quickly next time
                else:
                    _sleep_beating(stop, beat, delay)
                    delay = min(delay * 2, self.max_retry_s)
            finally:
                scard.SCardReleaseContext(ctx)

    def _report_lost(self, sink: CardEvents, why: str) -> None:
        if self._lost is not True:
            event(log, "cards.reader_lost", logging.WARNING, why=why, reader=self.reader or "*")
            sink.lost()
            self._lost = True

    def _report_back(self, sink: CardEvents, readers: list[str]) -> None:
        if self._lost is not False:
            event(log, "cards.reader_ready", readers=len(readers))
            if self._lost is True:
                sink.back()
            self._lost = False

    def _matching(self, scard: Any, ctx: int) -> list[str] | None:
        hr, names = scard.SCardListReaders(ctx, [])
        if hr != _S_SUCCESS:
            return None
        return [n for n in names if self.reader in n]

    def _watch(self, scard: Any, ctx: int, sink: CardEvents, beat: Callable[[], None],
               stop: threading.Event) -> bool:
        """Poll one context until it breaks; True if readers were seen at all."""
        readers = self._matching(scard, ctx)
        if not readers:
            self._report_lost(sink, "no_reader")
            return False
        slots: dict[str, _Slot] = {}
        # First call with UNAWARE: learn what is on the readers now, report nothing for it.
        hr, states = scard.SCardGetStatusChange(
            ctx, 0, [(r, scard.SCARD_STATE_UNAWARE) for r in readers]
            + [(PNP_NOTIFICATION, scard.SCARD_STATE_UNAWARE)])
        if hr != _S_SUCCESS:
            self._report_lost(sink, f"status_{hr & 0xFFFFFFFF:08X}")
            return False
        for name, state, _atr in states:
            if name != PNP_NOTIFICATION:
                slots[name] = _Slot(bool(state & scard.SCARD_STATE_PRESENT), state >> 16)
        self._report_back(sink, readers)
        known = [(n, s & ~scard.SCARD_STATE_CHANGED) for n, s, _ in states]
        while not stop.is_set():
            beat()
            hr, states = scard.SCardGetStatusChange(ctx, self.poll_ms, known)
            if stop.is_set():
                # A call that hung past the supervisor's patience: a new one has taken over,
                # and this one must not report what it saw late.
                return True
            code = hr & 0xFFFFFFFF
            if code == _E_TIMEOUT:
                continue
            if code != _S_SUCCESS:
                self._report_lost(sink, f"status_{code:08X}")
                return True
            changed_readers = False
            for name, state, _atr in states:
                if name == PNP_NOTIFICATION:
                    changed_readers |= bool(state & scard.SCARD_STATE_CHANGED)
                    continue
                if state & (scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_UNAVAILABLE):
                    changed_readers = True  # this reader was unplugged
                    continue
                self._slot_changed(sink, name, slots[name], state, scard)
            if changed_readers:
                now = self._matching(scard, ctx)
                if now is None or set(now) != set(readers):
                    # Readers came or went: lift every card we thought present, start over.
                    for name, slot in slots.items():
                        if slot.present:
                            sink.removed(name)
                    if not now:
                        self._report_lost(sink, "reader_unplugged")
                    return True
            known = [(n, s & ~scard.SCARD_STATE_CHANGED) for n, s, _ in states]
        return True

    def _slot_changed(self, sink: CardEvents, name: str, slot: _Slot, state: int,
                      scard: Any) -> None:
        present = bool(state & scard.SCARD_STATE_PRESENT)
        events = state >> 16
        if present == slot.present and events == slot.events:
            return
        if slot.present and (not present or events != slot.events):
            event(log, "cards.removed", slot=name)
            sink.removed(name)
        if present and (not slot.present or events != slot.events):
            # Mute cards (no ATR) are still placed cards: the read will say what is wrong.
            event(log, "cards.placed", slot=name)
            sink.placed(name)
        slot.present, slot.events = present, events


def _establish(scard: Any) -> int | None:
    try:
        hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    except Exception:  # pyscard raises when libpcsclite itself is unhappy
        return None
    return int(ctx) if hr == _S_SUCCESS else None


def _sleep_beating(stop: threading.Event, beat: Callable[[], None], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
        beat()
        stop.wait(min(left, 0.5))
