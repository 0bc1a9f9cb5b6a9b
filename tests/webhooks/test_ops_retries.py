"""Failed processing is retried with exponential backoff and jitter, then marked dead.

Faults are real: a database trigger makes the meeting audit table refuse writes, the way a
broken constraint, a full disk or a revoked permission would, so processing fails inside the
real transaction and nothing in the code under test is patched.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from meetings.models import Meeting, MeetingStatusChange
from tests.support.bodies import fresh_booking_body as booking_body
from tests.support.tasks import run_worker_until_idle
from webhooks.models import AttemptTrigger, WebhookEvent, WebhookEventStatus
from webhooks.recovery import recover_stuck_events
from webhooks.reprocessing import reprocess_event
from webhooks.retries import retry_delay

pytestmark = pytest.mark.django_db(transaction=True)

FAULT = "injected fault: the audit table refuses writes"


def refuse_meeting_writes() -> None:
    table = MeetingStatusChange._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE OR REPLACE FUNCTION vani_test_refuse() RETURNS trigger AS $$ "
                f"BEGIN RAISE EXCEPTION '{FAULT}'; END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                f"CREATE TRIGGER vani_test_refuse BEFORE INSERT OR UPDATE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION vani_test_refuse()"
            )
        else:
            for operation in ("INSERT", "UPDATE"):
                cursor.execute(
                    f"CREATE TRIGGER vani_test_refuse_{operation.lower()} BEFORE {operation} "
                    f"ON {table} BEGIN SELECT RAISE(ABORT, '{FAULT}'); END"
                )


def allow_meeting_writes() -> None:
    table = MeetingStatusChange._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"DROP TRIGGER IF EXISTS vani_test_refuse ON {table}")
            cursor.execute("DROP FUNCTION IF EXISTS vani_test_refuse()")
        else:
            for operation in ("insert", "update"):
                cursor.execute(f"DROP TRIGGER IF EXISTS vani_test_refuse_{operation}")


@pytest.fixture
def meetings_refuse_writes():
    refuse_meeting_writes()
    yield
    allow_meeting_writes()


@pytest.mark.parametrize("attempt_number", [1, 2, 3, 6, 40, 10_000])
def test_retry_delay_grows_exponentially_with_jitter_and_a_cap(settings, attempt_number):
    settings.WEBHOOK_RETRY_BASE_SECONDS = 30
    settings.WEBHOOK_RETRY_MAX_SECONDS = 3600
    ceiling = min(30 * 2 ** min(attempt_number - 1, 32), 3600)
    delays = {retry_delay(attempt_number=attempt_number).total_seconds() for _ in range(50)}
    assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
    assert len(delays) > 1  # jittered: a burst of failures does not retry in step


def test_inline_failures_are_retried_by_the_sweep_with_backoff_then_dead(
    deliver, settings, meetings_refuse_writes
):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    settings.WEBHOOK_RETRY_BASE_SECONDS = 30
    settings.WEBHOOK_RETRY_MAX_SECONDS = 3600
    response = deliver(booking_body())
    assert response.status_code == 200
    assert response.json()["status"] == "failed"
    event = WebhookEvent.objects.get(pk=response.json()["event_id"])
    assert event.attempts == 1
    assert FAULT in event.last_error
    first = event.processing_attempts.get()
    assert timedelta(seconds=15) <= event.next_attempt_at - first.finished_at <= timedelta(seconds=30)

    # Not due yet: the sweep leaves it alone.
    assert recover_stuck_events(older_than=timedelta(minutes=5)) == 0
    assert WebhookEvent.objects.get(pk=event.pk).attempts == 1

    for expected_attempts, window in ((2, (30, 60)), (3, None)):
        # Time passes: the retry is due, and the inline backend leaves retries to the sweep.
        WebhookEvent.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
        assert recover_stuck_events(older_than=timedelta(minutes=5)) == 1
        event.refresh_from_db()
        assert event.attempts == expected_attempts
        last = event.processing_attempts.order_by("number").last()
        assert last.started_via == AttemptTrigger.RETRY
        assert last.outcome == "failed"
        if window:
            assert event.status == WebhookEventStatus.FAILED
            low, high = window
            delay = event.next_attempt_at - last.finished_at
            assert timedelta(seconds=low) <= delay <= timedelta(seconds=high)

    assert event.status == WebhookEventStatus.DEAD
    assert event.next_attempt_at is None
    assert recover_stuck_events(older_than=timedelta(0)) == 0  # dead is never retried
    assert list(event.processing_attempts.values_list("started_via", flat=True)) == [
        "delivery",
        "retry",
        "retry",
    ]

    # Once the fault is fixed, staff reprocess the dead event.
    allow_meeting_writes()
    event = reprocess_event(event_id=event.pk, via=AttemptTrigger.COMMAND)
    assert event.status == WebhookEventStatus.PROCESSED
    assert event.attempts == 4
    assert event.last_error == ""
    assert Meeting.objects.filter(pk=event.meeting_id).exists()


def test_database_backend_schedules_the_retry_itself(
    deliver, database_tasks, settings, meetings_refuse_writes
):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    response = deliver(booking_body())
    assert response.json()["status"] == "received"  # the worker processes it, not the request
    event_id = response.json()["event_id"]

    run_worker_until_idle()
    event = WebhookEvent.objects.get(pk=event_id)
    assert event.status == WebhookEventStatus.FAILED
    retry = DBTaskResult.objects.get(status="READY")
    assert retry.args_kwargs["kwargs"] == {"event_id": event_id, "via": "retry"}
    assert retry.run_after == event.next_attempt_at > timezone.now()

    run_worker_until_idle()  # not due yet: nothing runs
    assert WebhookEvent.objects.get(pk=event_id).attempts == 1

    DBTaskResult.objects.filter(pk=retry.pk).update(run_after=timezone.now())  # time passes
    run_worker_until_idle()
    event.refresh_from_db()
    assert event.attempts == 2
    assert event.status == WebhookEventStatus.DEAD  # WEBHOOK_MAX_ATTEMPTS reached
    assert not DBTaskResult.objects.filter(status="READY").exists()  # no retry after dead
    assert list(event.processing_attempts.values_list("started_via", flat=True)) == [
        "delivery",
        "retry",
    ]
