"""Meeting state under any delivery order and repetition, through the real endpoint."""

import pytest

from meetings.models import BookingUid, Meeting, Target
from tests.support.bodies import at, booking_body, meeting_ended_body, no_show_body
from webhooks.models import WebhookEvent

pytestmark = pytest.mark.django_db(transaction=True)


def statuses():
    return list(WebhookEvent.objects.order_by("id").values_list("trigger_event", "status"))


def only_meeting():
    assert Meeting.objects.count() == 1
    return Meeting.objects.get()


def test_create_reschedule_cancel(deliver):
    deliver(booking_body("BOOKING_CREATED", uid="A", created=at(0), booking_id=1, start=at(1000)))
    deliver(
        booking_body(
            "BOOKING_RESCHEDULED", uid="B", created=at(10), booking_id=2, start=at(2000), reschedule_uid="A"
        )
    )
    deliver(
        booking_body(
            "BOOKING_CANCELLED", uid="B", created=at(20), booking_id=2, cancellationReason="Budget frozen"
        )
    )
    meeting = only_meeting()
    assert meeting.cal_event_id == "B" and meeting.cal_booking_id == 2
    assert meeting.status == "cancelled" and meeting.cancellation_reason == "Budget frozen"
    assert meeting.start_time == at(2000)
    assert set(meeting.uids.values_list("uid", flat=True)) == {"A", "B"}
    assert [(c.from_status, c.to_status) for c in meeting.status_changes.all()] == [
        ("", "scheduled"),
        ("scheduled", "cancelled"),
    ]
    assert all(status == "processed" for _, status in statuses())


def test_reschedule_before_the_original_create_wins(deliver):
    deliver(booking_body("BOOKING_RESCHEDULED", uid="B", created=at(10), start=at(2000), reschedule_uid="A"))
    deliver(booking_body("BOOKING_CREATED", uid="A", created=at(0), start=at(1000)))
    meeting = only_meeting()
    assert meeting.cal_event_id == "B" and meeting.start_time == at(2000)
    assert statuses() == [("BOOKING_RESCHEDULED", "processed"), ("BOOKING_CREATED", "ignored")]
    assert "stale" in WebhookEvent.objects.get(trigger_event="BOOKING_CREATED").status_reason


def test_late_create_never_revives_a_cancelled_meeting(deliver):
    deliver(booking_body("BOOKING_CANCELLED", uid="A", created=at(20)))
    deliver(booking_body("BOOKING_CREATED", uid="A", created=at(0), start=at(1000)))
    assert only_meeting().status == "cancelled"
    assert statuses()[-1] == ("BOOKING_CREATED", "ignored")


def test_replayed_create_after_cancel_changes_nothing(deliver):
    create = booking_body("BOOKING_CREATED", uid="A", created=at(0), start=at(1000))
    deliver(create)
    deliver(booking_body("BOOKING_CANCELLED", uid="A", created=at(20)))
    create["createdAt"] = "2025-06-02T09:00:00Z"  # same moment, different bytes (not a duplicate)
    deliver(create)
    assert only_meeting().status == "cancelled"


def test_late_reschedule_does_not_move_times_back(deliver):
    deliver(booking_body("BOOKING_CREATED", uid="A", created=at(0), start=at(1000)))
    deliver(booking_body("BOOKING_RESCHEDULED", uid="C", created=at(30), start=at(3000), reschedule_uid="B"))
    deliver(booking_body("BOOKING_RESCHEDULED", uid="B", created=at(20), start=at(2000), reschedule_uid="A"))
    meeting = only_meeting()  # A, then C (from B) arrived before B (from A): one meeting
    assert meeting.cal_event_id == "C" and meeting.start_time == at(3000)
    assert set(meeting.uids.values_list("uid", flat=True)) == {"A", "B", "C"}


def test_chain_in_reverse_order_is_one_meeting(deliver):
    deliver(booking_body("BOOKING_RESCHEDULED", uid="C", created=at(30), start=at(3000), reschedule_uid="B"))
    deliver(booking_body("BOOKING_RESCHEDULED", uid="B", created=at(20), start=at(2000), reschedule_uid="A"))
    deliver(booking_body("BOOKING_CREATED", uid="A", created=at(0), start=at(1000)))
    meeting = only_meeting()
    assert meeting.cal_event_id == "C" and meeting.start_time == at(3000)
    assert BookingUid.objects.filter(meeting=meeting).count() == 3
    assert WebhookEvent.objects.filter(meeting=meeting).count() == 3


def test_request_reschedule_cancellation_is_undone_by_the_reschedule(deliver):
    deliver(booking_body("BOOKING_CREATED", uid="A", created=at(0), start=at(1000)))
    deliver(
        booking_body(
            "BOOKING_CANCELLED",
            uid="A",
            created=at(10),
            requestReschedule=True,
            cancellationReason="Host asked to move it",
        )
    )
    meeting = only_meeting()
    assert meeting.status == "cancelled" and meeting.reschedule_requested
    deliver(booking_body("BOOKING_RESCHEDULED", uid="B", created=at(20), start=at(2000), reschedule_uid="A"))
    meeting = only_meeting()
    assert meeting.status == "scheduled" and meeting.cal_event_id == "B"
    assert not meeting.reschedule_requested and meeting.cancellation_reason == ""


def test_cancellation_of_a_superseded_uid_is_ignored(deliver):
    deliver(booking_body("BOOKING_CREATED", uid="A", created=at(0), start=at(1000)))
    deliver(booking_body("BOOKING_RESCHEDULED", uid="B", created=at(10), start=at(2000), reschedule_uid="A"))
    deliver(booking_body("BOOKING_CANCELLED", uid="A", created=at(20)))
    assert only_meeting().status == "scheduled"
    assert statuses()[-1] == ("BOOKING_CANCELLED", "ignored")


def test_meeting_ended_flat_body_completes_and_queues_a_hit(deliver):
    deliver(booking_body("BOOKING_CREATED", uid="A", created=at(0), booking_id=7, start=at(60)))
    response = deliver(meeting_ended_body(uid="A", booking_id=7, start=at(60)))
    assert response.status_code == 200
    meeting = only_meeting()
    assert meeting.status == "completed"
    assert meeting.notifications.filter(kind="meeting_completed").exists()


def test_meeting_ended_found_by_booking_id_when_uid_is_absent(deliver):
    deliver(booking_body("BOOKING_CREATED", uid="A", created=at(0), booking_id=77, start=at(60)))
    body = meeting_ended_body(uid="A", booking_id=77, start=at(60))
    del body["uid"]
    deliver(body)
    assert only_meeting().status == "completed"


def test_no_show_marking_and_unmarking(deliver):
    deliver(booking_body("BOOKING_CREATED", uid="A", created=at(0), booking_id=7, start=at(60)))
    deliver(meeting_ended_body(uid="A", booking_id=7, start=at(60)))
    deliver(no_show_body(uid="A", created=at(200), marks={"Priya.Shah@example.org": True}))
    meeting = only_meeting()
    assert meeting.status == "no_show" and meeting.no_show_emails == ["priya.shah@example.org"]
    deliver(no_show_body(uid="A", created=at(210), marks={"priya.shah@example.org": False}))
    meeting = only_meeting()
    assert meeting.status == "completed" and meeting.no_show_emails == []


def test_payment_flow_and_duplicate_paid(deliver):
    deliver(booking_body("BOOKING_PAYMENT_INITIATED", uid="P", created=at(0), start=at(600)))
    assert only_meeting().payment_status == "pending"
    deliver(booking_body("BOOKING_PAID", uid="P", created=at(5)))
    deliver(booking_body("BOOKING_PAID", uid="P", created=at(6)))  # Cal.com may send it twice
    meeting = only_meeting()
    assert meeting.payment_status == "paid" and meeting.payment_amount == 15000
    assert meeting.payment_currency == "USD" and meeting.payment_id == "31277"
    kinds = list(meeting.notifications.values_list("kind", "channel", "recipient"))
    assert len(kinds) == len(set(kinds)) and all(k == "payment_received" for k, _, _ in kinds)


def test_target_is_linked_by_attendee_email_case_insensitively(deliver):
    target = Target.objects.create(name="Priya Shah", email="Priya.Shah@Example.org", company="Acme")
    deliver(booking_body("BOOKING_CREATED", uid="A", created=at(0), attendee_email="priya.shah@example.org"))
    assert only_meeting().target == target


def test_recording_links_are_stored(deliver):
    from tests.support.bodies import load_payload

    deliver(load_payload("BOOKING_CREATED"))
    deliver(load_payload("RECORDING_TRANSCRIPTION_GENERATED"))
    meeting = only_meeting()
    assert meeting.recording_url.startswith("https://app.cal.com/api/video/recording")
    assert len(meeting.transcript_urls) == 4
    assert meeting.status == "scheduled"


def test_requested_then_rejected(deliver):
    deliver(booking_body("BOOKING_REQUESTED", uid="R", created=at(0), start=at(100)))
    meeting = only_meeting()
    assert meeting.status == "scheduled" and meeting.cal_status == "PENDING"
    deliver(booking_body("BOOKING_REJECTED", uid="R", created=at(5)))
    meeting = only_meeting()
    assert meeting.status == "cancelled" and meeting.cal_status == "REJECTED"


def test_force_reprocess_gives_the_same_state(deliver):
    from webhooks.reprocessing import reprocess_event

    deliver(booking_body("BOOKING_CREATED", uid="A", created=at(0), start=at(1000)))
    deliver(booking_body("BOOKING_CANCELLED", uid="A", created=at(20)))
    for event in WebhookEvent.objects.order_by("id"):
        reprocess_event(event_id=event.pk, force=True)
    meeting = only_meeting()
    assert meeting.status == "cancelled" and meeting.status_changes.count() == 2
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}
