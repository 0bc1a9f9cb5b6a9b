"""Concurrent deliveries for one booking are serialised (PostgreSQL row locks)."""

import threading

import pytest
from django.db import connections
from django.test import Client

from meetings.models import Meeting
from tests.conftest import WEBHOOK_URL, compact
from tests.factories import at, booking_body
from webhooks.models import WebhookEvent
from webhooks.signatures import sign_body

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def post_in_parallel(bodies: list[bytes], secret: str) -> list[int]:
    barrier = threading.Barrier(len(bodies))
    codes: list[int] = []

    def send(raw: bytes) -> None:
        try:
            client = Client()
            barrier.wait()
            response = client.generic("POST", WEBHOOK_URL, raw, content_type="application/json",
                                      HTTP_X_CAL_SIGNATURE_256=sign_body(body=raw, secret=secret))
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
        set(meeting.notifications.values_list("channel", "recipient")))


def test_parallel_reschedule_chain_is_one_meeting(webhook_secret):
    bodies = [
        compact(booking_body("BOOKING_CREATED", uid="X1", created=at(0), start=at(100))),
        compact(booking_body("BOOKING_RESCHEDULED", uid="X2", created=at(10), start=at(200),
                             reschedule_uid="X1")),
        compact(booking_body("BOOKING_RESCHEDULED", uid="X3", created=at(20), start=at(300),
                             reschedule_uid="X2")),
    ]
    assert post_in_parallel(bodies, webhook_secret) == [200] * 3
    meeting = Meeting.objects.get()
    assert meeting.cal_event_id == "X3" and meeting.start_time == at(300)
