"""A virtual card on the reader through pcscd (:func:`on_reader`), and put back until pcscd sees
it (:func:`put_back`) for tests that lift a card mid-read and tap it again."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from smartcard import scard

from station.drivers.reader.pcsc import PcscConnection, PcscReader
from station.sim.vpcd import Card, VpcdLink
from station.testing.pcscd import PcscdTestbed


def card_present(reader: str) -> bool:
    """pcscd reports a card in ``reader`` right now."""
    hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    try:
        hr, states = scard.SCardGetStatusChange(ctx, 0, [(reader, scard.SCARD_STATE_UNAWARE)])
        return hr == 0 and bool(states[0][1] & scard.SCARD_STATE_PRESENT)
    finally:
        scard.SCardReleaseContext(ctx)


def put_back(pcscd: PcscdTestbed, insert: Callable[[], VpcdLink],
             timeout_s: float = 10.0) -> VpcdLink:
    """Insert the card (``insert``: the same chip, one set of keys) until pcscd sees it.

    vpcd quirk: a card reconnecting right after one dropped mid-APDU can land in a listening
    socket the driver then closes; that connection is reset and the card must be put down
    again."""
    deadline = time.monotonic() + timeout_s
    while True:
        link = insert()
        seen = time.monotonic() + 1.0
        while time.monotonic() < seen and link.inserted:
            if card_present(pcscd.readers[0]):
                return link
            time.sleep(0.05)
        link.remove()
        if time.monotonic() > deadline:
            raise AssertionError("pcscd never saw the card again")


@contextmanager
def on_reader(pcscd: PcscdTestbed, card: Card, slot: int = 0,
              drop_after: int | None = None) -> Iterator[PcscConnection]:
    """``card`` on the virtual reader ``slot`` (dropping after ``drop_after`` APDUs if given),
    connected through pcscd; lifted again afterwards."""
    link = VpcdLink(card, pcscd.slot_port(slot))
    link.drop_after = drop_after
    link.insert()
    conn = PcscReader(pcscd.readers[slot]).wait_for_card(10)
    try:
        yield conn
    finally:
        conn.close()
        link.remove()
