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
from station.errors import StatusWordError, TagLost, UnsupportedCard
from station.log import event
from station.nfc.access import AccessKey, establish
from station.nfc.files import (
    Progress,
    ReadStrategy,
    read_file,
    select_application,
)
from station.nfc.sm import max_plain_read

log = logging.getLogger(__name__)

FILE_IDS: dict[str, int] = {
    "COM": 0x011E, "DG1": 0x0101, "DG2": 0x0102, "DG3": 0x0103, "DG11": 0x010B,
    "DG12": 0x010C, "DG13": 0x010D, "DG14": 0x010E, "DG15": 0x010F, "SOD": 0x011D,
}
DEFAULT_FILES = ("COM", "DG1", "DG13", "DG14", "DG15", "SOD")

# Files a terminal without Terminal Authentication may be refused (6982): skipped, not failed.
PROTECTED_FILES = frozenset({"DG3", "DG4"})


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
    card_access: bytes | None = None


class CountingTransport:
    """Counts APDUs (for the CLI, the bench and the tag-loss tests)."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.count = 0

    def transmit(self, apdu: bytes) -> bytes:
        self.count += 1
        return self.inner.transmit(apdu)


class ChipSession:
    """Reads ``files`` with ``key``, resuming across taps."""

    def __init__(self, key: AccessKey, files: Sequence[str] = DEFAULT_FILES, *,
                 progress: Progress | None = None, extended: bool = False) -> None:
        unknown = [f for f in files if f not in FILE_IDS]
        if unknown:
            raise ValueError(f"unknown files: {', '.join(unknown)}")
        self.key = key
        self.files = tuple(files)
        self.progress = progress
        self.extended = extended
        self.done: dict[str, bytes] = {}
        self.partial: dict[str, bytearray] = {}
        self.skipped: list[str] = []
        self.strategy: ReadStrategy | None = None
        self.protocol = ""
        self.detail = ""
        self.card_access: bytes | None = None
        self.apdus = 0
        self.taps = 0

    @property
    def complete(self) -> bool:
        return all(f in self.done or f in self.skipped for f in self.files)

    def read(self, transport: Transport) -> ChipRead:
        """One tap. Raises :class:`TagLost` (with the file and offset reached) when the card
        leaves; call again with the next connection to resume."""
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
                        self.card_access)

    def _read(self, transport: Transport) -> None:
        current: str | None = None
        try:
            result = establish(transport, self.key)
            if self.card_access is not None and result.card_access != self.card_access:
                # A different card on the second tap: never splice two cards' files.
                raise UnsupportedCard("a different card was presented to resume the reading")
            self.card_access = result.card_access
            self.protocol, self.detail = result.protocol, result.detail
            channel = result.channel
            if self.strategy is None:
                best = max_plain_read(channel.keys, extended=self.extended)
                short = max_plain_read(channel.keys)
                ladder = tuple(sorted({best, short, 192, 128, 64}, reverse=True))
                self.strategy = ReadStrategy(best, self.extended, ladder)
            select_application(channel)
            for name in self.files:
                if name in self.done or name in self.skipped:
                    continue
                current = name
                buf = self.partial.setdefault(name, bytearray())
                try:
                    data = read_file(channel, FILE_IDS[name], name, progress=self.progress,
                                     strategy=self.strategy, into=buf)
                except StatusWordError as exc:
                    if (exc.sw == 0x6982 and name in PROTECTED_FILES) or exc.sw == 0x6A82:
                        # DG3 needs terminal authentication; a file the card lacks is skipped
                        # and reported, never invented.
                        self.skipped.append(name)
                        self.partial.pop(name, None)
                        event(log, "nfc.file_skipped", file=name, sw=f"{exc.sw:04X}")
                        continue
                    raise
                self.done[name] = data
                self.partial.pop(name, None)
                current = None
        except TagLost as exc:
            offset = len(self.partial.get(current, b"")) if current else 0
            event(log, "nfc.tag_lost", file=current or "-", offset=offset)
            raise TagLost(f"card left the field while reading {current or 'access control'} "
                          f"at offset {offset}", file=current, offset=offset) from exc


def read_plain(
    transport: Transport, names: Iterable[str] = ("COM", "DG1"),
    progress: Progress | None = None,
) -> ChipRead:
    """Plain-channel read (the skeleton's file card has no access control)."""
    select_application(transport)
    files = {name: read_file(transport, FILE_IDS[name], name, progress=progress)
             for name in names}
    return ChipRead("none", files)
