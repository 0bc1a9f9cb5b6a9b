"""Pure, table-driven mapping from a Cal.com event to a change of Meeting state.

No ORM and no I/O here: `plan_transition` takes the facts of an event and the current state of
a meeting and returns what to do. `meetings/services/apply.py` applies the plan to the database. The
table below is the spec in DESIGN.md ("Status mapping"); the ordering rules are written out in
`plan_transition`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from calcom.triggers import GUESTS_NO_SHOW_TRIGGER, HOST_NO_SHOW_TRIGGER, PING

# Values match meetings.models.MeetingStatus / PaymentStatus and
# notifications.models.NotificationKind; kept as plain strings so this module stays pure.
SCHEDULED, CANCELLED, COMPLETED, NO_SHOW = "scheduled", "cancelled", "completed", "no_show"
PAYMENT_PENDING, PAYMENT_PAID = "pending", "paid"
HIT_PAYMENT_RECEIVED, HIT_MEETING_COMPLETED = "payment_received", "meeting_completed"


class Effect(str, Enum):
    """What kind of change an event makes; decides the ordering rules that apply."""

    BOOK = "book"  # a booking exists (created / requested)
    RESCHEDULE = "reschedule"  # new uid and times; the old uid stays an alias
    CANCEL = "cancel"
    PAYMENT = "payment"
    END = "end"
    NO_SHOW = "no_show"  # toggles no_show / completed from the attendee marks
    GUESTS_NO_SHOW = "guests_no_show"  # Cal Video: the guests did not join; the meeting is a no-show
    HOST_NO_SHOW = "host_no_show"  # Cal Video: the host did not join; flagged, status unchanged
    INFO = "info"  # recorded, may refresh details or links, status unchanged
    PING = "ping"


@dataclass(frozen=True)
class Rule:
    effect: Effect
    status: str | None = None  # Meeting status after the event (None: unchanged)
    cal_status: str | None = None  # Cal.com booking status to record (None: from the payload)
    payment: str | None = None
    hit: str | None = None  # HIT notification kind, if any
    touches_booking: bool = False  # payload carries the booking's own details (times, title…)


# One row for every trigger in the catalogue (calcom.triggers) and PING; a test holds it to that.
STATUS_TABLE: dict[str, Rule] = {
    "BOOKING_CREATED": Rule(Effect.BOOK, SCHEDULED, "ACCEPTED", touches_booking=True),
    "BOOKING_REQUESTED": Rule(Effect.BOOK, SCHEDULED, "PENDING", touches_booking=True),
    "BOOKING_RESCHEDULED": Rule(Effect.RESCHEDULE, SCHEDULED, "ACCEPTED", touches_booking=True),
    "BOOKING_CANCELLED": Rule(Effect.CANCEL, CANCELLED, "CANCELLED"),
    "BOOKING_REJECTED": Rule(Effect.CANCEL, CANCELLED, "REJECTED"),
    "BOOKING_PAID": Rule(
        Effect.PAYMENT, SCHEDULED, None, PAYMENT_PAID, HIT_PAYMENT_RECEIVED, touches_booking=True
    ),
    "BOOKING_PAYMENT_INITIATED": Rule(Effect.PAYMENT, SCHEDULED, None, PAYMENT_PENDING, touches_booking=True),
    "MEETING_ENDED": Rule(Effect.END, COMPLETED, hit=HIT_MEETING_COMPLETED, touches_booking=True),
    "BOOKING_NO_SHOW_UPDATED": Rule(Effect.NO_SHOW),
    "MEETING_STARTED": Rule(Effect.INFO, touches_booking=True),
    "RECORDING_READY": Rule(Effect.INFO),
    "RECORDING_TRANSCRIPTION_GENERATED": Rule(Effect.INFO),
    HOST_NO_SHOW_TRIGGER: Rule(Effect.HOST_NO_SHOW),
    GUESTS_NO_SHOW_TRIGGER: Rule(Effect.GUESTS_NO_SHOW, NO_SHOW),
    "BOOKING_LOCATION_UPDATED": Rule(Effect.INFO),
    "BOOKING_REASSIGNED": Rule(Effect.INFO),
    "FORM_SUBMITTED": Rule(Effect.INFO),
    "FORM_SUBMITTED_NO_EVENT": Rule(Effect.INFO),
    "ROUTING_FORM_FALLBACK_HIT": Rule(Effect.INFO),
    "INSTANT_MEETING": Rule(Effect.INFO),
    "INSTANT_MEETING_ACCEPTED": Rule(Effect.INFO),
    "OOO_CREATED": Rule(Effect.INFO),
    "WRONG_ASSIGNMENT_REPORT": Rule(Effect.INFO),
    "DELEGATION_CREDENTIAL_ERROR": Rule(Effect.INFO),
    "DELEGATION_CREDENTIAL_SECRET_ROTATED": Rule(Effect.INFO),
    "DELEGATION_CREDENTIAL_SECRET_ROTATION_FAILED": Rule(Effect.INFO),
    "DELEGATION_CREDENTIAL_ROTATION_REQUIRED": Rule(Effect.INFO),
    PING: Rule(Effect.PING),
}

# Triggers whose events change meetings; what `register_calcom_webhooks` subscribes to.
HANDLED_TRIGGERS: tuple[str, ...] = (
    "BOOKING_CREATED",
    "BOOKING_REQUESTED",
    "BOOKING_RESCHEDULED",
    "BOOKING_CANCELLED",
    "BOOKING_REJECTED",
    "BOOKING_PAID",
    "BOOKING_PAYMENT_INITIATED",
    "BOOKING_NO_SHOW_UPDATED",
    "MEETING_STARTED",
    "MEETING_ENDED",
    "RECORDING_READY",
    "RECORDING_TRANSCRIPTION_GENERATED",
    GUESTS_NO_SHOW_TRIGGER,
    HOST_NO_SHOW_TRIGGER,
)
KNOWN_TRIGGERS: frozenset[str] = frozenset(STATUS_TABLE)
# Triggers that are about a booking by nature (an event of these without one is a problem).
BOOKING_TRIGGERS: frozenset[str] = frozenset(
    trigger
    for trigger, rule in STATUS_TABLE.items()
    if rule.touches_booking or rule.effect not in (Effect.INFO, Effect.PING)
)


def rule_for(trigger: str) -> Rule | None:
    """The table row for a trigger; None for triggers we do not know (ignored, answered 200)."""
    return STATUS_TABLE.get(trigger)


@dataclass(frozen=True)
class MeetingState:
    """What the planner needs to know about the meeting an event belongs to."""

    status: str | None  # None: no meeting yet
    last_event_at: datetime | None = None
    uid_is_current: bool = True  # False: the event names a uid the meeting has moved away from
    no_show_emails: frozenset[str] = frozenset()
    payment_status: str = "none"


@dataclass(frozen=True)
class EventFacts:
    trigger: str
    occurred_at: datetime | None = None
    reschedules_this_meeting: bool = False  # rescheduleUid is one of the meeting's uids
    no_show_marks: tuple[tuple[str, bool], ...] = ()  # (lower-cased e-mail, marked)
    host_email: str = ""  # AFTER_HOSTS_CAL_VIDEO_NO_SHOW: the host who did not join


@dataclass(frozen=True)
class Plan:
    """What to do with a meeting. `ignored_reason` set: record the event as ignored, change nothing."""

    new_status: str | None = None
    cal_status: str | None = None
    update_booking_details: bool = False
    payment: str | None = None
    no_show_emails: frozenset[str] | None = None
    hit: str | None = None
    # A no-show was marked: a completed HIT still waiting in the outbox is withdrawn.
    withdraw_hit: str | None = None
    host_no_show: bool = False  # record that the host did not join
    advance_clock: bool = False  # the event is now the latest applied one
    note: str = ""  # what the event did that no status change shows (said on the event)
    ignored_reason: str = ""

    @property
    def ignored(self) -> bool:
        return bool(self.ignored_reason)


def plan_transition(*, facts: EventFacts, state: MeetingState) -> Plan:
    rule = rule_for(facts.trigger)
    if rule is None:
        return Plan(ignored_reason=f"unknown trigger {facts.trigger!r}")
    if rule.effect is Effect.PING:
        return Plan(ignored_reason="PING: Cal.com test delivery, nothing to apply")

    is_new = state.status is None
    stale = (
        not is_new
        and facts.occurred_at is not None
        and state.last_event_at is not None
        and facts.occurred_at < state.last_event_at
    )

    # Payment facts are monotonic (pending → paid, never back) and true whatever the order,
    # so they apply even from a late event or a superseded uid; they never change the status
    # of a meeting that is already past "scheduled".
    payment = _merge_payment(current=state.payment_status, incoming=rule.payment)
    hit = rule.hit if rule.payment == PAYMENT_PAID else None

    if rule.effect is Effect.PAYMENT:
        keep_status = not is_new and (stale or state.status != SCHEDULED or not state.uid_is_current)
        if keep_status and payment is None and hit is None:
            return Plan(ignored_reason=_why_not(state=state, stale=stale, trigger=facts.trigger))
        return Plan(
            new_status=None if keep_status else rule.status,
            update_booking_details=not keep_status,
            payment=payment,
            hit=hit,
            advance_clock=not keep_status,
        )

    if rule.effect is Effect.INFO:
        # Details (links, times) only from the current uid and in order; status never changes.
        if not is_new and (stale or not state.uid_is_current):
            return Plan(ignored_reason=_why_not(state=state, stale=stale, trigger=facts.trigger))
        return Plan(update_booking_details=rule.touches_booking or is_new, advance_clock=False)

    if rule.effect is Effect.RESCHEDULE or (rule.effect is Effect.BOOK and facts.reschedules_this_meeting):
        # A reschedule moves the meeting to the new uid, and is the one way out of "cancelled".
        if stale:
            return Plan(ignored_reason=_why_not(state=state, stale=True, trigger=facts.trigger))
        return Plan(
            new_status=rule.status,
            cal_status=rule.cal_status,
            update_booking_details=True,
            payment=payment,
            advance_clock=True,
        )

    if is_new:
        new_status = rule.status or SCHEDULED
        no_show = None
        if rule.effect in (Effect.NO_SHOW, Effect.GUESTS_NO_SHOW):
            no_show = _apply_marks(current=frozenset(), marks=facts.no_show_marks)
            new_status = NO_SHOW if no_show or rule.effect is Effect.GUESTS_NO_SHOW else COMPLETED
        return Plan(
            new_status=new_status,
            cal_status=rule.cal_status,
            update_booking_details=True,
            payment=payment,
            no_show_emails=no_show,
            hit=rule.hit,
            host_no_show=rule.effect is Effect.HOST_NO_SHOW,
            note=_host_note(facts=facts) if rule.effect is Effect.HOST_NO_SHOW else "",
            advance_clock=True,
        )

    if stale or not state.uid_is_current:
        return Plan(ignored_reason=_why_not(state=state, stale=stale, trigger=facts.trigger))
    if state.status == CANCELLED:
        return Plan(
            ignored_reason=(
                f"{facts.trigger} does not apply: the meeting is cancelled "
                "(only a reschedule of this booking reopens it)"
            )
        )

    if rule.effect in (Effect.NO_SHOW, Effect.GUESTS_NO_SHOW):
        no_show = _apply_marks(current=state.no_show_emails, marks=facts.no_show_marks)
        # Cal Video saw no guest join: a no-show even when it names none of them.
        new_status = NO_SHOW if no_show or rule.effect is Effect.GUESTS_NO_SHOW else COMPLETED
        return Plan(
            new_status=new_status,
            no_show_emails=no_show,
            withdraw_hit=HIT_MEETING_COMPLETED if new_status == NO_SHOW else None,
            advance_clock=True,
        )
    if rule.effect is Effect.HOST_NO_SHOW:
        # An attendance fact like the marks, but about the host: recorded, status unchanged.
        return Plan(host_no_show=True, note=_host_note(facts=facts))
    if rule.effect is Effect.END:
        if state.status == NO_SHOW:
            # A no-show was marked after (or while) the meeting ended; keep it.
            return Plan(ignored_reason="MEETING_ENDED does not undo a no-show marking")
        return Plan(
            new_status=COMPLETED,
            update_booking_details=True,
            hit=rule.hit,
            advance_clock=True,
        )
    if rule.effect is Effect.BOOK and state.status in (COMPLETED, NO_SHOW):
        return Plan(ignored_reason=f"{facts.trigger} does not reopen a meeting that already took place")
    # BOOK on a scheduled meeting, CANCEL on a live one.
    return Plan(
        new_status=rule.status,
        cal_status=rule.cal_status,
        update_booking_details=rule.touches_booking,
        payment=payment,
        hit=rule.hit,
        advance_clock=True,
    )


def _host_note(*, facts: EventFacts) -> str:
    host = facts.host_email or "the host"
    return f"host no-show recorded: {host} did not join the Cal Video call"


def _merge_payment(*, current: str, incoming: str | None) -> str | None:
    """The payment state to write, or None when nothing changes (paid is final)."""
    if incoming is None or current in (PAYMENT_PAID, incoming):
        return None
    return incoming


def _apply_marks(*, current: frozenset[str], marks: tuple[tuple[str, bool], ...]) -> frozenset[str]:
    marked = set(current)
    for email, is_no_show in marks:
        (marked.add if is_no_show else marked.discard)(email)
    return frozenset(marked)


def _why_not(*, state: MeetingState, stale: bool, trigger: str) -> str:
    if stale:
        return (
            f"stale {trigger}: older than the last applied event "
            f"({state.last_event_at.isoformat() if state.last_event_at else '?'})"
        )
    return f"{trigger} names a booking uid this meeting was rescheduled away from"
