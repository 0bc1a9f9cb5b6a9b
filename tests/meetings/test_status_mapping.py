"""The pure status mapping: the DESIGN.md table and the ordering rules, no database."""

from datetime import UTC, datetime, timedelta

import pytest

from calcom.triggers import CALCOM_TRIGGER_EVENTS, PING
from meetings.status_mapping import (
    BOOKING_TRIGGERS,
    HANDLED_TRIGGERS,
    KNOWN_TRIGGERS,
    STATUS_TABLE,
    Effect,
    EventFacts,
    MeetingState,
    plan_transition,
)

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
EARLIER, LATER = T0 - timedelta(hours=1), T0 + timedelta(hours=1)


def plan(
    trigger,
    *,
    status="scheduled",
    at=T0,
    last=T0 - timedelta(days=1),
    current=True,
    reschedules=False,
    marks=(),
    no_show=(),
    payment="none",
):
    return plan_transition(
        facts=EventFacts(
            trigger=trigger, occurred_at=at, reschedules_this_meeting=reschedules, no_show_marks=tuple(marks)
        ),
        state=MeetingState(
            status=status,
            last_event_at=last,
            uid_is_current=current,
            no_show_emails=frozenset(no_show),
            payment_status=payment,
        ),
    )


# (trigger, status before, expected status after, cal_status, payment, hit)
TABLE = [
    ("BOOKING_CREATED", None, "scheduled", "ACCEPTED", None, None),
    ("BOOKING_REQUESTED", None, "scheduled", "PENDING", None, None),
    ("BOOKING_RESCHEDULED", "scheduled", "scheduled", "ACCEPTED", None, None),
    ("BOOKING_CANCELLED", "scheduled", "cancelled", "CANCELLED", None, None),
    ("BOOKING_REJECTED", "scheduled", "cancelled", "REJECTED", None, None),
    ("BOOKING_PAID", "scheduled", "scheduled", None, "paid", "payment_received"),
    ("BOOKING_PAYMENT_INITIATED", "scheduled", "scheduled", None, "pending", None),
    ("MEETING_ENDED", "scheduled", "completed", None, None, "meeting_completed"),
    ("MEETING_STARTED", "scheduled", None, None, None, None),
    ("RECORDING_READY", "scheduled", None, None, None, None),
    ("RECORDING_TRANSCRIPTION_GENERATED", "scheduled", None, None, None, None),
    ("AFTER_GUESTS_CAL_VIDEO_NO_SHOW", "scheduled", "no_show", None, None, None),
    ("AFTER_GUESTS_CAL_VIDEO_NO_SHOW", "completed", "no_show", None, None, None),
    ("AFTER_HOSTS_CAL_VIDEO_NO_SHOW", "scheduled", None, None, None, None),
]


@pytest.mark.parametrize("trigger,before,after,cal_status,payment,hit", TABLE)
def test_status_table(trigger, before, after, cal_status, payment, hit):
    result = plan(trigger, status=before)
    assert not result.ignored, result.ignored_reason
    assert result.new_status == after
    assert result.cal_status == cal_status
    assert result.payment == payment
    assert result.hit == hit


def test_no_show_marks_and_unmarks_toggle_no_show_and_completed():
    marked = plan("BOOKING_NO_SHOW_UPDATED", status="completed", marks=[("a@x.org", True)])
    assert marked.new_status == "no_show" and marked.no_show_emails == {"a@x.org"}
    unmarked = plan(
        "BOOKING_NO_SHOW_UPDATED", status="no_show", no_show={"a@x.org"}, marks=[("a@x.org", False)]
    )
    assert unmarked.new_status == "completed" and unmarked.no_show_emails == frozenset()
    partly = plan(
        "BOOKING_NO_SHOW_UPDATED",
        status="no_show",
        no_show={"a@x.org", "b@x.org"},
        marks=[("a@x.org", False)],
    )
    assert partly.new_status == "no_show" and partly.no_show_emails == {"b@x.org"}


def test_a_no_show_mark_withdraws_the_completed_hit_an_unmark_does_not():
    assert plan("BOOKING_NO_SHOW_UPDATED", status="completed", marks=[("a@x.org", True)]).withdraw_hit == (
        "meeting_completed"
    )
    guests = plan("AFTER_GUESTS_CAL_VIDEO_NO_SHOW", status="completed", marks=[("a@x.org", True)])
    assert guests.withdraw_hit == "meeting_completed" and guests.no_show_emails == {"a@x.org"}
    unmarked = plan(
        "BOOKING_NO_SHOW_UPDATED", status="no_show", no_show={"a@x.org"}, marks=[("a@x.org", False)]
    )
    assert unmarked.withdraw_hit is None


def test_guests_no_show_naming_nobody_is_still_a_no_show():
    """Cal.com's newest MeetingPayloadBuilder may send only {bookingId, webhook}."""
    result = plan("AFTER_GUESTS_CAL_VIDEO_NO_SHOW", status="scheduled")
    assert result.new_status == "no_show" and result.no_show_emails == frozenset()


def test_host_no_show_flags_without_changing_status():
    result = plan("AFTER_HOSTS_CAL_VIDEO_NO_SHOW", status="completed")
    assert result.host_no_show and result.new_status is None and result.withdraw_hit is None
    assert "did not join the Cal Video call" in result.note
    assert plan("AFTER_HOSTS_CAL_VIDEO_NO_SHOW", status="cancelled").ignored


def test_unknown_trigger_and_ping_are_ignored():
    assert "unknown trigger" in plan("BOOKING_TELEPORTED").ignored_reason
    assert plan("PING").ignored


def test_stale_create_never_revives_a_cancelled_meeting():
    result = plan("BOOKING_CREATED", status="cancelled", at=EARLIER, last=T0)
    assert result.ignored and "stale" in result.ignored_reason


def test_cancelled_is_final_except_through_a_reschedule():
    assert plan("BOOKING_CREATED", status="cancelled", at=LATER, last=T0).ignored
    assert plan("MEETING_ENDED", status="cancelled", at=LATER, last=T0).ignored
    revived = plan("BOOKING_RESCHEDULED", status="cancelled", at=LATER, last=T0, reschedules=True)
    assert revived.new_status == "scheduled"
    requested = plan("BOOKING_REQUESTED", status="cancelled", at=LATER, last=T0, reschedules=True)
    assert requested.new_status == "scheduled" and requested.cal_status == "PENDING"


def test_stale_reschedule_does_not_move_times_back():
    result = plan("BOOKING_RESCHEDULED", at=EARLIER, last=T0, reschedules=True)
    assert result.ignored and not result.update_booking_details


def test_late_meeting_ended_keeps_a_no_show():
    assert plan("MEETING_ENDED", status="no_show", at=LATER, last=T0).ignored
    assert plan("MEETING_ENDED", status="no_show", at=EARLIER, last=T0).ignored


def test_events_for_a_superseded_uid_change_nothing_but_payment():
    assert plan("BOOKING_CANCELLED", current=False).ignored
    assert plan("MEETING_ENDED", current=False).ignored
    paid = plan("BOOKING_PAID", current=False)
    assert paid.payment == "paid" and paid.new_status is None and paid.hit == "payment_received"


def test_payment_is_monotonic():
    assert plan("BOOKING_PAYMENT_INITIATED", payment="paid").payment is None
    assert plan("BOOKING_PAID", payment="pending", at=EARLIER, last=T0).payment == "paid"


def test_paid_after_cancel_records_payment_but_keeps_cancelled():
    result = plan("BOOKING_PAID", status="cancelled", at=LATER, last=T0)
    assert result.new_status is None and result.payment == "paid"


def test_new_meeting_from_any_booking_trigger():
    for trigger, expected in [
        ("BOOKING_CANCELLED", "cancelled"),
        ("MEETING_ENDED", "completed"),
        ("BOOKING_PAID", "scheduled"),
    ]:
        result = plan(trigger, status=None)
        assert result.new_status == expected and result.update_booking_details


def test_every_handled_trigger_is_in_the_table():
    assert set(HANDLED_TRIGGERS) <= KNOWN_TRIGGERS


def test_the_table_has_a_row_for_every_catalogue_trigger_and_ping():
    assert set(STATUS_TABLE) == {*CALCOM_TRIGGER_EVENTS, PING}


def test_delegation_credential_triggers_are_recorded_as_not_about_a_booking():
    for trigger in CALCOM_TRIGGER_EVENTS:
        if trigger.startswith("DELEGATION_CREDENTIAL_"):
            assert STATUS_TABLE[trigger].effect is Effect.INFO
            assert trigger not in BOOKING_TRIGGERS
