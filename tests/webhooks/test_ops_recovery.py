"""The recovery sweep: events a dead worker or a lost enqueue left behind get processed once."""

from __future__ import annotations

import signal
import time
from datetime import timedelta
from io import StringIO

import psycopg2
import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from meetings.models import Meeting, MeetingStatusChange
from tests.support.bodies import fresh_booking_body as booking_body
from tests.support.db import a_backend_waits_for_a_lock, database_url
from tests.support.live import start_worker, wait_until
from tests.support.tasks import run_worker_until_idle
from webhooks.models import AttemptTrigger, ProcessingAttempt, WebhookEvent, WebhookEventStatus
from webhooks.processing import ProcessingMode, _claim
from webhooks.recovery import recover_stuck_events

pytestmark = pytest.mark.django_db(transaction=True)


def queued_tasks() -> list[str]:
    """The ready tasks, oldest first: `drain_webhook_events` or `process_webhook_event(<via>)`."""
    names = []
    for task in DBTaskResult.objects.filter(status="READY").order_by("enqueued_at"):
        name = task.task_path.rsplit(".", 1)[1]
        via = task.args_kwargs["kwargs"].get("via")
        names.append(f"{name}({via})" if via else name)
    return names


def age_event(event_id: int, *, minutes: int) -> None:
    WebhookEvent.objects.filter(pk=event_id).update(received_at=timezone.now() - timedelta(minutes=minutes))


def test_received_event_whose_enqueue_was_lost_is_enqueued_once(deliver, database_tasks):
    stuck = deliver(booking_body()).json()["event_id"]
    fresh = deliver(booking_body()).json()["event_id"]
    DBTaskResult.objects.all().delete()  # the enqueue was lost (crash right after the commit)
    age_event(stuck, minutes=10)

    assert recover_stuck_events(older_than=timedelta(minutes=5)) == 1
    assert queued_tasks() == ["drain_webhook_events"]  # the path of fresh deliveries
    # The lease: a second sweep (another host, the next minute) does not enqueue it again.
    assert recover_stuck_events(older_than=timedelta(minutes=5)) == 0
    assert len(queued_tasks()) == 1
    assert WebhookEvent.objects.get(pk=fresh).next_attempt_at is None  # too young: not leased

    run_worker_until_idle()
    event = WebhookEvent.objects.get(pk=stuck)
    assert event.status == WebhookEventStatus.PROCESSED
    assert event.next_attempt_at is None
    assert list(event.processing_attempts.values_list("started_via", flat=True)) == ["recovery"]
    # The drain also claims the younger event its own lost drain left waiting.
    fresh_event = WebhookEvent.objects.get(pk=fresh)
    assert fresh_event.status == WebhookEventStatus.PROCESSED
    assert list(fresh_event.processing_attempts.values_list("started_via", flat=True)) == ["delivery"]


def test_run_abandoned_by_a_dead_worker_is_taken_over(deliver, database_tasks):
    event_id = deliver(booking_body()).json()["event_id"]
    DBTaskResult.objects.all().delete()
    # A worker claimed it (status processing, attempt 1 running) and died before finishing.
    _claim(event_id=event_id, via=AttemptTrigger.DELIVERY, mode=ProcessingMode.AUTO, user=None)
    assert recover_stuck_events(older_than=timedelta(minutes=5)) == 0  # it may still be running
    ProcessingAttempt.objects.filter(event_id=event_id).update(
        started_at=timezone.now() - timedelta(minutes=10)
    )

    assert recover_stuck_events(older_than=timedelta(minutes=5)) == 1
    abandoned = ProcessingAttempt.objects.get(event_id=event_id, number=1)
    assert abandoned.outcome == "failed"
    assert "worker stopped" in abandoned.error
    run_worker_until_idle()
    event = WebhookEvent.objects.get(pk=event_id)
    assert event.status == WebhookEventStatus.PROCESSED
    assert event.attempts == 2
    assert event.last_error == ""
    assert [(a.number, a.started_via, a.outcome) for a in event.processing_attempts.all()] == [
        (1, "delivery", "failed"),
        (2, "recovery", "processed"),
    ]


def test_event_that_keeps_killing_workers_ends_dead(deliver, database_tasks, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    event_id = deliver(booking_body()).json()["event_id"]
    DBTaskResult.objects.all().delete()
    _claim(event_id=event_id, via=AttemptTrigger.DELIVERY, mode=ProcessingMode.AUTO, user=None)
    ProcessingAttempt.objects.filter(event_id=event_id).update(
        started_at=timezone.now() - timedelta(minutes=10)
    )
    assert recover_stuck_events(older_than=timedelta(minutes=5)) == 0
    event = WebhookEvent.objects.get(pk=event_id)
    assert event.status == WebhookEventStatus.DEAD
    assert "worker stopped" in event.last_error
    assert queued_tasks() == []


def test_failed_event_whose_scheduled_retry_was_lost_is_retried(deliver, database_tasks):
    event_ids = [deliver(booking_body()).json()["event_id"] for _ in range(2)]
    DBTaskResult.objects.all().delete()
    now = timezone.now()
    overdue, due = event_ids
    WebhookEvent.objects.filter(pk=overdue).update(
        status=WebhookEventStatus.FAILED, attempts=1, next_attempt_at=now - timedelta(minutes=10)
    )
    # Due a minute ago: django-tasks-db runs its scheduled retry; the sweep does not race it.
    WebhookEvent.objects.filter(pk=due).update(
        status=WebhookEventStatus.FAILED, attempts=1, next_attempt_at=now - timedelta(minutes=1)
    )
    assert recover_stuck_events(older_than=timedelta(minutes=5)) == 1
    assert queued_tasks() == ["process_webhook_event(retry)"]
    run_worker_until_idle()
    assert WebhookEvent.objects.get(pk=overdue).status == WebhookEventStatus.PROCESSED
    assert WebhookEvent.objects.get(pk=due).status == WebhookEventStatus.FAILED


def test_recover_command_runs_one_sweep(deliver, database_tasks):
    event_id = deliver(booking_body()).json()["event_id"]
    DBTaskResult.objects.all().delete()
    age_event(event_id, minutes=10)
    out = StringIO()
    call_command("recover_webhook_events", "--older-than", "300", stdout=out)
    assert out.getvalue().strip() == "recovered 1 event(s) stuck for over 300 s"
    assert queued_tasks() == ["drain_webhook_events"]


# --- A real worker killed mid-processing ----------------------------------------------------


def event_status(event_id: int) -> str:
    return WebhookEvent.objects.values_list("status", flat=True).get(pk=event_id)


@pytest.mark.postgres
def test_worker_killed_mid_processing_is_recovered_and_applied_exactly_once(deliver, database_tasks):
    url = database_url()
    created_body = booking_body()
    uid = created_body["payload"]["uid"]
    cancelled_body = booking_body("BOOKING_CANCELLED", uid=uid)
    workers = [start_worker(url)]
    lock_holder = psycopg2.connect(url)
    try:
        created = deliver(created_body).json()["event_id"]
        wait_until(lambda: event_status(created) == "processed", what="BOOKING_CREATED is processed")
        meeting = Meeting.objects.get(cal_event_id=uid)

        # Hold the meeting's row lock from another connection: the worker blocks mid-run,
        # inside its processing transaction, like a slow database or a long lock would.
        with lock_holder.cursor() as cursor:
            cursor.execute("SELECT id FROM meetings WHERE id = %s FOR UPDATE", [meeting.pk])
        cancelled = deliver(cancelled_body).json()["event_id"]
        wait_until(lambda: event_status(cancelled) == "processing", what="the worker claims it")
        wait_until(a_backend_waits_for_a_lock, what="the worker blocks on the meeting lock")

        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(timeout=10)
        lock_holder.rollback()  # release the lock; the killed worker's transaction rolls back

        assert event_status(cancelled) == "processing"  # nobody finishes it by itself
        workers.append(start_worker(url))
        # The periodic sweep: retried until the dead worker's session has let go of the row.
        recovered = 0
        deadline = time.monotonic() + 30
        while recovered == 0 and time.monotonic() < deadline:
            recovered = recover_stuck_events(older_than=timedelta(0))
            time.sleep(0.1)
        assert recovered == 1
        wait_until(lambda: event_status(cancelled) == "processed", what="the new worker finishes it")
    finally:
        lock_holder.close()
        for worker in workers:
            if worker.poll() is None:
                worker.terminate()
                worker.wait(timeout=10)

    event = WebhookEvent.objects.get(pk=cancelled)
    assert event.attempts == 2
    assert [(a.number, a.started_via, a.outcome) for a in event.processing_attempts.all()] == [
        (1, "delivery", "failed"),
        (2, "recovery", "processed"),
    ]
    assert Meeting.objects.count() == 1
    meeting.refresh_from_db()
    assert meeting.status == "cancelled"
    changes = MeetingStatusChange.objects.filter(meeting=meeting).order_by("id")
    assert [(c.from_status, c.to_status) for c in changes] == [
        ("", "scheduled"),
        ("scheduled", "cancelled"),
    ]
    assert changes.last().event_id == cancelled
    assert recover_stuck_events(older_than=timedelta(0)) == 0  # nothing left behind


# --- Recovered events go back through the per-booking, arrival-order path -------------------

AFTER_CREATED = ("BOOKING_CANCELLED", "BOOKING_PAYMENT_INITIATED", "BOOKING_PAID")


def booking_outcome(uid: str) -> tuple:
    """What a booking's deliveries left behind: the meeting, its audit trail, each event."""
    meeting = Meeting.objects.get(cal_event_id=uid)
    changes = MeetingStatusChange.objects.filter(meeting=meeting).order_by("id")
    events = WebhookEvent.objects.filter(booking_uid=uid).order_by("id")
    return (
        meeting.status,
        meeting.payment_status,
        [(c.from_status, c.to_status) for c in changes],
        [(e.trigger_event, e.status, e.status_reason) for e in events],
    )


def use_inline_tasks(settings) -> None:
    settings.TASKS_BACKEND = "django_tasks.backends.immediate.ImmediateBackend"
    settings.TASKS = {"default": {"BACKEND": settings.TASKS_BACKEND}}


@pytest.mark.parametrize("tasks", ["database", "inline"])
@pytest.mark.parametrize("stuck_as", ["received", "processing"])
def test_a_booking_s_stuck_events_are_recovered_in_arrival_order(
    deliver, database_tasks, settings, stuck_as, tasks
):
    # The reference: the same deliveries, processed without a fault.
    reference = booking_body()
    reference_uid = reference["payload"]["uid"]
    deliver(reference)
    for trigger in AFTER_CREATED:
        deliver(booking_body(trigger, uid=reference_uid))
    created = booking_body()
    uid = created["payload"]["uid"]
    deliver(created)
    run_worker_until_idle()

    stuck = [deliver(booking_body(trigger, uid=uid)).json()["event_id"] for trigger in AFTER_CREATED]
    DBTaskResult.objects.all().delete()  # their drain was lost, or its worker died …
    if stuck_as == "processing":
        # … after claiming all three (the rows a SIGKILLed worker leaves: attempt 1 running).
        for event_id in stuck:
            _claim(event_id=event_id, via=AttemptTrigger.DELIVERY, mode=ProcessingMode.AUTO, user=None)
        ProcessingAttempt.objects.filter(event_id__in=stuck).update(
            started_at=timezone.now() - timedelta(minutes=10)
        )
    WebhookEvent.objects.filter(pk__in=stuck).update(received_at=timezone.now() - timedelta(minutes=10))
    if tasks == "inline":
        use_inline_tasks(settings)

    out = StringIO()
    call_command("recover_webhook_events", "--older-than", "300", stdout=out)
    assert out.getvalue().strip() == "recovered 3 event(s) stuck for over 300 s"
    if tasks == "database":
        run_worker_until_idle()

    status, payment, changes, events = booking_outcome(uid)
    assert (status, payment) == ("cancelled", "paid")
    assert (status, payment, changes) == booking_outcome(reference_uid)[:3]
    assert [(trigger, outcome) for trigger, outcome, _ in events[1:]] == [
        (trigger, "processed") for trigger in AFTER_CREATED
    ]
    assert events == [
        (trigger, outcome, reason) for trigger, outcome, reason in booking_outcome(reference_uid)[3]
    ]
    last_runs = [
        ProcessingAttempt.objects.filter(event_id=event_id).order_by("number").last() for event_id in stuck
    ]
    assert {(run.started_via, run.outcome) for run in last_runs} == {("recovery", "processed")}
    assert recover_stuck_events(older_than=timedelta(0)) == 0  # nothing left behind


@pytest.mark.postgres
def test_worker_killed_on_a_booking_s_delivery_is_recovered_with_the_later_ones_in_arrival_order(
    deliver, database_tasks
):
    url = database_url()
    reference = booking_body()
    reference_uid = reference["payload"]["uid"]
    created_body = booking_body()
    uid = created_body["payload"]["uid"]
    workers = [start_worker(url)]
    lock_holder = psycopg2.connect(url)
    try:
        # The reference: the same deliveries, processed without a fault.
        done = [deliver(reference).json()["event_id"]]
        done += [
            deliver(booking_body(trigger, uid=reference_uid)).json()["event_id"] for trigger in AFTER_CREATED
        ]
        done.append(deliver(created_body).json()["event_id"])
        wait_until(
            lambda: all(event_status(pk) not in ("received", "processing") for pk in done),
            what="the reference and BOOKING_CREATED are processed",
        )
        meeting = Meeting.objects.get(cal_event_id=uid)

        # The worker blocks on the meeting's row lock inside its run of BOOKING_CANCELLED; the
        # booking's later deliveries wait behind it.
        with lock_holder.cursor() as cursor:
            cursor.execute("SELECT id FROM meetings WHERE id = %s FOR UPDATE", [meeting.pk])
        stuck = [deliver(booking_body(trigger, uid=uid)).json()["event_id"] for trigger in AFTER_CREATED]
        wait_until(lambda: event_status(stuck[0]) == "processing", what="the worker claims it")
        wait_until(a_backend_waits_for_a_lock, what="the worker blocks on the meeting lock")

        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(timeout=10)
        lock_holder.rollback()
        assert [event_status(pk) for pk in stuck] == ["processing", "received", "received"]

        workers.append(start_worker(url))
        # The sweep as operations run it, until the dead worker's session has let go of the row
        # and its attempt is closed.
        deadline = time.monotonic() + 30
        while not ProcessingAttempt.objects.filter(event_id=stuck[0], number=1, outcome="failed").exists():
            assert time.monotonic() < deadline, "the sweep never took over the dead run"
            call_command("recover_webhook_events", "--older-than", "0", stdout=StringIO())
            time.sleep(0.1)
        wait_until(
            lambda: all(event_status(pk) not in ("received", "processing") for pk in stuck),
            what="the new worker finishes the booking's deliveries",
        )
    finally:
        lock_holder.close()
        for worker in workers:
            if worker.poll() is None:
                worker.terminate()
                worker.wait(timeout=10)

    status, payment, changes, events = booking_outcome(uid)
    assert (status, payment) == ("cancelled", "paid")
    assert (status, payment, changes) == booking_outcome(reference_uid)[:3]
    assert events == booking_outcome(reference_uid)[3]
    cancelled = WebhookEvent.objects.get(pk=stuck[0])
    assert [(a.number, a.started_via, a.outcome) for a in cancelled.processing_attempts.all()] == [
        (1, "delivery", "failed"),
        (2, "recovery", "processed"),
    ]
