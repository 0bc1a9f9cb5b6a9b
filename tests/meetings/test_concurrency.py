"""Concurrent deliveries for one booking are serialised (PostgreSQL row locks)."""

import threading

import pytest
from django.db import connections
from django.test import Client

from calcom.signatures import sign_body
from meetings.models import Meeting
from tests.support.bodies import at, booking_body, compact
from tests.support.delivery import WEBHOOK_URL
from webhooks.models import WebhookEvent

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def post_in_parallel(bodies: list[bytes], secret: str) -> list[int]:
    barrier = threading.Barrier(len(bodies))
    codes: list[int] = []

    def send(raw: bytes) -> None:
        try:
            client = Client()
            barrier.wait()
            response = client.generic(
                "POST",
                WEBHOOK_URL,
                raw,
                content_type="application/json",
                HTTP_X_CAL_SIGNATURE_256=sign_body(body=raw, secret=secret),
            )
            codes.append(response.status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(raw,)) for raw in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return codes


def test_parallel_identical_deliveries_give_one_meeting_and_one_processed_event(webhook_secret):
    raw = compact(booking_body("BOOKING_CREATED", uid="PAR", created=at(0), start=at(100)))
    codes = post_in_parallel([raw] * 8, webhook_secret)
    assert codes == [200] * 8
    assert Meeting.objects.count() == 1
    assert WebhookEvent.objects.filter(status="processed").count() == 1
    assert WebhookEvent.objects.filter(status="duplicate").count() == 7


def test_parallel_distinct_deliveries_for_one_new_booking_give_one_meeting(webhook_secret):
    bodies = [
        compact(booking_body("BOOKING_CREATED", uid="PAR2", created=at(minute), start=at(100)))
        for minute in range(6)
    ] + [compact(booking_body("BOOKING_PAID", uid="PAR2", created=at(7)))]
    codes = post_in_parallel(bodies, webhook_secret)
    assert codes == [200] * 7
    meeting = Meeting.objects.get()
    assert meeting.payment_status == "paid" and meeting.status == "scheduled"
    assert not WebhookEvent.objects.exclude(status__in=["processed", "ignored"]).exists()
    assert meeting.notifications.filter(kind="payment_received").count() == len(
        set(meeting.notifications.values_list("channel", "recipient"))
    )


def test_parallel_reschedule_chain_is_one_meeting(webhook_secret):
    bodies = [
        compact(booking_body("BOOKING_CREATED", uid="X1", created=at(0), start=at(100))),
        compact(
            booking_body("BOOKING_RESCHEDULED", uid="X2", created=at(10), start=at(200), reschedule_uid="X1")
        ),
        compact(
            booking_body("BOOKING_RESCHEDULED", uid="X3", created=at(20), start=at(300), reschedule_uid="X2")
        ),
    ]
    assert post_in_parallel(bodies, webhook_secret) == [200] * 3
    meeting = Meeting.objects.get()
    assert meeting.cal_event_id == "X3" and meeting.start_time == at(300)


def test_event_waiting_on_a_meeting_that_a_merge_deletes_applies_to_the_survivor():
    """The uid's meeting is merged away (and its uid moved) while a second event for that uid
    waits for its lock: the waiter looks again and applies to the meeting that survived."""
    from django.db import transaction

    from calcom.parsing import parse_event
    from meetings.services.apply import apply_calcom_event
    from tests.support.db import race

    # Two halves of one chain, each created on its own (the reschedule was late).
    for uid, minute in (("HALF-A", 0), ("HALF-B", 10)):
        with transaction.atomic():
            apply_calcom_event(
                event=parse_event(booking_body("BOOKING_CREATED", uid=uid, created=at(minute), start=at(100)))
            )
    survivor_id = Meeting.objects.get(cal_event_id="HALF-B").id
    merged, release = threading.Event(), threading.Event()
    results, errors = [], []

    def merge_and_hold() -> None:
        try:
            with transaction.atomic():
                apply_calcom_event(
                    event=parse_event(
                        booking_body(
                            "BOOKING_RESCHEDULED",
                            uid="HALF-B",
                            created=at(10),
                            start=at(200),
                            reschedule_uid="HALF-A",
                        )
                    )
                )
                merged.set()
                release.wait(10)
        except Exception as exc:  # surfaced by the assertions below
            errors.append(exc)
        finally:
            connections.close_all()

    def pay_through_the_old_uid() -> None:
        try:
            with transaction.atomic():
                results.append(
                    apply_calcom_event(
                        event=parse_event(booking_body("BOOKING_PAID", uid="HALF-A", created=at(5)))
                    )
                )
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    race(holder=merge_and_hold, holder_ready=merged, waiter=pay_through_the_old_uid, release=release)

    assert errors == []
    [paid] = results
    meeting = Meeting.objects.get()
    assert meeting.id == survivor_id == paid.meeting.id
    assert (meeting.cal_event_id, meeting.start_time) == ("HALF-B", at(200))
    assert meeting.payment_status == "paid" and meeting.status == "scheduled"
    assert set(meeting.uids.values_list("uid", flat=True)) == {"HALF-A", "HALF-B"}
