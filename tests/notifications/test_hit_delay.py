"""The "meeting completed" HIT waits out a grace period, and a no-show mark withdraws it.

MEETING_ENDED is scheduled at the booking's end time and sent with no attendance check
(packages/features/webhooks/lib/scheduleTrigger.ts, handleWebhookScheduledTriggers.ts), so it
is no proof the meeting happened; Cal.com's no-show news (BOOKING_NO_SHOW_UPDATED, Cal Video's
AFTER_GUESTS_CAL_VIDEO_NO_SHOW) may come minutes later. Payment HITs are never delayed.
Real SMTP, deliveries through the real endpoint.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from meetings.models import Meeting, Target
from notifications.models import Notification, NotificationStatus
from notifications.services import send_due_notifications, withdraw_hit_notifications
from tests.support.bodies import (
    at,
    booking_body,
    cal_video_no_show_body,
    load_payload,
    meeting_ended_body,
    no_show_body,
)
from tests.support.notification_servers import SmtpServer

pytestmark = pytest.mark.django_db(transaction=True)

IMMEDIATE = "django_tasks.backends.immediate.ImmediateBackend"
OWNER_EMAIL = "owner@vani.example.com"
GUEST = "priya.shah@example.org"
DELAY = 3600


@pytest.fixture
def smtp(settings):
    server = SmtpServer().start()
    settings.PUBLIC_BASE_URL = "https://vani.example.com"
    settings.HIT_TRIGGERS = ["BOOKING_PAID", "MEETING_ENDED"]
    settings.HIT_CHANNELS = ["email"]
    settings.HIT_NOTIFY_EMAILS = []
    settings.HIT_MEETING_COMPLETED_DELAY = DELAY
    settings.TASKS = {"default": {"BACKEND": IMMEDIATE}}
    settings.TASKS_BACKEND = IMMEDIATE
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = server.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    yield server
    server.stop()


@pytest.fixture
def target(db):
    owner = User.objects.create_user("alex", email=OWNER_EMAIL, password="x")
    return Target.objects.create(name="Priya Shah", email=GUEST, company="Shah Analytics", owner=owner)


def ended(deliver) -> Meeting:
    """A booking that MEETING_ENDED reports as over (end time at(90))."""
    deliver(booking_body("BOOKING_CREATED", uid="A", created=at(0), booking_id=7, start=at(60)))
    assert deliver(meeting_ended_body(uid="A", booking_id=7, start=at(60))).status_code == 200
    meeting = Meeting.objects.get()
    assert meeting.status == "completed"
    return meeting


def grace_period_over(meeting: Meeting) -> None:
    """Move the outbox's due times into the past, as if the grace period had passed."""
    Notification.objects.filter(meeting=meeting).exclude(next_attempt_at=None).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


def test_the_completed_hit_waits_for_the_grace_period_then_is_sent(deliver, smtp, target):
    before = timezone.now()
    meeting = ended(deliver)

    [row] = Notification.objects.filter(meeting=meeting, kind="meeting_completed")
    assert row.status == NotificationStatus.PENDING and row.attempts == 0
    assert row.next_attempt_at >= before + timedelta(seconds=DELAY)
    assert send_due_notifications().total == 0
    assert smtp.messages_to(OWNER_EMAIL) == []

    grace_period_over(meeting)
    assert send_due_notifications().sent == 1
    assert len(smtp.messages_to(OWNER_EMAIL)) == 1


def test_a_manual_no_show_mark_within_the_grace_period_withdraws_it(deliver, smtp, target):
    """BOOKING_NO_SHOW_UPDATED as the host's mark on /bookings/past sends it
    (BookingPayloadBuilder.ts buildNoShowPayload: {bookingUid, bookingId, attendees, message})."""
    meeting = ended(deliver)

    deliver(no_show_body(uid="A", created=at(100), marks={GUEST: True}))

    meeting.refresh_from_db()
    assert meeting.status == "no_show"
    [row] = Notification.objects.filter(meeting=meeting, kind="meeting_completed")
    assert row.status == NotificationStatus.WITHDRAWN
    assert row.withdrawn_reason == "withdrawn: BOOKING_NO_SHOW_UPDATED marked a no-show before it was sent"
    assert row.next_attempt_at is None
    grace_period_over(meeting)
    assert send_due_notifications().total == 0
    assert smtp.messages_to(OWNER_EMAIL) == []


def test_a_cal_video_guests_no_show_after_the_end_withdraws_it(deliver, smtp, target):
    """AFTER_GUESTS_CAL_VIDEO_NO_SHOW fires the webhook's `time`/`timeUnit` after the start
    (set in Cal.com's UI): configured longer than the meeting, it comes after MEETING_ENDED."""
    meeting = ended(deliver)

    deliver(cal_video_no_show_body("AFTER_GUESTS_CAL_VIDEO_NO_SHOW", uid="A", booking_id=7, created=at(95)))

    row = Notification.objects.get(meeting=meeting, kind="meeting_completed")
    assert row.status == NotificationStatus.WITHDRAWN
    assert "AFTER_GUESTS_CAL_VIDEO_NO_SHOW" in row.withdrawn_reason


def test_a_meeting_already_marked_no_show_gets_no_completed_hit(deliver, smtp, target):
    """The usual Cal Video order: the no-show check (start + 5 minutes) before MEETING_ENDED."""
    deliver(booking_body("BOOKING_CREATED", uid="A", created=at(0), booking_id=7, start=at(60)))
    deliver(cal_video_no_show_body("AFTER_GUESTS_CAL_VIDEO_NO_SHOW", uid="A", booking_id=7, created=at(65)))

    deliver(meeting_ended_body(uid="A", booking_id=7, start=at(60)))

    meeting = Meeting.objects.get()
    assert meeting.status == "no_show"
    assert not Notification.objects.filter(meeting=meeting).exists()


def test_payment_hits_are_never_delayed(deliver, smtp, target):
    """BOOKING_PAID (handlePaymentSuccess): a payment is a fact when it is reported."""
    deliver(load_payload("BOOKING_PAID"))

    [row] = Notification.objects.filter(kind="payment_received")
    assert row.status == NotificationStatus.SENT
    assert len(smtp.messages_to(OWNER_EMAIL)) == 1


def test_a_sent_or_sending_hit_is_not_withdrawn(smtp, target):
    meeting = Meeting.objects.create(cal_event_id="A", target=target)
    sent = Notification.objects.create(
        meeting=meeting, kind="meeting_completed", channel="email", recipient="a@x", status="sent"
    )
    sending = Notification.objects.create(
        meeting=meeting, kind="meeting_completed", channel="email", recipient="b@x", status="sending"
    )
    waiting = Notification.objects.create(
        meeting=meeting, kind="meeting_completed", channel="log", recipient="log", status="pending"
    )

    withdrawn = withdraw_hit_notifications(meeting_id=meeting.pk, kind="meeting_completed", reason="why")

    assert [n.pk for n in withdrawn] == [waiting.pk]
    statuses = dict(Notification.objects.values_list("pk", "status"))
    assert statuses == {sent.pk: "sent", sending.pk: "sending", waiting.pk: "withdrawn"}


def test_a_deferring_task_backend_gets_the_send_task_for_the_due_time(deliver, smtp, target, settings):
    """With django-tasks-db the send task is enqueued to run when the grace period ends."""
    from django_tasks_db.models import DBTaskResult

    settings.TASKS_BACKEND = "django_tasks_db.DatabaseBackend"
    settings.TASKS = {"default": {"BACKEND": settings.TASKS_BACKEND}}
    settings.WEBHOOK_DRAIN_DELAY_SECONDS = 0
    from django.core.management import call_command

    deliver(booking_body("BOOKING_CREATED", uid="A", created=at(0), booking_id=7, start=at(60)))
    deliver(meeting_ended_body(uid="A", booking_id=7, start=at(60)))
    call_command("db_worker", batch=True, queue_name="*", interval=0, verbosity=0)

    row = Notification.objects.get(kind="meeting_completed")
    sends = [
        task for task in DBTaskResult.objects.all() if task.task_path.endswith("send_notifications_task")
    ]
    assert [task.args_kwargs["kwargs"]["notification_ids"] for task in sends] == [[row.pk]]
    assert sends[0].run_after == row.next_attempt_at
    assert row.status == NotificationStatus.PENDING
