"""The admin console driven like a person would, in Debian's headless Chromium (Playwright).

Skips when /usr/bin/chromium or Playwright is missing, unless VANI_REQUIRE_BROWSER is set (CI),
then it fails. Screenshots of the main pages go to test-artifacts/.
"""

from __future__ import annotations

import hashlib
import re

import pytest
from django.contrib.auth.models import User

from meetings.models import Meeting
from tests.support.bodies import booking_body, compact
from tests.support.live import PROJECT_DIR
from webhooks.ingest import record_delivery
from webhooks.models import AttemptTrigger, ProcessingAttempt, ReprocessJob, WebhookEvent
from webhooks.processing import process_event

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = PROJECT_DIR / "test-artifacts"
PASSWORD = "a-long-test-password-42"


@pytest.fixture
def page(browser, settings):
    ARTIFACTS.mkdir(exist_ok=True)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def screenshot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"admin-{name}.png"), full_page=True)


def click_and_wait(page, selector: str) -> None:
    """Click something that loads a new page, and wait until that page is there."""
    with page.expect_navigation():
        page.click(selector)


def log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    click_and_wait(page, "input[type=submit]")


def failed_event(*, uid: str, created: str) -> WebhookEvent:
    """A delivery that failed before a bug was fixed: its body processes fine now."""
    raw = compact(booking_body("BOOKING_CREATED", uid=uid, created=created))
    event = WebhookEvent.objects.create(
        trigger_event="BOOKING_CREATED",
        booking_uid=uid,
        attendee_email="priya.shah@example.org",
        raw_body=raw,
        body_size=len(raw),
        headers={"Content-Type": "application/json", "X-Cal-Signature-256": "***"},
        client_ip="3.121.45.10",
        content_type="application/json",
        signature_result="valid",
        fingerprint=hashlib.sha256(raw).hexdigest(),
        status="failed",
        attempts=1,
        last_error="OperationalError: database is locked",
    )
    ProcessingAttempt.objects.create(
        event=event,
        number=1,
        outcome="failed",
        started_via=AttemptTrigger.DELIVERY,
        error="OperationalError: database is locked",
    )
    return event


@pytest.fixture
def staff_user(db):
    return User.objects.create_superuser("ops", "ops@example.com", PASSWORD)


def test_staff_filters_failed_events_opens_one_and_reprocesses_it(page, live_server, staff_user):
    failed = failed_event(uid="browserFail1", created="2025-06-02T09:15:42.318Z")
    failed_event(uid="browserFail2", created="2025-06-02T09:16:42.318Z")
    record_delivery(
        raw_body=compact(
            booking_body("BOOKING_CREATED", uid="browserOk", created="2025-06-02T09:00:00.000Z")
        ),
        headers={},
        client_ip="3.121.45.11",
        content_type="application/json",
        signature_result="valid",
    )

    log_in(page, live_server, "ops")
    assert page.locator("#vani-console-module").is_visible()
    screenshot(page, "index")

    click_and_wait(page, "text=Webhook dashboard")
    assert page.locator("#daily-chart rect").count() >= 2
    assert page.locator("#card-failed .number").inner_text() == "2"
    screenshot(page, "dashboard")

    page.goto(f"{live_server.url}/admin/webhooks/webhookevent/")
    assert page.locator("#result_list tbody tr").count() == 3
    with page.expect_navigation():
        page.locator('details[data-filter-title="status"] a', has_text="Failed").click()
    assert "status=failed" in page.url
    assert page.locator("#result_list tbody tr").count() == 2
    assert page.locator("#result_list .status-failed").count() == 2
    screenshot(page, "events-failed")

    click_and_wait(page, f"#result_list a:text-is('#{failed.pk}')")
    assert page.locator("#event-body pre").inner_text().startswith('{\n  "triggerEvent": "BOOKING_CREATED"')
    assert "OperationalError: database is locked" in page.locator("#event-attempts").inner_text()
    screenshot(page, "event-detail")

    click_and_wait(page, "#reprocess-button")
    assert "reprocessed: processed" in page.locator(".messagelist").inner_text()
    assert page.locator(".field-status_column .status-processed").is_visible()
    attempts = page.locator("#event-attempts tbody tr")
    assert attempts.count() == 2 and "ops" in attempts.nth(1).inner_text()
    screenshot(page, "event-reprocessed")
    failed.refresh_from_db()
    assert failed.status == "processed" and failed.meeting is not None


def test_bulk_reprocess_asks_for_confirmation_and_shows_the_job(page, live_server, staff_user):
    for index in range(60):
        failed_event(uid=f"bulk{index:02d}", created=f"2025-06-02T09:{index:02d}:00.000Z")

    log_in(page, live_server, "ops")
    page.goto(f"{live_server.url}/admin/webhooks/webhookevent/?status=failed")
    page.check("#action-toggle")
    page.click("text=Select all 60 webhook events")
    page.select_option("select[name=action]", "reprocess_selected")
    click_and_wait(page, "button[name=index]")

    assert "reprocess 60 events" in page.locator("#reprocess-total").inner_text()
    screenshot(page, "bulk-confirmation")
    click_and_wait(page, "#confirm-reprocess")

    assert re.search(r"/admin/webhooks/reprocessjob/\d+/change/", page.url)
    assert page.locator("#job-progress").get_attribute("data-status") == "finished"
    assert "60 of 60 run, 0 failed" in page.locator("#job-counts").inner_text()
    screenshot(page, "reprocess-job")
    job = ReprocessJob.objects.get()
    assert job.done == 60 and job.created_by == staff_user
    assert not WebhookEvent.objects.filter(status="failed").exists()


def test_meeting_timeline(page, live_server, staff_user):
    for trigger, uid, created, extra in (
        ("BOOKING_CREATED", "timelineA", "2025-06-02T09:00:00.000Z", {}),
        ("BOOKING_RESCHEDULED", "timelineB", "2025-06-03T09:00:00.000Z", {"rescheduleUid": "timelineA"}),
        ("BOOKING_CANCELLED", "timelineB", "2025-06-04T09:00:00.000Z", {}),
    ):
        event = record_delivery(
            raw_body=compact(booking_body(trigger, uid=uid, created=created, **extra)),
            headers={},
            client_ip="3.121.45.12",
            content_type="application/json",
            signature_result="valid",
        ).event
        process_event(event_id=event.pk, via=AttemptTrigger.DELIVERY)
    meeting = Meeting.objects.get()
    assert meeting.status == "cancelled"

    log_in(page, live_server, "ops")
    page.goto(f"{live_server.url}/admin/meetings/meeting/?q=timelineA")
    click_and_wait(page, "#result_list tbody tr th a")
    events = page.locator("#meeting-timeline li.timeline-event")
    texts = [events.nth(i).inner_text() for i in range(events.count())]
    triggers = [
        t
        for text in texts
        for t in ("BOOKING_CREATED", "BOOKING_RESCHEDULED", "BOOKING_CANCELLED")
        if t in text
    ]
    assert triggers == ["BOOKING_CREATED", "BOOKING_RESCHEDULED", "BOOKING_CANCELLED"], texts
    changes = page.locator("#meeting-timeline li.status-change")
    change_texts = [changes.nth(i).inner_text() for i in range(changes.count())]
    assert len(change_texts) == 2, change_texts
    assert "∅ → scheduled" in change_texts[0] and "scheduled → cancelled" in change_texts[1]
    screenshot(page, "meeting-timeline")


def test_non_staff_and_anonymous_visitors_are_refused(page, live_server, db):
    User.objects.create_user("customer", "c@example.com", PASSWORD)

    page.goto(f"{live_server.url}/admin/webhooks/webhookevent/")
    assert "/admin/login/" in page.url and page.locator("#id_username").is_visible()

    log_in(page, live_server, "customer")
    assert "/admin/login/" in page.url
    assert "staff account" in page.locator(".errornote").inner_text()
    page.goto(f"{live_server.url}/admin/webhooks/webhookevent/dashboard/")
    assert "/admin/login/" in page.url
    screenshot(page, "refused")
