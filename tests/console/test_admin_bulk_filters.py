"""A bulk reprocess of "all N" covers exactly the events the filtered list shows, for every
filter the list honours, in our query-string form and in Django's own (`?status__exact=`)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.support.bodies import meeting_ended_body
from tests.support.console import EVENTS_URL, booking, listed_ids, messages_of, post_action, store
from webhooks.models import ProcessingAttempt, ReprocessJob, SignatureResult, WebhookEvent
from webhooks.processing import NEVER_PROCESSED


@pytest.fixture
def events(db):
    now = timezone.now()

    def aged(event: WebhookEvent, hours: float) -> WebhookEvent:
        WebhookEvent.objects.filter(pk=event.pk).update(received_at=now - timedelta(hours=hours))
        return event

    return {
        "failed_created": aged(store(booking("BOOKING_CREATED", uid="bulkA", minutes=1), status="failed"), 2),
        "ignored_cancel": aged(
            store(booking("BOOKING_CANCELLED", uid="bulkB", minutes=2), status="ignored"), 72
        ),
        "failed_ended": aged(
            store(meeting_ended_body(uid="bulkC"), status="failed", signature=SignatureResult.UNVERIFIED), 0.5
        ),
        "dead_paid": aged(store(booking("BOOKING_PAID", uid="bulkD", minutes=3), status="dead"), 240),
        "processed_created": aged(
            store(
                booking("BOOKING_CREATED", uid="bulkE", minutes=4, email="other@example.org"),
                status="processed",
                signature=SignatureResult.UNVERIFIED,
            ),
            1,
        ),
        "rejected": aged(store(booking("BOOKING_CREATED", uid="bulkF", minutes=5), status="rejected"), 3),
    }


def list_of(client, query: str) -> list[int]:
    response = client.get(EVENTS_URL + query, follow=True)
    assert response.status_code == 200
    return listed_ids(response)


def bulk_run(client, query: str, django_capture_on_commit_callbacks, *, seed_id: int) -> set[int]:
    """Select all + force reprocess, confirm, and return the ids the job ran."""
    confirm = post_action(client, "force_reprocess_selected", [seed_id], query=query, select_across=True)
    hidden = dict(re.findall(r'name="(as_of|max_event_id)" value="([^"]+)"', confirm.content.decode()))
    before = set(ProcessingAttempt.objects.values_list("id", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        post_action(
            client,
            "force_reprocess_selected",
            [seed_id],
            query=query,
            select_across=True,
            confirm="yes",
            **hidden,
        )
    return set(ProcessingAttempt.objects.exclude(id__in=before).values_list("event_id", flat=True))


QUERIES = {
    "status": "?status=failed",
    "status, Django's form": "?status__exact=failed",
    "trigger": "?trigger=BOOKING_CREATED",
    "trigger, Django's form": "?trigger_event__exact=BOOKING_CREATED",
    "trigger, field name": "?trigger_event=BOOKING_CREATED",
    "signature": "?signature=unverified",
    "signature, Django's form": "?signature_result__exact=unverified",
    "received in 24 h": "?received=24h",
    "received in the last hour": "?received=1h",
    "received range": "?received_from={from_}&received_to={to}",
    "search uid": "?q=bulkC",
    "search e-mail": "?q=other@example.org",
    "search id": "?q=%23{failed_created}",
    "status and trigger, mixed forms": "?status__exact=failed&trigger=MEETING_ENDED",
    "no filter": "",
}


@pytest.mark.parametrize("name", list(QUERIES))
def test_select_all_runs_exactly_what_the_list_shows(
    name, admin_client, events, django_capture_on_commit_callbacks
):
    now = timezone.now()
    query = QUERIES[name].format(
        from_=(now - timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M"),
        to=(now - timedelta(minutes=45)).strftime("%Y-%m-%dT%H:%M"),
        failed_created=events["failed_created"].pk,
    )
    shown = list_of(admin_client, query)
    assert shown, f"{name}: the filter should show something"
    assert len(shown) < len(events) or name == "no filter", f"{name}: the filter should narrow the list"
    runnable = {pk for pk in shown if WebhookEvent.objects.get(pk=pk).status not in NEVER_PROCESSED}

    ran = bulk_run(admin_client, query, django_capture_on_commit_callbacks, seed_id=shown[0])

    assert ran == runnable, f"{name}: the job ran {sorted(ran)}, the list showed {sorted(runnable)}"


def test_django_form_of_a_filter_redirects_to_ours(admin_client, events):
    response = admin_client.get(EVENTS_URL + "?status__exact=failed&q=bulkC")
    assert response.status_code == 302
    assert response["Location"].endswith("?q=bulkC&status=failed")


def test_contradicting_forms_and_other_lookups_are_refused(admin_client, events):
    contradiction = admin_client.get(EVENTS_URL + "?status=failed&status__exact=dead")
    assert contradiction.status_code == 302 and contradiction["Location"].endswith("?e=1")
    # A lookup the job could not replay would narrow the list but not the job: refused.
    assert admin_client.get(EVENTS_URL + "?attempts__gt=2").status_code == 400
    assert admin_client.get(EVENTS_URL + "?booking_uid__startswith=bulk").status_code == 400


def test_a_confirm_page_for_no_runnable_event_offers_no_job(
    admin_client, events, django_capture_on_commit_callbacks
):
    query = "?status=rejected"
    shown = list_of(admin_client, query)
    confirm = post_action(admin_client, "reprocess_selected", shown, query=query, select_across=True)
    html = confirm.content.decode()
    assert confirm.status_code == 200
    assert "Nothing to reprocess" in html and 'id="confirm-reprocess"' not in html
    # Even a hand-made confirmation starts nothing.
    with django_capture_on_commit_callbacks(execute=True):
        response = post_action(
            admin_client, "reprocess_selected", shown, query=query, select_across=True, confirm="yes"
        )
    assert ReprocessJob.objects.count() == 0
    assert "Nothing to reprocess" in " ".join(messages_of(admin_client.get(response["Location"])))


def test_the_inline_backend_is_said_to_run_the_job_now_and_how_long_it_took(
    admin_client, events, settings, django_capture_on_commit_callbacks
):
    settings.TASKS_BACKEND = "django_tasks.backends.immediate.ImmediateBackend"
    query = "?status=failed"
    confirm = post_action(
        admin_client, "reprocess_selected", [events["failed_created"].pk], query=query, select_across=True
    )
    assert "now, in this request" in confirm.content.decode()
    hidden = dict(re.findall(r'name="(as_of|max_event_id)" value="([^"]+)"', confirm.content.decode()))
    with django_capture_on_commit_callbacks(execute=True):
        response = post_action(
            admin_client,
            "reprocess_selected",
            [events["failed_created"].pk],
            query=query,
            select_across=True,
            confirm="yes",
            **hidden,
        )
    text = " ".join(messages_of(admin_client.get(response["Location"])))
    assert re.search(
        r"ran now, in this request \(inline task backend\): \d+ of 2 events in \d+\.\d s", text
    ), text
