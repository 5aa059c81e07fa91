"""Every transition of the reading session, each failure included, as tables of scripts."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from station.service.machine import (
    AbortRead,
    CanEntered,
    CardPresent,
    CardRemoved,
    Effect,
    Event,
    Failure,
    Fault,
    KeySource,
    Machine,
    OutboxRoom,
    Outcome,
    Phase,
    QrSeen,
    ReadDone,
    ReaderBack,
    ReaderLost,
    ReadFailed,
    ReadFailure,
    ReadProgress,
    Refuse,
    Rules,
    Session,
    StartRead,
    Store,
    Stored,
    StoreFailed,
    Tick,
    Verified,
    Verify,
    VerifyFailed,
    advance,
)
from station.service.readings import RefusedReading, VerifiedReading

RULES = Rules(card_wait_s=30, read_timeout_s=20, verify_timeout_s=10, store_timeout_s=10,
              result_hold_s=3, key_cache_s=0, require=Outcome.AUTHENTIC)
KEYS_A = ("CAN", "123456")
KEYS_B = ("CAN", "654321")
SUBJ_A = "subject-a"
SUBJ_B = "subject-b"


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@dataclass
class Desk:
    """A machine, a clock and everything it asked the runtime to do."""

    rules: Rules = RULES
    clock: Clock = field(default_factory=Clock)
    effects: list[Effect] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.m = Machine(self.rules, self.clock)

    def __call__(self, *events: Event) -> Desk:
        for ev in events:
            self.effects.extend(self.m.handle(ev))
        return self

    def wait(self, s: float) -> Desk:
        self.clock.t += s
        return self(Tick())

    @property
    def s(self) -> Session:
        return self.m.session

    @property
    def attempt(self) -> int:
        return self.s.attempt


def qr(keys: object = KEYS_A, subject: str = SUBJ_A) -> QrSeen:
    return QrSeen(keys, subject)


def reading(desk: Desk | None = None, slot: str = "r0") -> Desk:
    d = desk or Desk()
    return d(qr(), CardPresent(slot))


def verifying(desk: Desk | None = None) -> Desk:
    d = reading(desk)
    return d(ReadDone(d.attempt, "chip", SUBJ_A))


def storing(desk: Desk | None = None) -> Desk:
    d = verifying(desk)
    return d(Verified(d.attempt, Outcome.GENUINE, "verified"))


# --- the happy path ---------------------------------------------------------------------------


def test_happy_path_emits_each_effect_once_and_returns_to_idle() -> None:
    d = Desk()
    assert d.s.phase is Phase.IDLE
    d(qr())
    assert d.s.phase is Phase.WAITING and d.s.source is KeySource.QR
    d(CardPresent("r0"))
    assert d.s.phase is Phase.READING
    assert d.effects == [StartRead(1, "r0", KEYS_A, KeySource.QR)]
    d(ReadProgress(1, 0.4))
    assert d.s.progress == pytest.approx(0.4)
    d(ReadProgress(1, 0.2))  # progress never goes back
    assert d.s.progress == pytest.approx(0.4)
    d(ReadDone(1, "chip", SUBJ_A))
    assert d.s.phase is Phase.VERIFYING and d.effects[-1] == Verify(1, "chip")
    d(Verified(1, Outcome.AUTHENTIC, "verified"))
    assert d.s.phase is Phase.STORING
    assert d.effects[-1] == Store(1, "verified", Outcome.AUTHENTIC)
    d(Stored(1))
    assert d.s.phase is Phase.SUCCESS
    assert d.s.keys is None and d.s.subject is None  # the person's keys are forgotten
    d.wait(2.9)
    assert d.s.phase is Phase.SUCCESS
    d.wait(0.2)
    assert d.s.phase is Phase.IDLE
    assert len(d.effects) == 3


def test_card_first_then_qr_reads_the_card_already_on_the_reader() -> None:
    d = Desk()(CardPresent("r0"))
    assert d.s.phase is Phase.NEED_QR
    d(qr())
    assert d.s.phase is Phase.READING
    assert d.effects == [StartRead(1, "r0", KEYS_A, KeySource.QR)]


def test_card_without_qr_then_typed_can() -> None:
    d = Desk()(CardPresent("r0"), CanEntered(KEYS_B))
    assert d.s.phase is Phase.READING
    assert d.effects == [StartRead(1, "r0", KEYS_B, KeySource.KEYPAD)]
    d(ReadDone(1, "chip", "any-subject"))  # typed CAN: no expected subject to compare
    assert d.s.phase is Phase.VERIFYING


def test_typed_can_ignored_when_the_profile_has_no_keypad() -> None:
    d = Desk(Rules(keypad=False))(CardPresent("r0"), CanEntered(KEYS_B))
    assert d.s.phase is Phase.NEED_QR and d.effects == []


def test_need_qr_times_out_to_idle_and_the_card_left_lying_is_not_read_later() -> None:
    d = Desk()(CardPresent("r0"))
    d.wait(3)
    assert d.s.phase is Phase.IDLE
    d(CardRemoved("r0"), CardPresent("r0"))
    assert d.s.phase is Phase.NEED_QR
    d.wait(3)(CardRemoved("r0"))
    d(qr())
    assert d.s.phase is Phase.WAITING  # no fresh card: wait for one


def test_cached_key_reads_a_card_tapped_after_the_wait_expired() -> None:
    d = Desk(Rules(key_cache_s=120, card_wait_s=30))(qr())
    d.wait(31)
    assert d.s.phase is Phase.IDLE and d.s.keys is None
    d.clock.t += 60
    d(CardPresent("r0"))
    assert d.s.phase is Phase.READING
    assert d.effects == [StartRead(1, "r0", KEYS_A, KeySource.CACHE)]
    d(ReadDone(1, "chip", SUBJ_B))  # the cached QR still names its card
    assert d.s.failure is Failure.WRONG_CARD


def test_cached_key_expires() -> None:
    d = Desk(Rules(key_cache_s=120, card_wait_s=30))(qr())
    d.wait(31)
    d.clock.t += 90
    d(CardPresent("r0"))
    assert d.s.phase is Phase.NEED_QR and d.effects == []


def test_no_cache_without_the_profile_allowing_it() -> None:
    d = Desk()(qr())
    d.wait(31)
    d(CardPresent("r0"))
    assert d.s.phase is Phase.NEED_QR


def test_success_forgets_the_cached_key() -> None:
    d = storing(Desk(Rules(key_cache_s=600)))
    d(Stored(d.attempt))
    d.wait(3)
    d(CardPresent("r1"))
    assert d.s.phase is Phase.NEED_QR


def test_same_qr_seen_again_does_not_restart_the_wait_but_a_new_qr_replaces_keys() -> None:
    d = Desk()(qr())
    d.clock.t += 20
    d(qr())  # the QR is still in front of the camera
    d.wait(10)
    assert d.s.phase is Phase.IDLE
    d(qr())
    d(qr(KEYS_B, SUBJ_B))
    assert d.s.keys == KEYS_B and d.s.subject == SUBJ_B


def test_waiting_for_card_times_out() -> None:
    d = Desk()(qr())
    d.wait(29.9)
    assert d.s.phase is Phase.WAITING
    d.wait(0.2)
    assert d.s.phase is Phase.IDLE and d.s.keys is None and d.effects == []


# --- failures ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FailCase:
    name: str
    start: str  # "reading" | "verifying" | "storing"
    event: str
    failure: Failure
    effects: tuple[type, ...] = ()
    retry: bool = False
    fault: Fault | None = None
    rules: Rules = RULES


def _event(name: str, d: Desk) -> Event | None:
    a = d.attempt
    return {
        "removed": CardRemoved("r0"),
        "tag_lost": ReadFailed(a, ReadFailure.TAG_LOST),
        "auth_refused": ReadFailed(a, ReadFailure.AUTH_REFUSED),
        "read_error": ReadFailed(a, ReadFailure.ERROR),
        "reader_gone": ReadFailed(a, ReadFailure.READER_GONE),
        "reader_lost": ReaderLost(),
        "other_subject": ReadDone(a, "chip", SUBJ_B),
        "invalid": Verified(a, Outcome.INVALID, "v"),
        "unverified": Verified(a, Outcome.UNVERIFIED, "v"),
        "authentic": Verified(a, Outcome.AUTHENTIC, "v"),
        "verify_failed": VerifyFailed(a),
        "full": StoreFailed(a, full=True),
        "store_error": StoreFailed(a, full=False),
    }.get(name)


BANK = Rules(require=Outcome.GENUINE)
FAILURES = [
    FailCase("card lifted mid-read", "reading", "removed", Failure.CARD_REMOVED, (AbortRead,),
             retry=True),
    FailCase("reader reports tag lost", "reading", "tag_lost", Failure.CARD_REMOVED, retry=True),
    FailCase("QR key refused = wrong card", "reading", "auth_refused", Failure.WRONG_CARD,
             retry=True),
    FailCase("ID differs from the QR", "reading", "other_subject", Failure.WRONG_CARD,
             retry=True),
    FailCase("unreadable chip", "reading", "read_error", Failure.READ_ERROR, retry=True),
    FailCase("reader unplugged (worker)", "reading", "reader_gone", Failure.READER_MISSING,
             fault=Fault.READER_MISSING),
    FailCase("reader unplugged (monitor)", "reading", "reader_lost", Failure.READER_MISSING,
             (AbortRead,), fault=Fault.READER_MISSING),
    FailCase("read timeout", "reading", "tick:20", Failure.READ_TIMEOUT, (AbortRead,),
             retry=True),
    FailCase("forged data", "verifying", "invalid", Failure.NOT_GENUINE),
    FailCase("no trust anchor", "verifying", "unverified", Failure.NOT_GENUINE),
    FailCase("bank needs chip/active auth", "verifying", "authentic", Failure.NOT_GENUINE,
             rules=BANK),
    FailCase("verifier crashed", "verifying", "verify_failed", Failure.VERIFY_ERROR),
    FailCase("verify timeout", "verifying", "tick:10", Failure.VERIFY_ERROR),
    FailCase("outbox full", "storing", "full", Failure.OUTBOX_FULL, fault=Fault.OUTBOX_FULL),
    FailCase("disk error", "storing", "store_error", Failure.STORE_ERROR),
    FailCase("store timeout", "storing", "tick:10", Failure.STORE_ERROR),
]


@pytest.mark.parametrize("case", FAILURES, ids=lambda c: c.name)
def test_failure(case: FailCase) -> None:
    d = {"reading": reading, "verifying": verifying, "storing": storing}[case.start](
        Desk(case.rules))
    before = len(d.effects)
    if case.event.startswith("tick:"):
        d.wait(float(case.event[5:]))
    else:
        ev = _event(case.event, d)
        assert ev is not None
        d(ev)
    assert d.s.phase is Phase.FAILED
    assert d.s.failure is case.failure
    assert tuple(type(e) for e in d.effects[before:]) == case.effects
    assert d.s.retry is case.retry
    assert (case.fault in d.s.faults) if case.fault else not d.s.faults
    # After the hold: a retryable failure waits for the same person's card with the same keys,
    # any other goes back to idle with the keys forgotten.
    d.wait(RULES.result_hold_s)
    if case.retry:
        assert d.s.phase is Phase.WAITING and d.s.keys == KEYS_A
    else:
        assert d.s.phase is Phase.IDLE and d.s.keys is None


def test_typed_can_refused_is_not_retried_with_the_same_digits() -> None:
    d = Desk()(CanEntered(KEYS_B), CardPresent("r0"))
    d(ReadFailed(1, ReadFailure.AUTH_REFUSED))
    assert d.s.failure is Failure.CAN_REFUSED and not d.s.retry and d.s.keys is None


def test_hold_the_card_still_then_tap_again_reads_at_once() -> None:
    d = reading()
    d(CardRemoved("r0"))
    assert d.s.failure is Failure.CARD_REMOVED
    d(CardPresent("r0"))  # within the hold: no need to wait for the message to clear
    assert d.s.phase is Phase.READING
    assert d.effects[-1] == StartRead(2, "r0", KEYS_A, KeySource.QR)


def test_wrong_card_then_the_right_card() -> None:
    d = reading()
    d(ReadFailed(1, ReadFailure.AUTH_REFUSED))
    d(CardRemoved("r0"), CardPresent("r0"))
    d(ReadDone(2, "chip", SUBJ_A))
    assert d.s.phase is Phase.VERIFYING


def test_bank_accepts_genuine() -> None:
    d = verifying(Desk(BANK))
    d(Verified(d.attempt, Outcome.GENUINE, "v"))
    assert d.s.phase is Phase.STORING


def test_a_refusal_is_recorded_only_when_the_profile_asks() -> None:
    """record_refusals: the not-genuine card still fails the session, and one Store of a
    Refusal (no citizen data; records.reading_of) tells the backend; its answer is ignored."""
    from dataclasses import replace

    # Stand-ins of the reading and its verification: the machine only passes them on.
    refused = VerifiedReading("chip", "verification")  # type: ignore[arg-type]
    quiet = verifying()
    quiet(Verified(quiet.attempt, Outcome.INVALID, refused))
    assert quiet.s.failure is Failure.NOT_GENUINE
    assert not any(isinstance(e, Store) for e in quiet.effects)
    told = verifying(Desk(replace(RULES, record_refusals=True)))
    told(Verified(told.attempt, Outcome.INVALID, refused))
    assert told.s.phase is Phase.FAILED and told.s.failure is Failure.NOT_GENUINE
    stores = [e for e in told.effects if isinstance(e, Store)]
    assert stores == [Store(told.attempt, RefusedReading("chip", "verification"), Outcome.INVALID)]
    told(Stored(told.attempt, "B"))
    assert told.s.phase is Phase.FAILED and told.s.initial is None


def test_second_card_is_refused_politely_and_the_read_goes_on() -> None:
    for make in (reading, verifying, storing):
        d = make(None)
        before = d.s
        d(CardPresent("r1"))
        assert d.effects[-1] == Refuse("r1")
        assert d.s == before
    d = reading()
    d(CardPresent("r1"), CardRemoved("r1"))  # the second card leaves: the first read goes on
    assert d.s.phase is Phase.READING
    d(ReadDone(1, "chip", SUBJ_A))
    assert d.s.phase is Phase.VERIFYING


def test_qr_and_can_during_a_read_are_ignored() -> None:
    d = reading()
    before = d.s
    d(qr(KEYS_B, SUBJ_B), CanEntered(KEYS_B))
    assert d.s == before


def test_stale_worker_events_are_ignored() -> None:
    d = reading()
    d(CardRemoved("r0"), CardPresent("r0"))  # attempt 2 now running
    before = d.s
    d(ReadProgress(1, 0.9), ReadDone(1, "chip", SUBJ_A), ReadFailed(1, ReadFailure.ERROR))
    assert d.s == before
    d(ReadDone(2, "chip", SUBJ_A))
    before = d.s
    d(Verified(1, Outcome.GENUINE, "v"), VerifyFailed(1), Stored(1), StoreFailed(1, True))
    assert d.s == before


def test_card_removed_after_reading_does_not_matter() -> None:
    d = verifying()
    d(CardRemoved("r0"))
    assert d.s.phase is Phase.VERIFYING


# --- faults -----------------------------------------------------------------------------------


@pytest.mark.parametrize("start", ["qr", "can", "card"])
def test_reader_missing_refuses_to_start_until_it_is_back(start: str) -> None:
    d = Desk()(ReaderLost())
    ev: Event = {"qr": qr(), "can": CanEntered(KEYS_B), "card": CardPresent("r0")}[start]
    d(ev)
    assert d.s.phase is Phase.FAILED and d.s.failure is Failure.READER_MISSING
    assert d.effects == []
    d(ReaderBack())
    d.wait(3)
    assert d.s.phase is Phase.IDLE and not d.s.faults
    d(qr(), CardPresent("r0"))
    assert d.s.phase is Phase.READING


def test_outbox_full_refuses_new_readings_until_there_is_room() -> None:
    d = storing()
    d(StoreFailed(d.attempt, full=True))
    d.wait(3)
    d(qr())
    assert d.s.failure is Failure.OUTBOX_FULL
    d(OutboxRoom())
    d.wait(3)
    d(qr())
    assert d.s.phase is Phase.WAITING


def test_reader_lost_forgets_cards_on_it() -> None:
    d = Desk()(CardPresent("r0"))
    d(ReaderLost(), ReaderBack())
    d.wait(3)
    d(qr())
    assert d.s.phase is Phase.WAITING


def test_advance_is_pure() -> None:
    s = Session()
    t1 = advance(s, qr(), 5.0, RULES)
    t2 = advance(s, qr(), 5.0, RULES)
    assert t1 == t2 and s == Session()


def test_listeners_see_each_change_once() -> None:
    d = Desk()
    seen: list[tuple[Phase, Phase]] = []
    d.m.listeners.append(lambda a, b: seen.append((a.phase, b.phase)))
    d(qr(), qr(), CardPresent("r0"), Tick())
    assert seen == [(Phase.IDLE, Phase.WAITING), (Phase.WAITING, Phase.READING)]


def test_the_initial_is_shown_on_success_only_and_then_forgotten() -> None:
    d = storing()
    d(Stored(d.attempt, "A"))
    assert d.s.phase is Phase.SUCCESS and d.s.initial == "A"
    d.clock.t += RULES.result_hold_s
    d(Tick())
    assert d.s.phase is Phase.IDLE and d.s.initial is None
    # The next person taps during the success screen: the initial goes with the screen.
    d = storing()
    d(Stored(d.attempt, "B"), qr())
    assert d.s.phase is Phase.WAITING and d.s.initial is None
