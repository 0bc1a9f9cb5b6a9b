"""The console on a staff laptop: Chromium at 1366×768, realistic long data, every list.

Every changelist fits without a horizontal scroll; an event's status and reason are in its row;
money reads "$150.00"; times name their zone; the site is VANI. Screenshots of the main pages
go to test-artifacts/ and, with VANI_UPDATE_SCREENSHOTS=1, to docs/screenshots/ (the README's).
"""

from __future__ import annotations

import os
import shutil
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from meetings.models import Meeting, MeetingStatusChange, Target
from notifications.models import Notification
from tests.support.bodies import booking_body, compact, meeting_ended_body
from tests.support.live import PROJECT_DIR
from webhooks.ingest import record_delivery
from webhooks.models import AttemptTrigger, ReprocessJob, SignatureResult, WebhookEvent
from webhooks.processing import process_event

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-test-password-42"
ARTIFACTS = PROJECT_DIR / "test-artifacts"
SCREENSHOTS = PROJECT_DIR / "docs" / "screenshots"
LONG_TITLE = (
    "Quarterly enterprise platform review and renewal negotiation between Alex Rivera and "
    "Dr. Maximiliane Oberhauser-Featherstonehaugh (Procurement, Legal and IT security)"
)
LONG_EMAIL = "maximiliane.oberhauser-featherstonehaugh@procurement.enterprise-holdings.example.org"
LONG_REASON = (
    "BOOKING_CANCELLED does not apply: the meeting is cancelled (only a reschedule of this "
    "booking reopens it); delivered 3 times by Cal.com's retry after a timeout"
)


def deliver(body: dict, *, signature=SignatureResult.VALID) -> WebhookEvent:
    event = record_delivery(
        raw_body=compact(body),
        headers={"Content-Type": "application/json", "X-Cal-Signature-256": "***"},
        client_ip="3.121.45.10",
        content_type="application/json",
        signature_result=signature,
    ).event
    return process_event(event_id=event.pk, via=AttemptTrigger.DELIVERY)


def seed_console() -> Meeting:
    """A morning of deliveries: paid and completed meetings, reschedules, ignored, failed and
    rejected events, HIT notifications, a reprocess job; long titles, names and reasons."""
    owner = User.objects.create_user("alex.rivera", "alex@example.com", PASSWORD, is_staff=True)
    Group.objects.create(name="Sales team Europe, Middle East and Africa (enterprise accounts)")
    now = timezone.now()
    start = (now - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    star = None
    for index in range(14):
        uid = f"Hx7qLw2Rk9vBn4TzPq8sYd{index:02d}"
        email = LONG_EMAIL if index % 3 == 0 else f"priya.shah+{index}@example.org"
        created = now - timedelta(days=2, minutes=index * 7)
        title = (
            LONG_TITLE if index % 2 == 0 else f"30 Min Meeting between Alex Rivera and Priya Shah #{index}"
        )
        deliver(
            booking_body(
                "BOOKING_CREATED",
                uid=uid,
                created=created,
                start=start - timedelta(days=index % 4),
                attendee_email=email,
                attendee_name="Dr. Maximiliane Oberhauser-Featherstonehaugh"
                if index % 3 == 0
                else "Priya Shah",
                title=title,
            )
        )
        if index % 2 == 0:
            deliver(
                booking_body(
                    "BOOKING_PAID",
                    uid=uid,
                    created=created + timedelta(minutes=2),
                    attendee_email=email,
                    title=title,
                )
            )
        if index % 4 == 0:
            deliver(meeting_ended_body(uid=uid, start=start - timedelta(days=index % 4)))
        if index == 0:
            star = Meeting.objects.get(cal_event_id=uid)
        if index == 5:
            deliver(booking_body("BOOKING_CANCELLED", uid=uid, created=created + timedelta(minutes=9)))
            late = deliver(
                booking_body("BOOKING_CANCELLED", uid=uid, created=created + timedelta(minutes=10))
            )
            WebhookEvent.objects.filter(pk=late.pk).update(status="ignored", status_reason=LONG_REASON)
    failed = deliver(booking_body("BOOKING_CREATED", uid="failedUidLongerThanUsual00001", created=now))
    WebhookEvent.objects.filter(pk=failed.pk).update(
        status="failed",
        attempts=2,
        last_error="OperationalError: could not serialize access due to concurrent update of meetings row",
    )
    record_delivery(
        raw_body=b'{"triggerEvent":"BOOKING_CREATED","payload":{}}',
        headers={"Content-Type": "application/json"},
        client_ip="203.0.113.77",
        content_type="application/json",
        signature_result=SignatureResult.INVALID,
    )
    WebhookEvent.objects.filter(signature_result=SignatureResult.INVALID).update(
        status="rejected",
        status_reason="signature does not match any configured secret (X-Cal-Signature-256)",
    )
    target = Target.objects.create(
        name="Dr. Maximiliane Oberhauser-Featherstonehaugh",
        email=LONG_EMAIL,
        company="Enterprise Holdings Procurement and Vendor Management GmbH & Co. KG",
        owner=owner,
    )
    Meeting.objects.filter(attendee_email=LONG_EMAIL).update(target=target)
    Meeting.objects.filter(pk=star.pk).update(target=target)
    ReprocessJob.objects.create(total=40, done=40, status="finished", event_filter={"status": "failed"})
    spread_over_days(now=now)
    return star


def spread_over_days(*, now) -> None:
    """Deliveries over the last ten days, newest last, with what they caused right after them."""
    ids = list(WebhookEvent.objects.order_by("-id").values_list("id", flat=True))
    for offset, pk in enumerate(ids):
        received = now - timedelta(hours=offset * 8, minutes=offset * 13)
        WebhookEvent.objects.filter(pk=pk).update(received_at=received)
        MeetingStatusChange.objects.filter(event_id=pk).update(changed_at=received + timedelta(seconds=1))
        Notification.objects.filter(event_id=pk).update(
            created_at=received + timedelta(seconds=1), sent_at=received + timedelta(seconds=2)
        )


@pytest.fixture
def laptop(browser, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.TIME_ZONE = "Europe/Berlin"
    settings.HIT_NOTIFY_EMAILS = ["sales-leadership-europe@enterprise-holdings.example.org"]
    settings.HIT_CHANNELS = ["email", "log"]
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def log_in(page, live_server) -> None:
    User.objects.create_superuser("ops", "ops@example.com", PASSWORD)
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("input[type=submit]")


def overflow(page) -> dict:
    return page.evaluate(
        """() => {
          const results = document.querySelector('#changelist .results');
          return {
            page: document.documentElement.scrollWidth - window.innerWidth,
            table: results ? results.scrollWidth - results.clientWidth : 0,
            columns: [...document.querySelectorAll('#result_list thead th')]
                       .map(th => th.className + ':' + Math.round(th.getBoundingClientRect().width))
                       .join(' '),
            box: results ? results.clientWidth : 0,
            tallest: Math.max(0, ...[...document.querySelectorAll('#result_list tbody tr')]
                       .map(row => row.getBoundingClientRect().height)),
          };
        }"""
    )


def shoot(page, name: str) -> None:
    path = ARTIFACTS / f"console-{name}.png"
    page.screenshot(path=str(path))
    if os.environ.get("VANI_UPDATE_SCREENSHOTS"):
        SCREENSHOTS.mkdir(exist_ok=True)
        shutil.copy(path, SCREENSHOTS / f"{name}.png")


CHANGELISTS = [
    "webhooks/webhookevent",
    "meetings/meeting",
    "meetings/target",
    "notifications/notification",
    "webhooks/reprocessjob",
    "auth/user",
    "auth/group",
]


def test_every_list_fits_a_laptop_and_reads_for_people(laptop, live_server, settings):
    page = laptop
    star = seed_console()
    log_in(page, live_server)

    # Branding: VANI, and no "View site" link to a 404.
    assert page.title().endswith("| VANI")
    assert page.locator("#site-name").inner_text() == "VANI console"
    assert page.locator("#user-tools a", has_text="View site").count() == 0

    for changelist in CHANGELISTS:
        page.goto(f"{live_server.url}/admin/{changelist}/")
        assert page.locator("#result_list tbody tr").count() >= 1, changelist
        measured = overflow(page)
        assert measured["page"] <= 0 and measured["table"] <= 0, (changelist, measured)
        assert measured["tallest"] <= 60, (changelist, measured)  # one or two lines a row

    page.goto(f"{live_server.url}/admin/webhooks/webhookevent/")
    rows = page.locator("#result_list tbody tr")
    ignored = rows.filter(has=page.locator(".status-ignored")).first
    assert ignored.count() == 1, page.locator("#result_list").inner_text()
    assert ignored.locator(".field-status_with_reason .vani-reason").is_visible()
    assert ignored.locator(".field-status_with_reason .vani-reason").get_attribute("title") == LONG_REASON
    failed = rows.filter(has=page.locator(".status-failed")).first
    assert "could not serialize" in failed.locator(".field-status_with_reason .vani-reason").inner_text()
    rejected = rows.filter(has=page.locator(".status-rejected")).first
    assert (
        "signature does not match" in rejected.locator(".field-status_with_reason .vani-reason").inner_text()
    )
    assert any(zone in rows.first.inner_text() for zone in ("CET", "CEST"))  # Europe/Berlin, named
    shoot(page, "event-list")

    page.goto(f"{live_server.url}/admin/meetings/meeting/")
    payments = page.locator("#result_list .payment-paid")
    assert payments.count() >= 1 and "$150.00" in payments.first.inner_text()
    assert "15000" not in page.locator("#result_list").inner_text()
    titles = page.locator("#result_list .vani-title")
    assert page.evaluate("el => el.scrollWidth > el.clientWidth", titles.first.element_handle())  # ellipsis

    page.goto(f"{live_server.url}/admin/webhooks/webhookevent/dashboard/")
    assert page.locator("#dashboard-cards .vani-card").count() >= 3
    assert overflow(page)["page"] <= 0
    shoot(page, "dashboard")

    page.goto(f"{live_server.url}/admin/meetings/meeting/{star.pk}/change/")
    story = page.locator("#meeting-story")
    assert story.is_visible() and story.bounding_box()["y"] < 400  # leads the page
    assert "Completed" in story.locator("#story-status").inner_text()
    assert "$150.00" in story.locator("#story-payment").inner_text()
    assert "CET" in story.inner_text() or "CEST" in story.inner_text()
    people = story.locator("#story-people").inner_text()
    assert "Attendee: Priya Shah" in people and LONG_EMAIL in people and "owner alex.rivera" in people
    timeline = page.locator("#meeting-timeline li")
    kinds = {timeline.nth(i).get_attribute("class") for i in range(timeline.count())}
    assert any("kind-event" in k for k in kinds) and any("kind-status-change" in k for k in kinds)
    assert any("kind-notification" in k for k in kinds), kinds  # the HITs
    assert (
        page.locator("#meeting-timeline").bounding_box()["y"]
        < page.locator("fieldset").first.bounding_box()["y"]
    )
    assert overflow(page)["page"] <= 0
    shoot(page, "meeting")

    event = WebhookEvent.objects.filter(meeting=star, trigger_event="BOOKING_PAID").first()
    page.goto(f"{live_server.url}/admin/webhooks/webhookevent/{event.pk}/change/")
    assert overflow(page)["page"] <= 0
    shoot(page, "event-detail")


def test_no_show_attendees_read_as_a_list(admin_client):
    meeting = Meeting.objects.create(
        cal_event_id="noShowList1", no_show_emails=["a@example.org", "b@example.org"]
    )
    html = admin_client.get(f"/admin/meetings/meeting/{meeting.pk}/change/").content.decode()
    assert "<li>a@example.org</li><li>b@example.org</li>" in html
    assert "[&quot;a@example.org&quot;" not in html
