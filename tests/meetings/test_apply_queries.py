"""What applying one event costs in database round trips, and the lookups that keep it low.

Every webhook event goes through `apply_calcom_event`, so its queries bound processing
throughput. The bounds below are what each kind of event needs today (listed per test); a
change that adds a round trip to the hot path fails here. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import pytest
from django.db import transaction
from django.db.transaction import TransactionManagementError

from calcom.parsing import parse_event
from meetings.models import BookingUid, Meeting, Target
from meetings.selectors import (
    lookup_booking,
    meeting_ids_for_booking,
    meetings_for_update,
    target_for_emails,
)
from meetings.services.apply import apply_calcom_event
from tests.support.bodies import at, booking_body

pytestmark = pytest.mark.django_db


def apply(body: dict):
    with transaction.atomic():
        return apply_calcom_event(event=parse_event(body))


def created(uid: str, **facts) -> Meeting:
    facts.setdefault("start", at(600))
    apply(booking_body("BOOKING_CREATED", uid=uid, created=at(0), **facts))
    return Meeting.objects.get(cal_event_id=uid)


# --- Query bounds ------------------------------------------------------------------------------


def test_first_event_of_a_new_booking(django_assert_max_num_queries):
    target = Target.objects.create(email="Priya.Shah@Example.org")
    body = booking_body("BOOKING_CREATED", uid="NEW1", created=at(0), booking_id=11, start=at(60))

    # One lookup (uids, booking id and the attendees' target together), SAVEPOINT, INSERT
    # meeting (with the event applied), INSERT uid, RELEASE, INSERT status change.
    with transaction.atomic(), django_assert_max_num_queries(6):
        result = apply_calcom_event(event=parse_event(body))

    assert result.created
    meeting = Meeting.objects.get()
    assert (meeting.status, meeting.cal_status) == ("scheduled", "ACCEPTED")
    assert (meeting.cal_booking_id, meeting.start_time, meeting.last_event_at) == (11, at(60), at(0))
    assert meeting.target == target
    assert list(meeting.uids.values_list("uid", flat=True)) == ["NEW1"]
    assert list(meeting.status_changes.values_list("from_status", "to_status")) == [("", "scheduled")]


def test_later_event_of_a_known_booking(django_assert_max_num_queries):
    before = created("KNOWN1", booking_id=21, attendee_email="late.prospect@example.org")
    assert before.target_id is None
    # A target created after the booking is linked by its next event with booking details.
    target = Target.objects.create(email="Late.Prospect@example.org")
    body = booking_body(
        "BOOKING_PAID",
        uid="KNOWN1",
        created=at(5),
        booking_id=21,
        attendee_email="late.prospect@example.org",
    )

    # Lock (with the attendees' target), the uid owners under the lock, UPDATE. The status
    # stays "scheduled", so no status change row.
    with transaction.atomic(), django_assert_max_num_queries(3):
        result = apply_calcom_event(event=parse_event(body))

    assert not result.created and result.plan.hit == "payment_received"
    meeting = Meeting.objects.get()
    assert meeting.target == target
    assert (meeting.payment_status, meeting.last_event_at) == ("paid", at(5))
    # Columns the event does not touch keep what the creation wrote; the payment's are written.
    assert (meeting.status, meeting.cal_status, meeting.created_at) == (
        "scheduled",
        "ACCEPTED",
        before.created_at,
    )
    assert (meeting.payment_amount, meeting.payment_currency) == (15000, "USD")
    assert meeting.title.startswith("Paid Consultation") and meeting.updated_at > before.updated_at


def test_status_change_of_a_known_booking(django_assert_max_num_queries):
    created("KNOWN2", booking_id=22)
    body = booking_body(
        "BOOKING_CANCELLED", uid="KNOWN2", created=at(20), booking_id=22, cancellationReason="Budget frozen"
    )

    # Lock, uid owners, UPDATE, INSERT status change.
    with transaction.atomic(), django_assert_max_num_queries(4):
        apply_calcom_event(event=parse_event(body))

    meeting = Meeting.objects.get()
    assert (meeting.status, meeting.cancellation_reason) == ("cancelled", "Budget frozen")
    assert list(meeting.status_changes.values_list("from_status", "to_status")) == [
        ("", "scheduled"),
        ("scheduled", "cancelled"),
    ]


def test_reschedule(django_assert_max_num_queries):
    created("OLD1", booking_id=31)
    body = booking_body(
        "BOOKING_RESCHEDULED", uid="NEW2", created=at(10), booking_id=32, start=at(900), reschedule_uid="OLD1"
    )

    # Lock (through the old uid), uid owners (the new uid is missing), SAVEPOINT, INSERT the
    # new uid, RELEASE, UPDATE. Still "scheduled": no status change row.
    with transaction.atomic(), django_assert_max_num_queries(6):
        result = apply_calcom_event(event=parse_event(body))

    assert not result.created
    meeting = Meeting.objects.get()
    assert (meeting.cal_event_id, meeting.cal_booking_id, meeting.start_time) == ("NEW2", 32, at(900))
    assert set(meeting.uids.values_list("uid", flat=True)) == {"OLD1", "NEW2"}


def test_ignored_event_of_a_known_booking_writes_nothing(django_assert_max_num_queries):
    created("KNOWN3", booking_id=33)
    apply(booking_body("BOOKING_CANCELLED", uid="KNOWN3", created=at(20), booking_id=33))
    stale = booking_body("BOOKING_CREATED", uid="KNOWN3", created=at(1), booking_id=33)

    # Lookup, lock, uid owners: a BOOKING_CREATED is looked up before it is locked.
    with transaction.atomic(), django_assert_max_num_queries(3):
        result = apply_calcom_event(event=parse_event(stale))

    assert result.plan.ignored
    assert Meeting.objects.get().status == "cancelled"


# --- What the fewer queries must still find ------------------------------------------------------


def test_lookup_keeps_the_fallback_order():
    by_uid = Meeting.objects.create(cal_event_id="U1", cal_booking_id=5)
    BookingUid.objects.create(uid="U1", meeting=by_uid)
    # Written before BookingUid rows existed (or by hand): only the current-uid column knows it.
    legacy = Meeting.objects.create(cal_event_id="LEGACY", cal_booking_id=6)
    by_booking_id = Meeting.objects.create(cal_event_id="OTHER", cal_booking_id=7)

    # BookingUid rows win over the current-uid column and the booking id...
    assert meeting_ids_for_booking(uids=["U1", "LEGACY"], booking_ids=[6, 7]) == [by_uid.id]
    # ...the current-uid column over the booking id...
    assert meeting_ids_for_booking(uids=["LEGACY", "nope"], booking_ids=[7]) == [legacy.id]
    # ...and the booking id is asked only when no uid is known.
    assert meeting_ids_for_booking(uids=["nope"], booking_ids=[7, 5]) == sorted([by_booking_id.id, by_uid.id])
    assert meeting_ids_for_booking(uids=[], booking_ids=[7]) == [by_booking_id.id]
    assert meeting_ids_for_booking(uids=["nope", ""], booking_ids=[None]) == []
    assert meeting_ids_for_booking(uids=[]) == []

    found = lookup_booking(uids=["U1", "LEGACY", "nope"], booking_ids=[7])
    assert found.uid_owners == {"U1": by_uid.id}
    assert found.target_id is None


def test_the_first_attendee_with_a_target_names_it_on_every_path():
    second = Target.objects.create(email="Second@example.org")
    first = Target.objects.create(email="FIRST@example.org")
    emails = ["nobody@example.org", "first@Example.org", "second@example.org"]
    assert target_for_emails(emails=emails) == first

    assert lookup_booking(uids=["none"], emails=emails).target_id == first.id
    meeting = Meeting.objects.create(cal_event_id="T1")
    BookingUid.objects.create(uid="T1", meeting=meeting)
    with transaction.atomic():
        [locked] = meetings_for_update(uids=["T1"], emails=emails)
        assert locked.attendee_target_id == first.id
        [locked] = meetings_for_update(meeting_ids=[meeting.id], emails=emails[2:])
        assert locked.attendee_target_id == second.id
        [locked] = meetings_for_update(uids=["T1"], emails=[])
        assert locked.attendee_target_id is None
    # The locked row is a complete meeting, every column converted as the ORM converts it.
    assert locked.__dict__ | {"_state": None, "attendee_target_id": None} == (
        Meeting.objects.get().__dict__ | {"_state": None, "attendee_target_id": None}
    )


def test_a_meeting_known_only_by_its_current_uid_gets_its_uid_row():
    legacy = Meeting.objects.create(cal_event_id="LEGACY2", status="scheduled")
    apply(booking_body("BOOKING_CANCELLED", uid="LEGACY2", created=at(5)))
    meeting = Meeting.objects.get()
    assert meeting.id == legacy.id and meeting.status == "cancelled"
    assert list(meeting.uids.values_list("uid", flat=True)) == ["LEGACY2"]


def test_a_body_rescheduling_its_own_uid_is_applied_once():
    """Found by the fuzzer: the uid was inserted twice and the event failed on every retry."""
    body = booking_body("BOOKING_CREATED", uid="SELF", created=at(0), reschedule_uid="SELF")
    assert apply(body).created
    apply(booking_body("BOOKING_CANCELLED", uid="SELF", created=at(5), reschedule_uid="SELF"))
    meeting = Meeting.objects.get()
    assert meeting.status == "cancelled"
    assert list(meeting.uids.values_list("uid", flat=True)) == ["SELF"]


@pytest.mark.django_db(transaction=True)
def test_locking_outside_a_transaction_is_refused():
    with pytest.raises(TransactionManagementError):
        meetings_for_update(uids=["anything"])
