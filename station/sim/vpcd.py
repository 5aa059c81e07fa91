"""The card side of the vpcd socket protocol (vsmartcard's virtual PC/SC reader driver).

pcscd's vpcd driver listens on a TCP port; a virtual card connects to it as a client. Every
message is a 2-byte big-endian length and a payload. A 1-byte payload is a control code
(0 power off, 1 power on, 2 reset, 4 get ATR: only 4 is answered, with the ATR); anything longer
is a C-APDU that the card answers with an R-APDU. Connecting inserts the card, closing the
socket removes it.

Latency: pcscd writes the length and the APDU as two small segments, so with default socket
options every APDU costs ~48 ms (Nagle + delayed ACK). We set TCP_NODELAY and re-arm
TCP_QUICKACK after every recv. Real air-interface latency is modelled explicitly by
:class:`Latency`, never by accident.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from station.log import event

log = logging.getLogger(__name__)

CTRL_OFF, CTRL_ON, CTRL_RESET, CTRL_ATR = 0, 1, 2, 4

def contactless_atr(historical: bytes = b"") -> bytes:
    """ATR for a contactless ISO 14443-4 card per PC/SC part 3 §3.1.3.2.3."""
    if len(historical) > 15:
        raise ValueError("at most 15 historical bytes")
    body = bytes((0x80 | len(historical), 0x80, 0x01)) + historical
    tck = 0
    for b in body:
        tck ^= b
    return b"\x3B" + body + bytes((tck,))


class Card(Protocol):
    """What a virtual card must do; the vpcd link drives it."""

    @property
    def atr(self) -> bytes: ...

    def power_on(self) -> None: ...

    def power_off(self) -> None: ...

    def process(self, apdu: bytes) -> bytes: ...


@dataclass(frozen=True)
class Latency:
    """Modelled air-interface cost of one APDU exchange: a fixed round trip plus bytes at a bit
    rate (106 kbit/s is ISO 14443's base rate)."""

    per_apdu_ms: float = 0.0
    bit_rate: int = 0

    def delay_s(self, command_len: int, response_len: int) -> float:
        d = self.per_apdu_ms / 1000.0
        if self.bit_rate:
            # 8 data bits + start/stop/parity ≈ 10 bits per byte on the air.
            d += (command_len + response_len) * 10 / self.bit_rate
        return d


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        part = sock.recv(n - len(buf))
        if not part:
            raise ConnectionError("vpcd closed the connection")
        buf += part
    if hasattr(socket, "TCP_QUICKACK"):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
    return bytes(buf)


class VpcdLink:
    """Connects a :class:`Card` to a vpcd port: "inserting" the card until :meth:`remove`.

    Runs the protocol loop on a daemon thread. ``drop_after`` removes the card after that many
    APDUs (a tag-loss fault for tests).
    """

    def __init__(
        self,
        card: Card,
        port: int,
        host: str = "127.0.0.1",
        *,
        latency: Latency | None = None,
    ) -> None:
        self.card = card
        self.host = host
        self.port = port
        self.latency = latency or Latency()
        self.apdu_count = 0
        self.drop_after: int | None = None
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def insert(self, timeout_s: float = 5.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                sock = socket.create_connection((self.host, self.port), timeout=1.0)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name="vpcd-card", daemon=True)
        self._thread.start()

    def remove(self) -> None:
        self._stop.set()
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        self._thread = None

    @property
    def inserted(self) -> bool:
        return self._sock is not None and not self._stop.is_set()

    def _serve(self) -> None:
        sock = self._sock
        assert sock is not None
        try:
            while not self._stop.is_set():
                size = int.from_bytes(_recv_exact(sock, 2), "big")
                msg = _recv_exact(sock, size) if size else b""
                if len(msg) == 1:
                    self._control(sock, msg[0])
                    continue
                if self.drop_after is not None and self.apdu_count >= self.drop_after:
                    event(log, "sim.tag_dropped", apdus=self.apdu_count)
                    break
                self.apdu_count += 1
                resp = self.card.process(msg)
                delay = self.latency.delay_s(len(msg), len(resp))
                if delay:
                    time.sleep(delay)
                sock.sendall(len(resp).to_bytes(2, "big") + resp)
        except (ConnectionError, OSError):
            pass
        finally:
            if not self._stop.is_set():
                self._stop.set()
                with contextlib.suppress(OSError):
                    sock.close()
                self._sock = None

    def _control(self, sock: socket.socket, code: int) -> None:
        if code == CTRL_ATR:
            atr = self.card.atr
            sock.sendall(len(atr).to_bytes(2, "big") + atr)
        elif code == CTRL_ON:
            self.card.power_on()
        elif code in (CTRL_OFF, CTRL_RESET):
            self.card.power_off()
            if code == CTRL_RESET:
                self.card.power_on()
