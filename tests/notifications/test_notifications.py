"""HIT notifications: real SMTP and Slack deliveries, exactly once, retries, resend."""

from __future__ import annotations

import copy
import io
import json
import threading
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.db import connections, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from calcom.signatures import sign_body
from meetings.models import Meeting, PaymentStatus, Target
from notifications.channels import SLACK_RECIPIENT
from notifications.content import format_amount
from notifications.models import Notification, NotificationStatus
from notifications.services import (
    hit_recipients,
    queue_hit_notifications,
    retry_delay,
    send_due_notifications,
    send_notification,
)
from tests.support.bodies import compact, load_payload
from tests.support.delivery import WEBHOOK_URL
from tests.support.notification_servers import SlackServer, SmtpServer
from webhooks.models import WebhookEvent, WebhookEventStatus
from webhooks.reprocessing import reprocess_event

PAID_UID = "Hn4Tq8Wc2Zb7Rk5Lp1Xs9D"  # the BOOKING_PAID sample's booking
ENDED_UID = "mVBk3uCc8wqXYh4oJ1vVEp"  # the MEETING_ENDED sample's booking
VIDEO_URL = f"https://app.cal.com/video/{PAID_UID}"
OWNER_EMAIL = "owner@vani.example.com"
LEAD_EMAIL = "sales-lead@vani.example.com"
IMMEDIATE = "django_tasks.backends.immediate.ImmediateBackend"


def paid_body(*, created_at: str = "2025-06-04T12:03:48.660Z") -> dict:
    body = copy.deepcopy(load_payload("BOOKING_PAID"))
    body["createdAt"] = created_at
    body["payload"]["metadata"]["videoCallUrl"] = VIDEO_URL
    return body


def subject(message) -> str:
    # A non-ASCII subject is sent as folded encoded-words; unfolding leaves a leading space.
    return str(message["Subject"]).strip()


def admin_url(meeting: Meeting) -> str:
    return "https://vani.example.com" + reverse("admin:meetings_meeting_change", args=[meeting.pk])


@pytest.fixture
def hit_settings(settings):
    settings.PUBLIC_BASE_URL = "https://vani.example.com"
    settings.HIT_TRIGGERS = ["BOOKING_PAID", "MEETING_ENDED"]
    settings.HIT_CHANNELS = ["email", "slack", "log"]
    settings.HIT_NOTIFY_EMAILS = [LEAD_EMAIL]
    settings.HIT_MAX_ATTEMPTS = 3
    settings.HIT_RETRY_BASE_SECONDS = 60
    settings.HIT_SLACK_TIMEOUT = 5
    settings.HIT_SLACK_WEBHOOK_URL = ""
    settings.TASKS = {"default": {"BACKEND": IMMEDIATE}}
    settings.TASKS_BACKEND = IMMEDIATE
    settings.DEFAULT_FROM_EMAIL = "VANI <vani@vani.example.com>"
    return settings


@pytest.fixture
def smtp(hit_settings):
    """A real SMTP server on a free 127.0.0.1 port, configured as Django's mail server but not
    started: tests start it (or leave it down to model an outage)."""
    server = SmtpServer()
    hit_settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    hit_settings.EMAIL_HOST = "127.0.0.1"
    hit_settings.EMAIL_PORT = server.port
    hit_settings.EMAIL_HOST_USER = ""
    hit_settings.EMAIL_HOST_PASSWORD = ""
    hit_settings.EMAIL_USE_TLS = False
    hit_settings.EMAIL_USE_SSL = False
    hit_settings.EMAIL_TIMEOUT = 5
    yield server
    server.stop()


@pytest.fixture
def slack(hit_settings):
    server = SlackServer().start()
    hit_settings.HIT_SLACK_WEBHOOK_URL = server.url()
    yield server
    server.stop()


@pytest.fixture
def target(db):
    owner = User.objects.create_user("alex", email=OWNER_EMAIL, password="x")
    return Target.objects.create(
        name="Priya Shah", email="Priya.Shah@example.org", company="Shah Analytics", owner=owner
    )


def rows(meeting: Meeting) -> dict[tuple[str, str], Notification]:
    return {(n.channel, n.recipient): n for n in Notification.objects.filter(meeting=meeting)}


# --- end to end through the webhook endpoint -------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_booking_paid_emails_owner_and_configured_recipients_over_smtp(deliver, smtp, slack, target):
    smtp.start()

    response = deliver(paid_body())

    assert response.status_code == 200
    meeting = Meeting.objects.get(cal_event_id=PAID_UID)
    assert meeting.payment_status == PaymentStatus.PAID and meeting.target == target
    notifications = rows(meeting)
    assert set(notifications) == {
        ("email", OWNER_EMAIL),
        ("email", LEAD_EMAIL),
        ("slack", SLACK_RECIPIENT),
        ("log", "log"),
    }
    for notification in notifications.values():
        assert notification.kind == "payment_received"
        assert notification.status == NotificationStatus.SENT, notification.last_error
        assert notification.attempts == 1 and notification.sent_at is not None
        assert notification.event_id == response.json()["event_id"]

    assert sorted(rcpt for _, (rcpt,) in smtp.envelopes) == sorted([OWNER_EMAIL, LEAD_EMAIL])
    message = smtp.messages_to(OWNER_EMAIL)[0]
    assert subject(message) == "[VANI HIT] Payment received: $150.00 — Priya Shah (Shah Analytics)"
    assert message["From"] == "VANI <vani@vani.example.com>"
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    link = admin_url(meeting)
    for part in (text, html):
        assert "Priya Shah (Shah Analytics)" in part
        assert "$150.00" in part
        assert "priya.shah@example.org" in part
        assert "Fri 20 Jun 2025, 16:00–17:00 UTC" in part
        assert "Paid Consultation between Alex Rivera and Priya Shah" in part
    assert f"Open in admin: {link}" in text
    assert f"Video:         {VIDEO_URL}" in text
    assert f'<a href="{link}"' in html
    assert f'<a href="{VIDEO_URL}"' in html


@pytest.mark.django_db(transaction=True)
def test_booking_paid_posts_a_block_kit_message_to_slack(deliver, smtp, slack, target):
    smtp.start()

    deliver(paid_body())

    meeting = Meeting.objects.get(cal_event_id=PAID_UID)
    assert len(slack.posts) == 1
    assert slack.paths == ["/services/T0000/B0000/s3cr3tWebhookToken"]
    post = slack.posts[0]
    assert post["text"].startswith("Payment received: Priya Shah (Shah Analytics) paid $150.00")
    header, intro, facts, actions = post["blocks"]
    assert header["type"] == "header" and "Payment received" in header["text"]["text"]
    assert intro["text"]["type"] == "mrkdwn"
    assert (
        f"<{admin_url(meeting)}|Paid Consultation between Alex Rivera and Priya Shah>"
        in (intro["text"]["text"])
    )
    fields = {f["text"].split("\n")[0]: f["text"].split("\n", 1)[1] for f in facts["fields"]}
    assert fields["*Target*"] == "Priya Shah (Shah Analytics)"
    assert fields["*Attendee*"] == "Priya Shah &lt;priya.shah@example.org&gt;"
    assert fields["*When*"] == "Fri 20 Jun 2025, 16:00–17:00 UTC"
    assert fields["*Amount paid*"] == "$150.00"
    assert [(b["text"]["text"], b["url"]) for b in actions["elements"]] == [
        ("Open in admin", admin_url(meeting)),
        ("Join video", VIDEO_URL),
    ]


@pytest.mark.django_db(transaction=True)
def test_slack_fallback_text_escapes_booker_controlled_link_and_mention_syntax(deliver, slack, hit_settings):
    hit_settings.HIT_CHANNELS = ["slack"]
    body = paid_body()
    body["payload"]["title"] = "Call <https://evil.example|click here> & more"
    body["payload"]["attendees"][0]["name"] = "<!channel> Priya"

    assert deliver(body).status_code == 200

    [post] = slack.posts
    text = post["text"]
    assert "<" not in text and ">" not in text
    assert "&lt;!channel&gt; Priya" in text
    assert "&lt;https://evil.example|click here&gt; &amp; more" in text
    # The blocks were already escaped; they stay so.
    assert "<!channel>" not in json.dumps(post["blocks"])


@pytest.mark.django_db(transaction=True)
def test_meeting_ended_notifies_meeting_completed(deliver, smtp, hit_settings, target):
    hit_settings.HIT_MEETING_COMPLETED_DELAY = 0  # the grace period: tests/notifications/test_hit_delay.py
    smtp.start()
    body = copy.deepcopy(load_payload("MEETING_ENDED"))
    body["location"] = "https://meet.example.com/priya"

    assert deliver(body).status_code == 200

    meeting = Meeting.objects.get(cal_event_id=ENDED_UID)
    assert meeting.status == "completed"
    assert {n.kind for n in Notification.objects.filter(meeting=meeting)} == {"meeting_completed"}
    message = smtp.messages_to(OWNER_EMAIL)[0]
    assert subject(message) == "[VANI HIT] Meeting completed — Priya Shah (Shah Analytics)"
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "has taken place" in text and "Thu 12 Jun 2025, 14:00–14:30 UTC" in text
    assert "Amount:" not in text
    assert "Video:         https://meet.example.com/priya" in text


@pytest.mark.django_db(transaction=True)
def test_only_configured_triggers_notify(deliver, hit_settings, target):
    hit_settings.HIT_TRIGGERS = ["MEETING_ENDED"]

    assert deliver(paid_body()).status_code == 200

    meeting = Meeting.objects.get(cal_event_id=PAID_UID)
    assert meeting.payment_status == PaymentStatus.PAID
    assert not Notification.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_duplicate_booking_paid_and_forced_reprocess_notify_each_recipient_once(deliver, smtp, slack, target):
    smtp.start()

    first = deliver(paid_body(created_at="2025-06-04T12:03:48.660Z")).json()
    # Cal.com may send BOOKING_PAID twice (handlePaymentSuccess and handleConfirmation): not
    # byte-identical, so not caught as a duplicate delivery.
    second = deliver(paid_body(created_at="2025-06-04T12:03:50.120Z")).json()
    assert not second["duplicate"] and second["event_id"] != first["event_id"]
    replayed = reprocess_event(event_id=first["event_id"], force=True)

    assert replayed.status == WebhookEventStatus.PROCESSED
    assert WebhookEvent.objects.get(pk=second["event_id"]).status == WebhookEventStatus.PROCESSED
    meeting = Meeting.objects.get(cal_event_id=PAID_UID)
    notifications = Notification.objects.filter(meeting=meeting)
    assert notifications.count() == 4
    assert {(n.status, n.attempts, n.event_id) for n in notifications} == {
        (NotificationStatus.SENT, 1, first["event_id"])
    }
    assert len(smtp.messages) == 2
    assert len(slack.posts) == 1


# --- failures, retries, resend -------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_smtp_down_leaves_meeting_updated_and_the_sweep_sends_when_due(deliver, smtp, slack, target):
    started = timezone.now()

    response = deliver(paid_body())  # nothing listens on the SMTP port yet

    assert response.status_code == 200
    assert response.json()["status"] == WebhookEventStatus.PROCESSED
    meeting = Meeting.objects.get(cal_event_id=PAID_UID)
    assert meeting.payment_status == PaymentStatus.PAID
    notifications = rows(meeting)
    assert notifications[("slack", SLACK_RECIPIENT)].status == NotificationStatus.SENT
    assert notifications[("log", "log")].status == NotificationStatus.SENT
    for address in (OWNER_EMAIL, LEAD_EMAIL):
        failed = notifications[("email", address)]
        assert failed.status == NotificationStatus.PENDING
        assert failed.attempts == 1
        assert failed.last_error.startswith("ConnectionRefusedError")
        # First retry after the base delay (60 s).
        assert started + timedelta(seconds=59) < failed.next_attempt_at
        assert failed.next_attempt_at < timezone.now() + timedelta(seconds=61)

    smtp.start()
    assert send_due_notifications().total == 0  # not due yet: backoff is respected
    assert smtp.messages == []

    Notification.objects.filter(channel="email").update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    out = io.StringIO()
    call_command("send_due_notifications", stdout=out)

    assert out.getvalue().strip() == "sent=2 retrying=0 failed=0 skipped=0"
    for notification in Notification.objects.filter(channel="email"):
        assert notification.status == NotificationStatus.SENT
        assert notification.attempts == 2 and notification.last_error == ""
    assert sorted(rcpt for _, (rcpt,) in smtp.envelopes) == sorted([OWNER_EMAIL, LEAD_EMAIL])
    assert len(slack.posts) == 1


@pytest.mark.django_db(transaction=True)
def test_exhausted_attempts_mark_failed_and_staff_resend_from_the_admin(
    deliver, smtp, hit_settings, target, client
):
    hit_settings.HIT_MAX_ATTEMPTS = 2
    hit_settings.HIT_NOTIFY_EMAILS = []
    deliver(paid_body())
    email_row = Notification.objects.get(channel="email")
    assert (email_row.status, email_row.attempts) == (NotificationStatus.PENDING, 1)

    Notification.objects.filter(pk=email_row.pk).update(next_attempt_at=timezone.now())
    result = send_due_notifications()

    assert (result.failed, result.sent) == (1, 0)
    email_row.refresh_from_db()
    assert email_row.status == NotificationStatus.FAILED
    assert email_row.attempts == 2 and email_row.next_attempt_at is None
    assert "ConnectionRefusedError" in email_row.last_error
    assert send_due_notifications().total == 0  # failed rows are not retried on their own

    changelist = reverse("admin:notifications_notification_changelist")
    viewer = User.objects.create_user("viewer", password="x", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_notification"))
    client.force_login(viewer)
    page = client.get(changelist)
    assert page.status_code == 200
    assert OWNER_EMAIL in page.content.decode() and "ConnectionRefusedError" in page.content.decode()
    assert 'value="resend"' not in page.content.decode()
    client.post(changelist, {"action": "resend", "_selected_action": [email_row.pk]})
    email_row.refresh_from_db()
    assert email_row.status == NotificationStatus.FAILED  # no permission, nothing happened

    smtp.start()
    resender = User.objects.create_user("resender", password="x", is_staff=True)
    resender.user_permissions.add(
        Permission.objects.get(codename="view_notification"),
        Permission.objects.get(codename="resend_notification"),
    )
    client.force_login(resender)
    assert 'value="resend"' in client.get(changelist).content.decode()
    page = client.post(changelist, {"action": "resend", "_selected_action": [email_row.pk]}, follow=True)

    assert f"Notification #{email_row.pk}: sent." in page.content.decode()
    email_row.refresh_from_db()
    assert email_row.status == NotificationStatus.SENT and email_row.last_error == ""
    assert [rcpt for _, (rcpt,) in smtp.envelopes] == [OWNER_EMAIL]

    log_row = Notification.objects.get(channel="log")
    page = client.post(changelist, {"action": "resend", "_selected_action": [log_row.pk]}, follow=True)
    assert f"Notification #{log_row.pk} not resent: already sent." in page.content.decode()


@pytest.mark.django_db(transaction=True)
def test_slack_outage_is_recorded_without_leaking_the_webhook_url(deliver, slack, hit_settings, target):
    hit_settings.HIT_CHANNELS = ["slack"]
    slack.status = 500

    assert deliver(paid_body()).status_code == 200

    row = Notification.objects.get()
    assert row.status == NotificationStatus.PENDING and row.attempts == 1
    assert row.last_error == "SlackRejected: Slack answered 500: internal_error"

    slack.stop()  # now nothing answers at all
    Notification.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
    send_due_notifications()

    row.refresh_from_db()
    assert row.attempts == 2 and row.last_error.startswith("SlackUnreachable: ConnectionError")
    assert "s3cr3tWebhookToken" not in row.last_error


@pytest.mark.django_db(transaction=True)
def test_retry_is_deferred_on_a_backend_that_supports_it(smtp, hit_settings, target):
    from django_tasks_db.models import DBTaskResult

    hit_settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    hit_settings.HIT_CHANNELS = ["email"]
    hit_settings.HIT_NOTIFY_EMAILS = []
    meeting = Meeting.objects.create(cal_event_id="deferred-1", title="Intro", target=target)
    with transaction.atomic():
        queue_hit_notifications(meeting=meeting, kind="payment_received")
    row = Notification.objects.get()
    first = DBTaskResult.objects.get()
    assert first.args_kwargs["kwargs"] == {"notification_ids": [row.pk]}

    sent = send_notification(notification_id=row.pk)  # as db_worker would run it; SMTP is down

    assert sent.status == NotificationStatus.PENDING and sent.next_attempt_at is not None
    retry = DBTaskResult.objects.exclude(pk=first.pk).get()
    assert retry.task_path == "notifications.services.send_notifications_task"
    assert retry.args_kwargs["kwargs"] == {"notification_ids": [row.pk]}
    assert retry.run_after == sent.next_attempt_at


@pytest.mark.django_db
def test_an_abandoned_claim_is_sent_by_the_sweep_and_a_live_one_is_left_alone(smtp, hit_settings, target):
    hit_settings.HIT_CHANNELS = ["email"]
    smtp.start()
    meeting = Meeting.objects.create(cal_event_id="claims-1", title="Intro", target=target)
    abandoned = Notification.objects.create(
        meeting=meeting,
        kind="payment_received",
        channel="email",
        recipient="a@example.com",
        status=NotificationStatus.SENDING,
        attempts=1,
        next_attempt_at=timezone.now() - timedelta(seconds=1),
    )
    live = Notification.objects.create(
        meeting=meeting,
        kind="payment_received",
        channel="email",
        recipient="b@example.com",
        status=NotificationStatus.SENDING,
        attempts=1,
        next_attempt_at=timezone.now() + timedelta(minutes=4),
    )

    result = send_due_notifications()

    assert (result.sent, result.total) == (1, 1)
    abandoned.refresh_from_db()
    live.refresh_from_db()
    assert (abandoned.status, abandoned.attempts) == (NotificationStatus.SENT, 2)
    assert (live.status, live.attempts) == (NotificationStatus.SENDING, 1)
    assert [rcpt for _, (rcpt,) in smtp.envelopes] == ["a@example.com"]


# --- concurrency (PostgreSQL) --------------------------------------------------------------


def run_in_parallel(functions) -> list:
    barrier = threading.Barrier(len(functions))
    results: list = []
    errors: list = []

    def run(function) -> None:
        try:
            barrier.wait()
            results.append(function())
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(f,)) for f in functions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_booking_paid_deliveries_notify_once(smtp, slack, webhook_secret, target):
    smtp.start()
    bodies = [compact(paid_body(created_at=f"2025-06-04T12:03:4{i}.000Z")) for i in range(6)]

    def post(raw: bytes):
        return lambda: (
            Client()
            .generic(
                "POST",
                WEBHOOK_URL,
                raw,
                content_type="application/json",
                HTTP_X_CAL_SIGNATURE_256=sign_body(body=raw, secret=webhook_secret),
            )
            .status_code
        )

    codes = run_in_parallel([post(raw) for raw in bodies])

    assert codes == [200] * 6
    assert Meeting.objects.count() == 1
    notifications = Notification.objects.all()
    assert notifications.count() == 4
    assert {(n.status, n.attempts) for n in notifications} == {(NotificationStatus.SENT, 1)}
    assert sorted(rcpt for _, (rcpt,) in smtp.envelopes) == sorted([OWNER_EMAIL, LEAD_EMAIL])
    assert len(slack.posts) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_never_send_the_same_row(slack, hit_settings, target):
    meeting = Meeting.objects.create(cal_event_id="race-1", title="Intro", target=target)
    row = Notification.objects.create(
        meeting=meeting, kind="payment_received", channel="slack", recipient=SLACK_RECIPIENT
    )

    results = run_in_parallel([lambda: send_notification(notification_id=row.pk)] * 4)

    assert len(results) == 4
    row.refresh_from_db()
    assert (row.status, row.attempts) == (NotificationStatus.SENT, 1)
    assert len(slack.posts) == 1


# --- recipients, content -------------------------------------------------------------------


@pytest.mark.django_db
def test_recipients_follow_configuration(hit_settings, target):
    meeting = Meeting.objects.create(cal_event_id="rcpt-1", target=target)
    hit_settings.HIT_NOTIFY_EMAILS = ["Owner@Vani.example.com", LEAD_EMAIL, " "]

    # The owner listed again (other case) is one recipient; no Slack URL means no Slack.
    assert hit_recipients(meeting=meeting) == [("email", OWNER_EMAIL), ("email", LEAD_EMAIL), ("log", "log")]

    target.owner.is_active = False
    target.owner.save()
    hit_settings.HIT_SLACK_WEBHOOK_URL = "https://hooks.slack.invalid/services/x"
    hit_settings.HIT_CHANNELS = ["email", "slack"]
    hit_settings.HIT_NOTIFY_EMAILS = []
    meeting = Meeting.objects.get(pk=meeting.pk)
    assert hit_recipients(meeting=meeting) == [("slack", SLACK_RECIPIENT)]

    unlinked = Meeting.objects.create(cal_event_id="rcpt-2")
    hit_settings.HIT_CHANNELS = ["email"]
    assert hit_recipients(meeting=unlinked) == []


@pytest.mark.parametrize(
    ("minor_units", "currency", "expected"),
    [
        (15000, "USD", "$150.00"),
        (1999, "EUR", "€19.99"),
        (1500, "JPY", "¥1,500"),  # no minor unit
        (1500, "KWD", "KWD1.500"),  # three decimals
        (123456, "", "1,234.56"),
    ],
)
def test_amounts_are_minor_units_of_their_currency(settings, minor_units, currency, expected):
    settings.LANGUAGE_CODE = "en-us"
    assert format_amount(minor_units=minor_units, currency=currency) == expected


def test_retry_delay_doubles_from_the_base(settings):
    settings.HIT_RETRY_BASE_SECONDS = 30
    assert [retry_delay(attempts=n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]


def test_settings_checks_catch_unknown_channels_and_triggers(settings):
    from notifications.checks import check_hit_settings

    settings.HIT_CHANNELS = ["email", "sms"]
    settings.HIT_TRIGGERS = ["BOOKING_PAID", "BOOKING_CREATED"]

    assert [(p.id, p.msg) for p in check_hit_settings()] == [
        ("notifications.E001", "HIT_CHANNELS names an unknown channel 'sms'"),
        (
            "notifications.W001",
            "HIT_TRIGGERS names 'BOOKING_CREATED', which never produces a HIT notification",
        ),
    ]


@pytest.mark.django_db
def test_plain_text_parts_are_not_html_escaped(hit_settings, mailoutbox):
    hit_settings.HIT_CHANNELS = ["email"]
    hit_settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    target = Target.objects.create(name="Tom <Ops>", email="tom@example.org", company="Black & Decker")
    meeting = Meeting.objects.create(cal_event_id="esc-1", title="Q&A", target=target)
    row = Notification.objects.create(
        meeting=meeting, kind="meeting_completed", channel="email", recipient=LEAD_EMAIL
    )

    assert send_notification(notification_id=row.pk).status == NotificationStatus.SENT

    (message,) = mailoutbox
    assert message.subject == "[VANI HIT] Meeting completed — Tom <Ops> (Black & Decker)"
    assert "“Q&A” with Tom <Ops> (Black & Decker) has taken place." in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html" and "Tom &lt;Ops&gt; (Black &amp; Decker)" in html
