"""The reading session: one person at the desk, from QR to a stored record.

A pure state machine. :func:`advance` takes the current :class:`Session`, one event and the
time, and returns the next session plus the *effects* the runtime must carry out (start a read,
verify, store, refuse a second card). No I/O, no threads, no clock of its own: the runtime feeds
it events from its workers and :class:`Tick` s from its loop, so every transition — including
every failure — is testable as a table.

::

    IDLE ─QR/CAN─► WAITING ─card─► READING ─read─► VERIFYING ─ok─► STORING ─► SUCCESS ─► IDLE
      │                              │               │                │
      └─card, no key─► NEED_QR        └───────────────┴─── failure ────┴─► FAILED ─► IDLE/WAITING

All card I/O — PACE/BAC, reading the files, chip and active authentication (which need the chip)
— happens in READING; VERIFYING is the offline part (passive authentication against the trust
store, the profile's minimum outcome), so lifting the card then no longer matters.

Keys (CAN / MRZ key) and the "subject" (an opaque token the runtime derives from the ID number,
never the number itself) pass through untouched: the machine holds no citizen data.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, replace

from station.service.readings import (
    Checked,
    ChipReading,
    DeskKeys,
    NoChip,
    Read,
    RefusedReading,
    VerifiedReading,
)
from station.trust.verdict import Outcome

# --- vocabulary ------------------------------------------------------------------------------


class Phase(enum.Enum):
    IDLE = "idle"
    WAITING = "waiting"
    """Keys known (from the QR or the keypad); waiting for the card."""
    READING = "reading"
    VERIFYING = "verifying"
    STORING = "storing"
    SUCCESS = "success"
    FAILED = "failed"
    NEED_QR = "need_qr"
    """A card was tapped but no key is known: show the QR (or type the CAN)."""


class KeySource(enum.Enum):
    QR = "qr"
    KEYPAD = "keypad"
    """A CAN typed on a keypad or sent on the commands topic."""
    CACHE = "cache"
    """Keys remembered from a recent QR (only where the profile allows it)."""
    MRZ = "mrz"
    """The MRZ of a passport or ID card read by the camera (lodging desk): BAC/PACE-MRZ keys."""


class Failure(enum.Enum):
    WRONG_CARD = "wrong_card"
    """The card is not the one whose QR was shown (its key was refused, or its ID differs)."""
    CARD_REMOVED = "card_removed"
    """The card left the field mid-read: "hold the card still", then tap again."""
    CAN_REFUSED = "can_refused"
    """The chip refused a CAN typed by hand."""
    NOT_GENUINE = "not_genuine"
    """Verification fell short of what the profile requires."""
    READER_MISSING = "reader_missing"
    OUTBOX_FULL = "outbox_full"
    READ_ERROR = "read_error"
    """The chip answered something unreadable (not an eMRTD, broken file, protocol error)."""
    READ_TIMEOUT = "read_timeout"
    VERIFY_ERROR = "verify_error"
    STORE_ERROR = "store_error"


class Fault(enum.Enum):
    """Conditions that stop the desk from starting any reading until they clear."""

    READER_MISSING = "reader_missing"
    OUTBOX_FULL = "outbox_full"


class ReadFailure(enum.Enum):
    """How a read attempt ended badly, as the reading worker classifies its typed error."""

    TAG_LOST = "tag_lost"  # errors.TagLost
    AUTH_REFUSED = "auth_refused"  # errors.AuthFailed
    ERROR = "error"  # other CardError / LdsFormatError
    READER_GONE = "reader_gone"  # errors.ReaderUnavailable


# Failures after which the keys are kept for an immediate retry: the same person taps again
# (the same card held still, or the right card for the QR still shown). A refused typed CAN is
# not retried: the same digits would be refused again and cost the chip a try.
_RETRYABLE = frozenset({Failure.CARD_REMOVED, Failure.READ_TIMEOUT, Failure.READ_ERROR,
                        Failure.WRONG_CARD})


@dataclass(frozen=True)
class Rules:
    """Timings and policy for one desk (from the configuration and the profile)."""

    card_wait_s: float = 30.0
    read_timeout_s: float = 20.0
    verify_timeout_s: float = 10.0
    store_timeout_s: float = 10.0
    result_hold_s: float = 3.0
    """How long SUCCESS / FAILED / NEED_QR stay on screen before the desk is ready again."""
    key_cache_s: float = 0.0
    """Keep a QR's keys this long for a card tapped later without a QR; 0 = never."""
    require: Outcome = Outcome.AUTHENTIC
    keypad: bool = True
    """Whether a CAN typed on the keypad / commands topic is accepted."""
    mrz_require: Outcome = Outcome.AUTHENTIC
    """The minimum outcome of a document keyed by its MRZ (a foreign guest's passport whose
    state's CSCA the trust store lacks can only be ``unverified``); INVALID is always refused."""
    mrz_only: bool = False
    """When the chip of an MRZ-keyed document cannot be read within ``card_wait_s`` (no chip
    tapped, or every tap failed), record the MRZ alone (:class:`NoChip`) instead of giving up."""
    record_refusals: bool = False
    """A card refused as not genuine still gets a record (a :class:`RefusedReading`: outcome
    and checks, no citizen data); the session fails all the same."""


# --- events ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class QrSeen:
    keys: DeskKeys
    subject: str


@dataclass(frozen=True)
class MrzSeen:
    """A document's MRZ in view (every check digit passed): its keys and subject."""

    keys: DeskKeys
    subject: str


@dataclass(frozen=True)
class CanEntered:
    keys: DeskKeys


@dataclass(frozen=True)
class CardPresent:
    slot: str


@dataclass(frozen=True)
class CardRemoved:
    slot: str


@dataclass(frozen=True)
class ReadProgress:
    attempt: int
    fraction: float


@dataclass(frozen=True)
class ReadDone:
    attempt: int
    result: ChipReading
    subject: str


@dataclass(frozen=True)
class ReadFailed:
    attempt: int
    reason: ReadFailure


@dataclass(frozen=True)
class Verified:
    attempt: int
    outcome: Outcome
    result: Checked


@dataclass(frozen=True)
class VerifyFailed:
    attempt: int


@dataclass(frozen=True)
class Stored:
    attempt: int
    initial: str | None = None
    """The first letter of the given name, for the success screen — only when the desk is
    configured to show it (``[display] show_initial``); forgotten when SUCCESS ends."""


@dataclass(frozen=True)
class StoreFailed:
    attempt: int
    full: bool


@dataclass(frozen=True)
class ReaderLost:
    pass


@dataclass(frozen=True)
class ReaderBack:
    pass


@dataclass(frozen=True)
class OutboxRoom:
    """The outbox has room again (records were delivered and pruned)."""


@dataclass(frozen=True)
class Tick:
    pass


Event = (QrSeen | MrzSeen | CanEntered | CardPresent | CardRemoved | ReadProgress | ReadDone
         | ReadFailed | Verified | VerifyFailed | Stored | StoreFailed | ReaderLost | ReaderBack
         | OutboxRoom | Tick)


# --- effects ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StartRead:
    attempt: int
    slot: str
    keys: DeskKeys
    source: KeySource


@dataclass(frozen=True)
class AbortRead:
    attempt: int
    slot: str


@dataclass(frozen=True)
class Verify:
    attempt: int
    result: Read


@dataclass(frozen=True)
class Store:
    attempt: int
    result: Checked
    outcome: Outcome


@dataclass(frozen=True)
class Refuse:
    """A second card while one is being handled: tell the person politely, touch nothing."""

    slot: str


Effect = StartRead | AbortRead | Verify | Store | Refuse


# --- the session -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Cached:
    keys: DeskKeys
    subject: str
    until: float


@dataclass(frozen=True)
class Session:
    phase: Phase = Phase.IDLE
    since: float = 0.0
    """When the current phase was entered (timeouts count from here)."""
    keys: DeskKeys | None = None
    source: KeySource | None = None
    subject: str | None = None
    """Expected subject (from the QR); None when the key was typed."""
    slot: str | None = None
    """The reader slot being read."""
    attempt: int = 0
    """Increases with every read started; stale worker events carry an older number."""
    progress: float = 0.0
    failure: Failure | None = None
    outcome: Outcome | None = None
    retry: bool = False
    """After FAILED: keep the keys and go back to WAITING (same person, tap again)."""
    fresh: frozenset[str] = frozenset()
    """Slots holding a card placed since the last read (a card left lying is not fresh)."""
    cache: Cached | None = None
    faults: frozenset[Fault] = frozenset()
    initial: str | None = None
    """Only while SUCCESS is shown (see :class:`Stored`)."""

    @property
    def busy(self) -> bool:
        return self.phase in (Phase.READING, Phase.VERIFYING, Phase.STORING)


@dataclass(frozen=True)
class Transition:
    session: Session
    effects: tuple[Effect, ...] = ()


def advance(s: Session, ev: Event, now: float, rules: Rules) -> Transition:
    """The next session after ``ev`` at time ``now`` (seconds, monotonic)."""
    t = _advance(_expire_cache(s, now), ev, now, rules)
    if t.session.initial is not None and t.session.phase is not Phase.SUCCESS:
        return Transition(replace(t.session, initial=None), t.effects)
    return t


def _advance(s: Session, ev: Event, now: float, rules: Rules) -> Transition:
    match ev:
        case Tick():
            return _tick(s, now, rules)
        case ReaderLost():
            s = replace(s, faults=s.faults | {Fault.READER_MISSING}, fresh=frozenset())
            if s.phase is Phase.READING:
                return _fail(s, now, Failure.READER_MISSING, _abort(s))
            return Transition(s)
        case ReaderBack():
            return Transition(replace(s, faults=s.faults - {Fault.READER_MISSING}))
        case OutboxRoom():
            return Transition(replace(s, faults=s.faults - {Fault.OUTBOX_FULL}))
        case CardRemoved(slot=slot):
            s = replace(s, fresh=s.fresh - {slot})
            if s.phase is Phase.READING and slot == s.slot:
                return _fail(s, now, Failure.CARD_REMOVED, _abort(s))
            return Transition(s)
        case CardPresent(slot=slot):
            if s.busy:
                return Transition(s, (Refuse(slot),))
            return _card(replace(s, fresh=s.fresh | {slot}), now, slot, rules)
        case QrSeen(keys=keys, subject=subject):
            if s.busy:
                return Transition(s)  # the QR of the person being served, or of the next one
            return _keys(s, now, keys, KeySource.QR, subject, rules)
        case MrzSeen(keys=keys, subject=subject):
            if s.busy:
                return Transition(s)
            return _keys(s, now, keys, KeySource.MRZ, subject, rules)
        case CanEntered(keys=keys):
            if s.busy or not rules.keypad:
                return Transition(s)
            return _keys(s, now, keys, KeySource.KEYPAD, None, rules)
        case ReadProgress(attempt=a, fraction=f):
            if s.phase is not Phase.READING or a != s.attempt:
                return Transition(s)
            return Transition(replace(s, progress=min(max(f, s.progress), 1.0)))
        case ReadDone(attempt=a, result=result, subject=subject):
            if s.phase is not Phase.READING or a != s.attempt:
                return Transition(s)
            if s.subject is not None and subject != s.subject:
                return _fail(s, now, Failure.WRONG_CARD)
            return Transition(_enter(replace(s, progress=1.0), Phase.VERIFYING, now),
                              (Verify(a, result),))
        case ReadFailed(attempt=a, reason=reason):
            if s.phase is not Phase.READING or a != s.attempt:
                return Transition(s)
            if reason is ReadFailure.READER_GONE:
                s = replace(s, faults=s.faults | {Fault.READER_MISSING})
            return _fail(s, now, _read_failure(reason, s.source))
        case Verified(attempt=a, outcome=outcome, result=result):
            if s.phase is not Phase.VERIFYING or a != s.attempt:
                return Transition(s)
            require = rules.mrz_require if s.source is KeySource.MRZ else rules.require
            if outcome < require or outcome is Outcome.INVALID:
                # The Store of a refusal is fire and forget: the session is FAILED, so its
                # Stored/StoreFailed answer is ignored.
                told = ((Store(a, RefusedReading(result.reading, result.verification), outcome),)
                        if rules.record_refusals and isinstance(result, VerifiedReading)
                        else ())
                return _fail(replace(s, outcome=outcome), now, Failure.NOT_GENUINE, told)
            return Transition(_enter(replace(s, outcome=outcome), Phase.STORING, now),
                              (Store(a, result, outcome),))
        case VerifyFailed(attempt=a):
            if s.phase is not Phase.VERIFYING or a != s.attempt:
                return Transition(s)
            return _fail(s, now, Failure.VERIFY_ERROR)
        case Stored(attempt=a, initial=initial):
            if s.phase is not Phase.STORING or a != s.attempt:
                return Transition(s)
            # Done with this person: forget their keys, cached ones included.
            return Transition(_enter(replace(s, keys=None, source=None, subject=None, cache=None,
                                             initial=initial), Phase.SUCCESS, now))
        case StoreFailed(attempt=a, full=full):
            if s.phase is not Phase.STORING or a != s.attempt:
                return Transition(s)
            if full:
                s = replace(s, faults=s.faults | {Fault.OUTBOX_FULL})
                return _fail(s, now, Failure.OUTBOX_FULL)
            return _fail(s, now, Failure.STORE_ERROR)
    raise TypeError(f"not a session event: {type(ev).__name__}")  # pragma: no cover


def _enter(s: Session, phase: Phase, now: float) -> Session:
    """``s`` (already :func:`~dataclasses.replace`-d with what changes) in ``phase`` from
    ``now``."""
    return replace(s, phase=phase, since=now)


def _abort(s: Session) -> tuple[Effect, ...]:
    assert s.slot is not None
    return (AbortRead(s.attempt, s.slot),)


def _read_failure(reason: ReadFailure, source: KeySource | None) -> Failure:
    if reason is ReadFailure.TAG_LOST:
        return Failure.CARD_REMOVED
    if reason is ReadFailure.READER_GONE:
        return Failure.READER_MISSING
    if reason is ReadFailure.AUTH_REFUSED:
        # A key from a QR (or remembered from one) that the chip refuses means this chip is not
        # the card of that QR; a typed CAN that is refused was mistyped or is for another card.
        return Failure.CAN_REFUSED if source is KeySource.KEYPAD else Failure.WRONG_CARD
    return Failure.READ_ERROR


def _fail(s: Session, now: float, failure: Failure, effects: tuple[Effect, ...] = ()
          ) -> Transition:
    retry = failure in _RETRYABLE and s.keys is not None
    kept = s if retry else replace(s, keys=None, source=None, subject=None)
    return Transition(_enter(replace(kept, failure=failure, retry=retry), Phase.FAILED, now),
                      effects)


def _fault_failure(s: Session) -> Failure | None:
    if Fault.READER_MISSING in s.faults:
        return Failure.READER_MISSING
    if Fault.OUTBOX_FULL in s.faults:
        return Failure.OUTBOX_FULL
    return None


def _start(s: Session, now: float, slot: str) -> Transition:
    assert s.keys is not None and s.source is not None
    attempt = s.attempt + 1
    nxt = _enter(replace(s, slot=slot, attempt=attempt, progress=0.0, failure=None, outcome=None,
                         retry=False, fresh=s.fresh - {slot}), Phase.READING, now)
    return Transition(nxt, (StartRead(attempt, slot, s.keys, s.source),))


def _card(s: Session, now: float, slot: str, rules: Rules) -> Transition:
    """A card was placed on ``slot`` while nothing is being read."""
    fault = _fault_failure(s)
    if fault is not None:
        return _fail(s, now, fault)
    if s.keys is not None and (s.phase is Phase.WAITING or (s.phase is Phase.FAILED and s.retry)):
        return _start(s, now, slot)
    if s.cache is not None:
        s = replace(s, keys=s.cache.keys, source=KeySource.CACHE, subject=s.cache.subject,
                    cache=None)
        return _start(s, now, slot)
    return Transition(_enter(replace(s, keys=None, source=None, subject=None, failure=None,
                                     retry=False, slot=slot), Phase.NEED_QR, now))


def _keys(s: Session, now: float, keys: DeskKeys, source: KeySource, subject: str | None,
          rules: Rules) -> Transition:
    """Keys arrived (QR or keypad) while nothing is being read."""
    if s.phase is Phase.WAITING and s.keys == keys and s.source is source:
        return Transition(s)  # the same QR still in front of the camera: keep the wait running
    fault = _fault_failure(s)
    if fault is not None:
        return _fail(s, now, fault)
    s = replace(s, keys=keys, source=source, subject=subject)
    if rules.key_cache_s > 0 and source is KeySource.QR and subject is not None:
        s = replace(s, cache=Cached(keys, subject, now + rules.key_cache_s))
    if s.fresh:
        # The card was already on the reader (NEED_QR, or placed before the QR): read it now.
        return _start(s, now, min(s.fresh))
    return Transition(_enter(replace(s, failure=None, retry=False, progress=0.0), Phase.WAITING,
                             now))


def _tick(s: Session, now: float, rules: Rules) -> Transition:
    elapsed = now - s.since
    match s.phase:
        case Phase.WAITING if elapsed >= rules.card_wait_s:
            if s.source is KeySource.MRZ and rules.mrz_only and s.keys is not None:
                # The chip could not be read (none came, or every tap failed: the last
                # failure says which): the record rests on the MRZ alone, and says so.
                why = s.failure.value if s.failure is not None else "no_chip"
                attempt = s.attempt + 1
                return Transition(_enter(replace(s, attempt=attempt, progress=1.0, failure=None,
                                                     retry=False), Phase.VERIFYING, now),
                                  (Verify(attempt, NoChip(s.keys, why)),))
            return Transition(_enter(replace(s, keys=None, source=None, subject=None), Phase.IDLE,
                                     now))
        case Phase.READING if elapsed >= rules.read_timeout_s:
            return _fail(s, now, Failure.READ_TIMEOUT, _abort(s))
        case Phase.VERIFYING if elapsed >= rules.verify_timeout_s:
            return _fail(s, now, Failure.VERIFY_ERROR)
        case Phase.STORING if elapsed >= rules.store_timeout_s:
            return _fail(s, now, Failure.STORE_ERROR)
        case Phase.FAILED if elapsed >= rules.result_hold_s:
            if s.retry:
                return Transition(_enter(replace(s, retry=False), Phase.WAITING, now))
            return Transition(_enter(replace(s, failure=None), Phase.IDLE, now))
        case Phase.SUCCESS | Phase.NEED_QR if elapsed >= rules.result_hold_s:
            return Transition(_enter(replace(s, failure=None, outcome=None), Phase.IDLE, now))
    return Transition(s)


def _expire_cache(s: Session, now: float) -> Session:
    if s.cache is not None and now >= s.cache.until:
        return replace(s, cache=None)
    return s


class Machine:
    """The session with its rules and a clock: what the runtime's event loop holds."""

    def __init__(self, rules: Rules, clock: Callable[[], float]) -> None:
        self.rules = rules
        self.clock = clock
        self.session = Session(since=clock())
        self.listeners: list[Callable[[Session, Session], None]] = []

    def handle(self, ev: Event) -> tuple[Effect, ...]:
        before = self.session
        t = advance(before, ev, self.clock(), self.rules)
        self.session = t.session
        if t.session != before:
            for listener in self.listeners:
                listener(before, t.session)
        return t.effects
