"""A claimed batch applied in one transaction, each event in its own savepoint."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from meetings.models import Meeting, MeetingStatus, MeetingStatusChange
from notifications.models import Notification
from tests.support.bodies import meeting_ended_body
from tests.support.console import booking, make_user, processed, store
from webhooks.batch_processing import claim_events, run_claimed_batch
from webhooks.models import AttemptTrigger, ProcessingAttempt, ReprocessJob, WebhookEvent, WebhookEventStatus
from webhooks.processing import ProcessingMode
from webhooks.reprocessing import (
    create_reprocess_job,
    reprocess_batch,
    run_reprocess_job,
    selection_of_ids,
)

pytestmark = pytest.mark.django_db


def claim(events, *, mode=ProcessingMode.REPROCESS):
    return claim_events(event_ids=[e.pk for e in events], mode=mode, via=AttemptTrigger.ADMIN).claims


def fail_on(monkeypatch, uid: str) -> None:
    """Applying `uid` breaks the transaction the way a database error does (PostgreSQL aborts
    it until the savepoint rolls back), after the meeting has been written."""
    from meetings.services import apply as meeting_services

    real_apply = meeting_services.apply_calcom_event

    def apply_or_fail(*, event, **kwargs):
        result = real_apply(event=event, **kwargs)
        if event.uid == uid:
            with connection.cursor() as cursor:
                cursor.execute("SELECT * FROM no_such_table_in_vani")
        return result

    monkeypatch.setattr("webhooks.processing.apply_calcom_event", apply_or_fail)


def test_a_bad_event_rolls_back_alone_and_is_recorded_failed_with_its_traceback(monkeypatch):
    events = [store(booking("BOOKING_CREATED", uid=f"bad{i}", minutes=i), status="failed") for i in range(3)]
    fail_on(monkeypatch, "bad1")

    after = run_claimed_batch(claims=claim(events))

    assert [e.status for e in after] == ["processed", "failed", "processed"]
    assert set(Meeting.objects.values_list("cal_event_id", flat=True)) == {"bad0", "bad2"}
    bad = WebhookEvent.objects.get(pk=events[1].pk)
    assert bad.status == WebhookEventStatus.FAILED and bad.next_attempt_at is not None
    assert "no_such_table_in_vani" in bad.last_error and "Traceback" in bad.last_traceback
    assert bad.meeting_id is None
    attempt = ProcessingAttempt.objects.get(event=bad)
    assert attempt.outcome == "failed" and "no_such_table_in_vani" in attempt.traceback
    assert attempt.finished_at is not None
    for good in (events[0], events[2]):
        good = WebhookEvent.objects.get(pk=good.pk)
        assert good.meeting is not None and good.processed_at is not None and good.last_error == ""
        attempt = ProcessingAttempt.objects.get(event=good)
        assert (attempt.outcome, attempt.started_via, attempt.number) == ("processed", "admin", 1)
        assert attempt.finished_at is not None


def test_a_failure_after_a_later_event_of_the_same_meeting_keeps_the_earlier_change(monkeypatch):
    created = store(booking("BOOKING_CREATED", uid="m1", minutes=0), status="failed")
    paid = store(booking("BOOKING_PAID", uid="m1", minutes=1), status="failed")
    cancelled = store(booking("BOOKING_CANCELLED", uid="m1", minutes=2), status="failed")

    def fail_paid(*, event, **kwargs):
        if event.trigger == "BOOKING_PAID":
            raise RuntimeError("the payment table is on fire")
        return real_apply(event=event, **kwargs)

    from meetings.services import apply as meeting_services

    real_apply = meeting_services.apply_calcom_event
    monkeypatch.setattr("webhooks.processing.apply_calcom_event", fail_paid)

    after = run_claimed_batch(claims=claim([created, paid, cancelled]))

    assert [e.status for e in after] == ["processed", "failed", "processed"]
    meeting = Meeting.objects.get()
    assert meeting.status == MeetingStatus.CANCELLED and meeting.payment_status != "paid"


def test_an_event_taken_over_by_another_run_is_not_committed():
    events = [store(booking("BOOKING_CREATED", uid=f"t{i}", minutes=i), status="failed") for i in range(2)]
    claims = claim(events)
    # The recovery sweep handed the second to another run meanwhile (a later attempt).
    WebhookEvent.objects.filter(pk=events[1].pk).update(status="received", attempts=2)

    after = run_claimed_batch(claims=claims)

    assert [e.status for e in after] == ["processed", "received"]
    assert list(Meeting.objects.values_list("cal_event_id", flat=True)) == ["t0"]
    assert ProcessingAttempt.objects.get(event=events[1]).outcome == "running"  # the sweep closes it


def test_a_bookings_events_are_applied_in_arrival_order_within_a_batch():
    created = store(booking("BOOKING_CREATED", uid="p1", minutes=0))
    paid = store(booking("BOOKING_PAID", uid="p1", minutes=1))
    first = store(booking("BOOKING_CREATED", uid="r1", minutes=0))
    moved = store(booking("BOOKING_RESCHEDULED", uid="r2", reschedule_uid="r1", minutes=1))
    moved_again = store(booking("BOOKING_RESCHEDULED", uid="r3", reschedule_uid="r2", minutes=2))
    cancelled = store(booking("BOOKING_CANCELLED", uid="r3", minutes=3))

    after = run_claimed_batch(claims=claim([created, paid, first, moved, moved_again, cancelled]))

    assert {e.status for e in after} == {WebhookEventStatus.PROCESSED}
    assert Meeting.objects.get(cal_event_id="p1").payment_status == "paid"
    chain = Meeting.objects.get(cal_event_id="r3")
    assert chain.status == MeetingStatus.CANCELLED and Meeting.objects.count() == 2
    assert {e.meeting_id for e in WebhookEvent.objects.filter(pk__in=[first.pk, moved.pk, cancelled.pk])} == {
        chain.pk
    }


def test_a_replayed_batch_ends_as_the_events_applied_one_by_one_left_it():
    bodies = [
        booking("BOOKING_CREATED", uid="s1", minutes=0),
        booking("BOOKING_RESCHEDULED", uid="s2", reschedule_uid="s1", minutes=1),
        booking("BOOKING_CANCELLED", uid="s2", minutes=2),
        booking("BOOKING_CREATED", uid="s3", minutes=3),
        booking("BOOKING_PAID", uid="s3", minutes=4),
    ]
    events = [processed(body) for body in bodies]
    one_by_one = list(Meeting.objects.order_by("id").values("id", "status", "cal_event_id", "payment_status"))
    changes = MeetingStatusChange.objects.count()

    after = run_claimed_batch(claims=claim(events, mode=ProcessingMode.FORCE))

    assert {e.status for e in after} == {WebhookEventStatus.PROCESSED}
    assert list(Meeting.objects.order_by("id").values("id", "status", "cal_event_id", "payment_status")) == (
        one_by_one
    )
    assert MeetingStatusChange.objects.count() == changes  # nothing changed: nothing recorded


@pytest.mark.postgres
def test_a_batch_locks_its_meetings_in_one_query():
    events = [processed(booking("BOOKING_CREATED", uid=f"l{i}", minutes=i)) for i in range(10)]
    events += [store(booking("BOOKING_CANCELLED", uid=f"l{i}", minutes=20 + i)) for i in range(10)]
    claims = claim(events, mode=ProcessingMode.FORCE)
    meetings = connection.ops.quote_name(Meeting._meta.db_table)

    with CaptureQueriesContext(connection) as queries:
        run_claimed_batch(claims=claims)

    locking = [q["sql"] for q in queries if "FOR UPDATE" in q["sql"] and f"FROM {meetings}" in q["sql"]]
    assert len(locking) == 1
    assert Meeting.objects.filter(status=MeetingStatus.CANCELLED).count() == 10
    # One UPDATE for the events' outcomes, one for the attempts.
    events_table = connection.ops.quote_name(WebhookEvent._meta.db_table)
    updates = [q["sql"] for q in queries if q["sql"].startswith(f"UPDATE {events_table}")]
    assert len(updates) == 1


def test_a_replayed_hit_is_notified_once():
    processed(booking("BOOKING_CREATED", uid="hit1", minutes=0))
    ended = processed(meeting_ended_body(uid="hit1"))
    assert Notification.objects.filter(meeting=ended.meeting).count() == 1

    summary = reprocess_batch(event_ids=[ended.pk, ended.pk - 1], force=True)

    assert summary.processed == 2
    assert Notification.objects.filter(meeting=ended.meeting).count() == 1


def test_reprocess_batch_counts_skipped_refused_and_missing():
    failed = store(booking("BOOKING_CREATED", uid="c1", minutes=0), status="failed")
    done = processed(booking("BOOKING_CREATED", uid="c2", minutes=1))
    duplicate = store(booking("BOOKING_CREATED", uid="c3", minutes=2), status="duplicate")

    summary = reprocess_batch(event_ids=[failed.pk, done.pk, duplicate.pk, 10**9])

    assert summary.outcomes == {"processed": 1, "skipped": 1, "not allowed": 1, "missing": 1}
    assert done.processing_attempts.count() == 1


def test_a_job_runs_its_selection_batch_by_batch_as_the_staff_user(monkeypatch):
    monkeypatch.setattr("webhooks.reprocessing.JOB_BATCH_SIZE", 4)
    user = make_user("replayer")
    events = [processed(booking("BOOKING_CREATED", uid=f"j{i}", minutes=i)) for i in range(10)]
    job = create_reprocess_job(
        selection=selection_of_ids(event_ids=[e.pk for e in events]), user=user, force=True
    )

    job = run_reprocess_job(job_id=job.pk)

    assert (job.status, job.done, job.failed, job.skipped, job.last_event_id) == (
        "finished",
        10,
        0,
        0,
        events[-1].pk,
    )
    replays = ProcessingAttempt.objects.filter(number=2)
    assert replays.count() == 10 and set(replays.values_list("started_by", flat=True)) == {user.pk}
    assert ReprocessJob.objects.get(pk=job.pk).total == 10


def test_a_batch_whose_transaction_fails_as_a_whole_runs_event_by_event(monkeypatch):
    events = [store(booking("BOOKING_CREATED", uid=f"w{i}", minutes=i), status="failed") for i in range(3)]

    def broken(**kwargs):
        raise RuntimeError("the connection dropped at commit")

    monkeypatch.setattr("webhooks.batch_processing._write_outcomes", broken)

    after = run_claimed_batch(claims=claim(events))

    assert [e.status for e in after] == ["processed"] * 3
    assert Meeting.objects.count() == 3
    assert [a.outcome for a in ProcessingAttempt.objects.order_by("id")] == ["processed"] * 3
