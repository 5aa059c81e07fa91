"""The backend's commands for a desk, from ``stations/{id}/commands`` (the publisher hands them
to :meth:`DeskCommands.__call__` on its thread; the reply goes to ``events/command``).

- ``can`` ``{"can": "123456"}`` — the CAN typed for a card tapped without a QR (a clerk's
  keypad on the backend side): becomes the session's keys, like a keypad entry; refused when the
  profile turns typed CANs off. The digits are never echoed or logged.
- ``booking`` ``{"booking_id", "room", "arrival", "departure"}`` (ISO dates) — opens the room
  booking that the lodging desk's next guests join; ``{"close": true}`` closes it.
- ``entry`` ``{"visa_number", "entry_date", "entry_port", "purpose", "stay_until"}`` (lodging
  with foreign guests; ISO dates) — a foreign guest's entry details, entered by the clerk before
  the guest's passport is read: the next foreign guest's record carries them (then they are
  spent); ``{"clear": true}`` drops them. Validated; the values are never echoed or logged.
- ``reload`` / ``profile`` — not applied by a running desk: the reply says to restart the
  service (a profile decides which files are read; switching mid-session is not safe).

Replies carry no citizen data: a short message naming what was done or what is wrong.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from station.log import event
from station.service import machine as m
from station.service.profiles import Booking, EntryDetails, Profile
from station.service.readings import DeskKeys

log = logging.getLogger(__name__)


class DeskCommands:
    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self._post: Callable[[m.Event], None] | None = None
        self._lock = threading.Lock()
        self._booking: Booking | None = None
        self._entry: EntryDetails | None = None

    def bind(self, post: Callable[[m.Event], None]) -> None:
        """Where session events go (the running service's queue)."""
        self._post = post

    def booking(self) -> Booking | None:
        """The open booking (the lodging records' context), or None."""
        with self._lock:
            return self._booking

    def entry(self) -> EntryDetails | None:
        """The entry details entered for the foreign guest being recorded; spent by the call."""
        with self._lock:
            entry, self._entry = self._entry, None
            return entry

    def __call__(self, cmd: Any) -> tuple[bool, str]:
        name, args = str(cmd.name), dict(cmd.args)
        if name == "can":
            return self._can(args)
        if name == "booking":
            return self._open_booking(args)
        if name == "entry":
            return self._set_entry(args)
        if name in ("reload", "profile"):
            return False, "not applied while running: change the configuration and restart"
        return False, "unsupported"

    def _can(self, args: dict[str, Any]) -> tuple[bool, str]:
        if not self.profile.keypad:
            return False, "typed CAN entry is off for this profile"
        if self._post is None:
            return False, "the desk is not running"
        try:
            keys = DeskKeys.typed_can(str(args.get("can", "")))
        except ValueError:
            return False, "a CAN is 6 digits"
        self._post(m.CanEntered(keys))
        event(log, "command.can")
        return True, "CAN accepted: place the card on the reader"

    def _open_booking(self, args: dict[str, Any]) -> tuple[bool, str]:
        if self.profile.name != "lodging":
            return False, f"the {self.profile.name} profile takes no bookings"
        if args.get("close"):
            with self._lock:
                self._booking = None
            return True, "booking closed"
        try:
            booking = Booking.parse(args)
        except ValueError as exc:
            return False, f"bad booking: {exc}"
        with self._lock:
            self._booking = booking
        event(log, "command.booking", room=booking.room)
        return True, f"booking {booking.booking_id} open for room {booking.room}"

    def _set_entry(self, args: dict[str, Any]) -> tuple[bool, str]:
        if not self.profile.foreign_fields:
            return False, f"the {self.profile.name} profile takes no foreign guests"
        if args.get("clear"):
            with self._lock:
                self._entry = None
            return True, "entry details cleared"
        try:
            entry = EntryDetails.parse(args)
        except ValueError as exc:  # the message names the field, not the value
            return False, f"bad entry details: {exc}"
        with self._lock:
            self._entry = entry
        event(log, "command.entry")
        return True, "entry details kept for the next foreign guest"
