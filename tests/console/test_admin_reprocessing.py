"""Reprocessing from the admin console, through Django's test client: single events, a page of
them, background jobs over a whole selection, and who may do it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse
from django.utils import timezone

from notifications.models import Notification
from tests.support.bodies import meeting_ended_body
from tests.support.console import (
    DASHBOARD_URL,
    EVENTS_URL,
    booking,
    make_user,
    messages_of,
    post_action,
    processed,
    store,
)
from webhooks import selectors
from webhooks.models import (
    ReprocessJob,
    SignatureResult,
    WebhookEvent,
)
from webhooks.reprocessing import (
    create_reprocess_job,
    run_reprocess_job,
    selection_of_filter,
    selection_of_ids,
)

pytestmark = pytest.mark.django_db


# --- reprocessing ---------------------------------------------------------------------------------


def test_reprocess_button_runs_a_failed_event_as_the_staff_user(admin_client, admin_user):
    event = store(booking("BOOKING_CREATED", uid="fix1", minutes=0), status="failed", attempts=3)

    response = admin_client.post(
        reverse("admin:webhooks_webhookevent_reprocess", args=[event.pk]), {"force": "0"}, follow=True
    )

    event.refresh_from_db()
    assert event.status == "processed" and event.meeting is not None
    attempt = event.processing_attempts.get()
    assert (attempt.started_by, attempt.started_via, attempt.outcome) == (admin_user, "admin", "processed")
    assert any("reprocessed: processed" in message for message in messages_of(response))


def test_reprocess_without_force_leaves_processed_events_alone(admin_client):
    event = processed(booking("BOOKING_CREATED", uid="done1", minutes=0))
    response = admin_client.post(
        reverse("admin:webhooks_webhookevent_reprocess", args=[event.pk]), {"force": "0"}, follow=True
    )
    assert event.processing_attempts.count() == 1
    assert any("Force reprocess" in message for message in messages_of(response))


def test_force_reprocess_never_notifies_twice(admin_client):
    processed(booking("BOOKING_CREATED", uid="hit1", minutes=0))
    ended = processed(meeting_ended_body(uid="hit1"))
    assert ended.status == "processed"
    assert Notification.objects.filter(meeting=ended.meeting).count() == 1

    admin_client.post(reverse("admin:webhooks_webhookevent_reprocess", args=[ended.pk]), {"force": "1"})

    ended.refresh_from_db()
    assert ended.processing_attempts.count() == 2 and ended.status == "processed"
    assert Notification.objects.filter(meeting=ended.meeting).count() == 1


def test_rejected_and_duplicate_events_cannot_be_reprocessed(admin_client):
    rejected = store(b'{"x":1}', status="rejected", signature=SignatureResult.INVALID)
    original = store(booking("BOOKING_CREATED", uid="dup1", minutes=0))
    duplicate = store(booking("BOOKING_CREATED", uid="dup1", minutes=0))
    assert duplicate.status == "duplicate"

    for event in (rejected, duplicate):
        page = admin_client.get(
            reverse("admin:webhooks_webhookevent_change", args=[event.pk])
        ).content.decode()
        assert 'id="reprocess-not-allowed"' in page and 'id="reprocess-button"' not in page
        response = admin_client.post(
            reverse("admin:webhooks_webhookevent_reprocess", args=[event.pk]), {"force": "1"}, follow=True
        )
        event.refresh_from_db()
        assert event.processing_attempts.count() == 0
        assert any("never processed" in message for message in messages_of(response))
    assert original.status == "received"


def test_staff_without_the_permission_cannot_reprocess(client):
    viewer = make_user("viewer", perms=("view_webhookevent",))
    event = store(booking("BOOKING_CREATED", uid="perm1", minutes=0), status="failed")
    client.force_login(viewer)

    detail = client.get(reverse("admin:webhooks_webhookevent_change", args=[event.pk]))
    assert detail.status_code == 200 and b'id="reprocess-button"' not in detail.content
    listing = client.get(EVENTS_URL)
    assert b"reprocess_selected" not in listing.content
    assert client.post(reverse("admin:webhooks_webhookevent_reprocess", args=[event.pk])).status_code == 403
    post_action(client, "reprocess_selected", [event.pk])
    event.refresh_from_db()
    assert event.status == "failed" and event.attempts == 0


def test_staff_with_the_permission_can_reprocess(client):
    operator = make_user("operator", perms=("view_webhookevent", "reprocess_webhookevent"))
    event = store(booking("BOOKING_CREATED", uid="perm2", minutes=0), status="dead")
    client.force_login(operator)

    client.post(reverse("admin:webhooks_webhookevent_reprocess", args=[event.pk]))

    event.refresh_from_db()
    assert event.status == "processed"
    assert event.processing_attempts.get().started_by == operator


def test_non_staff_and_anonymous_are_refused(client):
    event = store(booking("BOOKING_CREATED", uid="anon", minutes=0), status="failed")
    urls = [EVENTS_URL, DASHBOARD_URL, reverse("admin:webhooks_webhookevent_change", args=[event.pk])]
    for url in urls:
        assert client.get(url).status_code == 302  # to the login page
    client.post(reverse("admin:webhooks_webhookevent_reprocess", args=[event.pk]))
    client.force_login(make_user("customer", staff=False))
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]
    client.post(reverse("admin:webhooks_webhookevent_reprocess", args=[event.pk]))
    event.refresh_from_db()
    assert event.status == "failed" and event.attempts == 0


def test_page_sized_bulk_reprocess_runs_directly(admin_client):
    failed = [store(booking("BOOKING_CREATED", uid=f"b{i}", minutes=i), status="failed") for i in range(3)]
    done = processed(booking("BOOKING_CREATED", uid="b-done", minutes=9))
    rejected = store(b"nope", status="rejected", signature=SignatureResult.MISSING)

    response = post_action(
        admin_client, "reprocess_selected", [e.pk for e in failed] + [done.pk, rejected.pk], query="?status="
    )
    assert response.status_code == 302
    assert ReprocessJob.objects.count() == 0
    for event in failed:
        event.refresh_from_db()
        assert event.status == "processed"
    assert done.processing_attempts.count() == 1
    text = " ".join(messages_of(admin_client.get(EVENTS_URL)))
    assert "3 reprocessed" in text and "1 left alone" in text and "1 cannot be reprocessed" in text


def test_select_all_asks_to_confirm_then_runs_a_background_job(
    admin_client, admin_user, django_capture_on_commit_callbacks
):
    failed = [store(booking("BOOKING_CREATED", uid=f"all{i}", minutes=i), status="failed") for i in range(4)]
    dead = store(booking("BOOKING_CREATED", uid="all-dead", minutes=9), status="dead")
    other = store(meeting_ended_body(uid="all-other"), status="failed")
    query = "?trigger=BOOKING_CREATED"

    confirm = post_action(admin_client, "reprocess_selected", [failed[0].pk], query=query, select_across=True)

    assert confirm.status_code == 200
    assert "admin/webhooks/webhookevent/reprocess_confirmation.html" in [t.name for t in confirm.templates]
    assert re.search(
        r'id="reprocess-total">This will reprocess <strong>5</strong> events', confirm.content.decode()
    )
    assert ReprocessJob.objects.count() == 0
    hidden = dict(re.findall(r'name="(as_of|max_event_id)" value="([^"]+)"', confirm.content.decode()))

    later = store(booking("BOOKING_CREATED", uid="all-late", minutes=30), status="failed")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            EVENTS_URL + query,
            {
                "action": "reprocess_selected",
                ACTION_CHECKBOX_NAME: [str(failed[0].pk)],
                "select_across": "1",
                "confirm": "yes",
                **hidden,
            },
        )

    job = ReprocessJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "admin:webhooks_reprocessjob_change", args=[job.pk]
    )
    assert (job.status, job.total, job.done, job.failed, job.created_by) == ("finished", 5, 5, 0, admin_user)
    assert job.event_filter == {"trigger": "BOOKING_CREATED"}
    for event in [*failed, dead]:
        event.refresh_from_db()
        assert event.status == "processed"
        assert event.processing_attempts.get().started_by == admin_user
    other.refresh_from_db()
    later.refresh_from_db()
    assert other.status == "failed" and later.status == "failed"  # outside the filter / arrived later

    page = admin_client.get(response["Location"]).content.decode()
    assert 'id="job-progress" data-status="finished"' in page and "5 of 5 run" in page
    assert 'http-equiv="refresh"' not in page


def test_more_than_a_page_of_ids_asks_to_confirm(admin_client, django_capture_on_commit_callbacks):
    events = [store(booking("BOOKING_CREATED", uid=f"p{i}", minutes=i), status="ignored") for i in range(51)]
    ids = [e.pk for e in events]

    confirm = post_action(admin_client, "force_reprocess_selected", ids)
    assert "reprocess_confirmation.html" in confirm.templates[0].name
    assert "force-reprocess <strong>51</strong>" in confirm.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            EVENTS_URL,
            {
                "action": "force_reprocess_selected",
                ACTION_CHECKBOX_NAME: ids,
                "select_across": "0",
                "confirm": "yes",
            },
        )
    job = ReprocessJob.objects.get()
    assert job.force and job.event_ids == sorted(ids) and job.done == 51
    assert not WebhookEvent.objects.exclude(status="processed").exists()


def test_job_progress_page_refreshes_while_running_and_can_be_cancelled(admin_client):
    event = store(booking("BOOKING_CREATED", uid="c1", minutes=0), status="failed")
    job = ReprocessJob.objects.create(event_ids=[event.pk], max_event_id=event.pk, total=1)

    page = admin_client.get(reverse("admin:webhooks_reprocessjob_change", args=[job.pk])).content.decode()
    assert 'http-equiv="refresh"' in page and 'id="cancel-job"' in page
    listing = admin_client.get(reverse("admin:webhooks_reprocessjob_changelist")).content.decode()
    assert 'http-equiv="refresh"' in listing

    admin_client.post(reverse("admin:webhooks_reprocessjob_cancel", args=[job.pk]))
    job.refresh_from_db()
    assert job.status == "cancelled"
    assert run_reprocess_job(job_id=job.pk).done == 0
    event.refresh_from_db()
    assert event.status == "failed"


def test_job_resumes_after_a_dead_worker_and_counts_skips(admin_user):
    events = [store(booking("BOOKING_CREATED", uid=f"r{i}", minutes=i), status="failed") for i in range(3)]
    job = create_reprocess_job(selection=selection_of_ids(event_ids=[e.pk for e in events]), user=admin_user)
    assert job.total == 3
    # A worker handled the first event, then died; meanwhile the third got processed elsewhere.
    ReprocessJob.objects.filter(pk=job.pk).update(status="running", last_event_id=events[0].pk, done=1)
    WebhookEvent.objects.filter(pk=events[2].pk).update(status="processed")

    job = run_reprocess_job(job_id=job.pk)

    assert (job.status, job.done, job.skipped, job.last_event_id) == ("finished", 2, 0, events[1].pk)
    events[0].refresh_from_db()
    assert events[0].status == "failed"  # before the resume point: not run twice


def test_filter_selection_is_frozen_at_confirmation():
    now = timezone.now()
    event_filter = selectors.EventFilter(status="failed", received_within="24h", search="abc")
    selection = selection_of_filter(event_filter=event_filter, now=now, max_event_id=7)
    frozen = selection.event_filter
    assert frozen.received_within == "" and frozen.received_from == now - timedelta(hours=24)
    assert selectors.EventFilter.from_json(frozen.as_json()) == frozen
    assert selection.max_event_id == 7
