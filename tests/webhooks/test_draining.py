"""django-tasks-db: the events table is the queue; drain tasks claim and process batches."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import timedelta

import pytest
from django.db import OperationalError, connection, transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from meetings.models import Meeting, MeetingStatus
from notifications.models import Notification
from tests.support.bodies import fresh_booking_body as booking_body
from tests.support.tasks import run_worker_until_idle
from webhooks import draining
from webhooks.models import AttemptTrigger, ProcessingAttempt, WebhookEvent, WebhookEventStatus
from webhooks.processing import claim_received_batch, run_claimed
from webhooks.recovery import recover_stuck_events

DRAIN_TASK = "webhooks.draining.drain_webhook_events"


def drain_tasks():
    return DBTaskResult.objects.filter(task_path=DRAIN_TASK)


def pending_task_in_its_second_half(settings):
    """The process's pending drain task, due in 3 s of a 10 s delay (seconds of margin for a
    slow machine): a delivery now renews it, with a chain since it is still to come."""
    settings.WEBHOOK_DRAIN_DELAY_SECONDS = 10
    draining._pending.run_after = timezone.now() + timedelta(seconds=3)
    return draining._pending.run_after


@pytest.fixture
def delayed_drains(database_tasks, settings):
    """Production timing: a delivery's drain task is due a moment after it."""
    settings.WEBHOOK_DRAIN_DELAY_SECONDS = 5


@pytest.mark.django_db(transaction=True)
def test_deliveries_of_one_moment_share_one_drain_task_committed_with_the_first(deliver, delayed_drains):
    first = deliver(booking_body()).json()
    before = timezone.now()
    second = deliver(booking_body()).json()
    assert first["status"] == second["status"] == "received"
    task = drain_tasks().get()  # one task for both: the second relied on the first's
    assert task.status == "READY"
    assert timedelta(seconds=4) < task.run_after - before < timedelta(seconds=6)
    assert not DBTaskResult.objects.exclude(task_path=DRAIN_TASK).exists()  # no task per event

    DBTaskResult.objects.filter(pk=task.pk).update(run_after=timezone.now())  # time passes
    run_worker_until_idle()
    events = WebhookEvent.objects.filter(pk__in=[first["event_id"], second["event_id"]])
    assert {event.status for event in events} == {WebhookEventStatus.PROCESSED}
    assert Meeting.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_delivery_that_commits_after_the_task_it_relied_on_was_due_enqueues_one_more(
    deliver, delayed_drains, settings
):
    settings.WEBHOOK_DRAIN_DELAY_SECONDS = 1
    deliver(booking_body())  # this process now knows a drain task due in 1 s …
    draining._pending.run_after = timezone.now() + timedelta(seconds=0.7)  # … say in 0.7 s
    with transaction.atomic():
        assert deliver(booking_body()).json()["status"] == "received"  # relies on that task …
        assert drain_tasks().count() == 1
        time.sleep(0.8)  # … but commits after it may have claimed its batch
    assert drain_tasks().count() == 2
    late = drain_tasks().order_by("-enqueued_at").first()
    assert late.run_after <= timezone.now()  # due at once: the late event is not left waiting


@pytest.mark.django_db(transaction=True)
def test_near_the_end_of_its_delay_one_delivery_enqueues_the_next_tasks_and_the_rest_rely(
    deliver, delayed_drains, settings
):
    deliver(booking_body())
    first = drain_tasks().get()
    pending_task_in_its_second_half(settings)
    with transaction.atomic():
        renewed_at = timezone.now()
        deliver(booking_body())  # renews (not committed yet) …
        chain = list(drain_tasks().exclude(pk=first.pk).order_by("run_after"))
        deliver(booking_body())  # … while these rely on the current task
        deliver(booking_body())
        assert drain_tasks().count() == 1 + len(chain)
    # The pending task was still to come (steady traffic): one statement enqueued a chain, due
    # one delay on and then every half delay, and the process relies on its last.
    assert len(chain) == draining.RENEWAL_CHAIN_LENGTH
    assert timedelta(seconds=10) <= chain[0].run_after - renewed_at < timedelta(seconds=15)
    assert {b.run_after - a.run_after for a, b in itertools.pairwise(chain)} == {timedelta(seconds=5)}
    assert draining._pending.run_after == chain[-1].run_after


@pytest.mark.django_db(transaction=True)
def test_a_delivery_after_a_quiet_moment_enqueues_a_single_task(deliver, delayed_drains, settings):
    settings.WEBHOOK_DRAIN_DELAY_SECONDS = 1
    deliver(booking_body())
    draining._pending.run_after = timezone.now() - timedelta(seconds=2)  # long due: no traffic since
    deliver(booking_body())
    assert drain_tasks().count() == 2  # one each: no chain after a quiet moment


@pytest.mark.django_db(transaction=True)
def test_a_duplicate_that_renewed_leaves_the_process_relying_on_the_tasks_it_committed(
    deliver, delayed_drains, settings
):
    body = booking_body()
    deliver(body)
    pending_task_in_its_second_half(settings)
    assert deliver(body).json()["duplicate"] is True  # renewed, then its insert was refused
    chain = drain_tasks().order_by("-run_after")
    assert chain.count() == 1 + draining.RENEWAL_CHAIN_LENGTH  # committed on their own
    assert draining._pending.run_after == chain.first().run_after
    assert draining._pending.renewing_since is None
    deliver(booking_body())  # relies on them instead of enqueueing more
    assert drain_tasks().count() == 1 + draining.RENEWAL_CHAIN_LENGTH


@pytest.mark.django_db(transaction=True)
def test_a_duplicate_that_renewed_inside_a_transaction_lets_the_next_delivery_renew(
    deliver, delayed_drains, settings
):
    body = booking_body()
    deliver(body)
    relied_on = pending_task_in_its_second_half(settings)
    with transaction.atomic():
        assert deliver(body).json()["duplicate"] is True  # its chain rolled back with its savepoint
        assert drain_tasks().count() == 1
    assert draining._pending.run_after == relied_on and draining._pending.renewing_since is None
    deliver(booking_body())  # renews at once, not after the renewal timeout
    assert drain_tasks().count() == 1 + draining.RENEWAL_CHAIN_LENGTH


@pytest.mark.postgres  # xmin: which transaction wrote a row
@pytest.mark.django_db(transaction=True)
def test_a_renewing_delivery_commits_its_task_before_its_event_without_a_transaction(deliver, delayed_drains):
    event_id = deliver(booking_body()).json()["event_id"]
    task = drain_tasks().get()
    event = WebhookEvent.objects.get(pk=event_id)
    assert task.enqueued_at <= event.received_at < task.run_after
    # Two autocommit statements: the rows were written by two transactions, the task's first.
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT xmin::text::bigint FROM {DBTaskResult._meta.db_table} WHERE id = %s),"
            f" (SELECT xmin::text::bigint FROM {WebhookEvent._meta.db_table} WHERE id = %s)",
            [task.pk, event_id],
        )
        task_xid, event_xid = cursor.fetchone()
    assert task_xid < event_xid


@pytest.mark.django_db(transaction=True)
def test_a_delivery_whose_drain_task_cannot_be_enqueued_is_refused_and_not_stored(
    deliver, delayed_drains, monkeypatch
):
    def database_gone(*, run_afters):
        raise OperationalError("the database did not answer in time")

    monkeypatch.setattr(draining, "_enqueue_drains", database_gone)
    response = deliver(booking_body())
    assert response.status_code == 503  # Cal.com retries it
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_renewing_delivery_that_commits_after_its_own_task_was_due_enqueues_one_more(
    deliver, delayed_drains, settings
):
    settings.WEBHOOK_DRAIN_DELAY_SECONDS = 0.5
    with transaction.atomic():
        deliver(booking_body())  # no task yet: this delivery enqueues one, due in 0.5 s …
        time.sleep(0.6)  # … and commits after it may have run
    assert drain_tasks().count() == 2
    assert drain_tasks().order_by("-enqueued_at").first().run_after <= timezone.now()


@pytest.mark.django_db(transaction=True)
def test_a_delivery_that_commits_in_time_adds_no_task(deliver, delayed_drains):
    deliver(booking_body())
    with transaction.atomic():
        deliver(booking_body())
    assert drain_tasks().count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_drain_claims_one_batch_oldest_first_and_queues_a_follow_up_when_it_was_full(
    deliver, database_tasks, settings
):
    settings.WEBHOOK_DRAIN_BATCH_SIZE = 3
    ids = [deliver(booking_body()).json()["event_id"] for _ in range(5)]
    DBTaskResult.objects.all().delete()

    assert draining.drain_received_events() == 3
    statuses = dict(WebhookEvent.objects.values_list("id", "status"))
    assert [statuses[i] for i in ids] == ["processed"] * 3 + ["received"] * 2
    follow_up = drain_tasks().get()  # a full batch: more may wait, another worker can help
    assert follow_up.run_after <= timezone.now()
    attempts = ProcessingAttempt.objects.filter(event_id__in=ids[:3])
    assert {(a.number, a.started_via, a.outcome) for a in attempts} == {
        (1, AttemptTrigger.DELIVERY, "processed")
    }

    assert draining.drain_received_events() == 2  # not full: no follow-up
    assert drain_tasks().count() == 1
    assert draining.drain_received_events() == 0


@pytest.mark.django_db(transaction=True)
def test_a_booking_s_later_delivery_waits_until_its_earlier_one_is_applied(deliver, database_tasks):
    first, second = booking_body(), booking_body()
    uid = first["payload"]["uid"]
    created = deliver(first).json()["event_id"]
    paid = deliver(booking_body("BOOKING_PAID", uid=uid)).json()["event_id"]
    other = deliver(second).json()["event_id"]
    DBTaskResult.objects.all().delete()

    # One batch takes the first waiting event of each booking, not the PAID behind CREATED …
    [claim_created, claim_other] = claim_received_batch(limit=10)
    assert (claim_created.event.pk, claim_other.event.pk) == (created, other)
    # … nor while the CREATED is being processed (by this run or another worker's).
    assert claim_received_batch(limit=10) == []
    run_claimed(claim=claim_created)
    run_claimed(claim=claim_other)
    [claim_paid] = claim_received_batch(limit=10)
    assert claim_paid.event.pk == paid


@pytest.mark.django_db(transaction=True)
def test_a_reschedule_waits_for_the_earlier_deliveries_of_the_booking_it_moves(deliver, database_tasks):
    old_uid = booking_body()["payload"]["uid"]
    paid = deliver(booking_body("BOOKING_PAID", uid=old_uid)).json()["event_id"]
    moved = deliver(booking_body("BOOKING_RESCHEDULED", reschedule_uid=old_uid)).json()["event_id"]
    assert WebhookEvent.objects.get(pk=moved).reschedule_uid == old_uid
    DBTaskResult.objects.all().delete()

    [first] = claim_received_batch(limit=10)  # the new uid's first delivery, but not its turn
    assert first.event.pk == paid
    run_claimed(claim=first)
    [second] = claim_received_batch(limit=10)
    assert second.event.pk == moved


@pytest.mark.django_db(transaction=True)
def test_a_drain_that_held_events_back_queues_a_follow_up_for_them(deliver, database_tasks):
    uid = booking_body()["payload"]["uid"]
    deliver(booking_body(uid=uid))
    deliver(booking_body("BOOKING_PAID", uid=uid))
    DBTaskResult.objects.all().delete()

    assert draining.drain_received_events() == 1  # the CREATED; the PAID waited behind it
    assert drain_tasks().count() == 1  # … and is claimable now: a follow-up for it
    run_worker_until_idle()
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}
    assert Meeting.objects.get().payment_status == "paid"
    assert not drain_tasks().filter(status="READY").exists()  # the chain ends when all is done


@pytest.mark.django_db(transaction=True)
def test_a_drain_that_found_work_claims_the_deliveries_that_arrive_while_it_lingers(deliver, database_tasks):
    first = deliver(booking_body()).json()["event_id"]
    DBTaskResult.objects.all().delete()

    def deliver_later():
        try:
            time.sleep(0.3)
            deliver(booking_body())
        finally:
            connection.close()

    later = threading.Thread(target=deliver_later)
    later.start()
    started = time.monotonic()
    try:
        claimed = draining.drain_and_linger(linger_seconds=2, budget_seconds=10)
    finally:
        later.join(timeout=30)
    waited = time.monotonic() - started
    assert claimed == 2  # the one waiting, then the one that came 0.3 s later
    assert 2.3 <= waited < 10  # it lingered 2 s after the last one, then let its worker go
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}
    assert WebhookEvent.objects.get(pk=first).status == "processed"


@pytest.mark.django_db(transaction=True)
def test_a_lingering_drain_claims_the_next_batches_itself_without_a_task_each(
    deliver, database_tasks, settings
):
    settings.WEBHOOK_DRAIN_BATCH_SIZE = 2
    for _ in range(7):
        deliver(booking_body())
    DBTaskResult.objects.all().delete()

    assert draining.drain_and_linger(linger_seconds=0.2) == 7
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}
    # Only the first (full) batch asked for help from another worker; the rest it took itself.
    assert drain_tasks().count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_drain_still_finding_work_when_its_time_is_up_hands_over_to_a_follow_up(
    deliver, database_tasks, settings
):
    settings.WEBHOOK_DRAIN_BATCH_SIZE = 1
    for _ in range(4):
        deliver(booking_body())
    DBTaskResult.objects.all().delete()

    assert draining.drain_and_linger(linger_seconds=5, budget_seconds=0) == 1
    # The full batch's follow-up, and one more as the budget ended with events waiting.
    assert drain_tasks().filter(run_after__lte=timezone.now()).count() == 2
    run_worker_until_idle()
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}


@pytest.mark.django_db(transaction=True)
def test_an_idle_linger_ends_without_a_task_for_events_held_back_by_a_stuck_run(deliver, database_tasks):
    uid = booking_body()["payload"]["uid"]
    deliver(booking_body(uid=uid))
    deliver(booking_body("BOOKING_PAID", uid=uid))
    other = deliver(booking_body()).json()["event_id"]
    DBTaskResult.objects.all().delete()
    [stuck] = claim_received_batch(limit=1)  # the CREATED, claimed by a run that never ends

    started = time.monotonic()
    assert draining.drain_and_linger(linger_seconds=0.3) == 1  # the other booking's event
    assert time.monotonic() - started < 5
    assert WebhookEvent.objects.get(pk=other).status == "processed"
    assert WebhookEvent.objects.filter(status="received").count() == 1  # the PAID, behind it
    # Only the first batch's follow-up for what it held back (as without lingering), which
    # finds nothing and ends; the idle linger adds none, so nothing spins on the stuck run.
    assert drain_tasks().count() == 1
    assert stuck.event.status == "processing"


@pytest.mark.django_db(transaction=True)
def test_a_drain_that_found_nothing_does_not_linger(database_tasks):
    started = time.monotonic()
    assert draining.drain_and_linger(linger_seconds=5) == 0
    assert time.monotonic() - started < 2


@pytest.mark.django_db(transaction=True)
def test_a_drain_task_run_inline_does_not_linger(deliver, database_tasks, settings):
    deliver(booking_body())
    settings.WEBHOOK_DRAIN_LINGER_SECONDS = 5
    settings.TASKS_BACKEND = "django_tasks.backends.immediate.ImmediateBackend"  # runs in its caller
    started = time.monotonic()
    assert draining.drain_webhook_events.call() == 1
    assert time.monotonic() - started < 2  # the caller (a request) does not wait for more deliveries


@pytest.mark.django_db(transaction=True)
def test_a_failing_event_does_not_hold_back_the_rest_of_its_batch(deliver, database_tasks, monkeypatch):
    from meetings.services import apply as meeting_services

    real_apply = meeting_services.apply_calcom_event
    bodies = [booking_body() for _ in range(3)]
    poisoned_uid = bodies[1]["payload"]["uid"]

    def apply_or_fail(*, event, source=None, **kwargs):
        if event.uid == poisoned_uid:
            raise RuntimeError("the meeting table is on fire")
        return real_apply(event=event, source=source, **kwargs)

    monkeypatch.setattr("webhooks.processing.apply_calcom_event", apply_or_fail)
    ids = [deliver(body).json()["event_id"] for body in bodies]
    assert draining.drain_received_events() == 3
    events = {event.pk: event for event in WebhookEvent.objects.filter(pk__in=ids)}
    assert [events[i].status for i in ids] == ["processed", "failed", "processed"]
    failed = events[ids[1]]
    assert "on fire" in failed.last_error and failed.next_attempt_at is not None
    # Its retry is a task of its own, due later (django-tasks-db defers it).
    retry = DBTaskResult.objects.get(task_path="webhooks.processing.process_webhook_event")
    assert retry.args_kwargs["kwargs"] == {"event_id": ids[1], "via": "retry"}
    assert retry.run_after == failed.next_attempt_at
    assert not Meeting.objects.filter(cal_event_id=poisoned_uid).exists()  # rolled back whole


@pytest.mark.django_db(transaction=True)
def test_a_claimed_event_the_recovery_sweep_took_over_is_left_to_the_new_run(deliver, database_tasks):
    event_id = deliver(booking_body()).json()["event_id"]
    [claim] = claim_received_batch(limit=10)
    # The worker stalls past WEBHOOK_STUCK_AFTER_SECONDS; the sweep hands the event on.
    ProcessingAttempt.objects.filter(pk=claim.attempt.pk).update(
        started_at=timezone.now() - timedelta(minutes=10)
    )
    assert recover_stuck_events(older_than=timedelta(minutes=5)) == 1
    run_worker_until_idle()  # the new run (recovery) processes it
    event = WebhookEvent.objects.get(pk=event_id)
    assert (event.status, event.attempts) == (WebhookEventStatus.PROCESSED, 2)

    assert run_claimed(claim=claim).status == WebhookEventStatus.PROCESSED  # stale: skipped
    assert WebhookEvent.objects.get(pk=event_id).attempts == 2
    assert Meeting.objects.get().status == MeetingStatus.SCHEDULED
    assert ProcessingAttempt.objects.get(pk=claim.attempt.pk).outcome == "failed"  # closed by the sweep


@pytest.mark.django_db(transaction=True)
def test_a_batch_sends_its_hit_notifications_with_one_task(deliver, database_tasks, settings):
    settings.HIT_CHANNELS = ["log"]
    bookings = [booking_body() for _ in range(3)]
    for body in bookings:
        deliver(body)
    assert draining.drain_received_events() == 3
    for body in bookings:
        deliver(booking_body("BOOKING_PAID", uid=body["payload"]["uid"]))
    DBTaskResult.objects.all().delete()

    assert draining.drain_received_events() == 3
    rows = Notification.objects.order_by("id")
    assert rows.count() == 3
    [task] = DBTaskResult.objects.filter(task_path="notifications.services.send_notifications_task")
    assert task.args_kwargs["kwargs"] == {"notification_ids": [row.pk for row in rows]}
    # Due now, so it runs in line with drain tasks (which all have a due time), not after them.
    assert task.run_after <= timezone.now()
    run_worker_until_idle()
    assert {row.status for row in Notification.objects.all()} == {"sent"}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_skip_each_others_events_instead_of_waiting(deliver, database_tasks):
    ids = sorted(deliver(booking_body()).json()["event_id"] for _ in range(8))
    first_half_locked = threading.Event()
    claim_done = threading.Event()

    def another_worker_claiming_the_first_half() -> None:
        try:
            with transaction.atomic():
                list(WebhookEvent.objects.select_for_update().filter(pk__in=ids[:4]))
                first_half_locked.set()
                claim_done.wait(timeout=30)
        finally:
            connection.close()

    other = threading.Thread(target=another_worker_claiming_the_first_half)
    other.start()
    try:
        assert first_half_locked.wait(timeout=30)
        started = time.monotonic()
        batch = claim_received_batch(limit=50)
        assert time.monotonic() - started < 2  # did not wait for the other transaction
    finally:
        claim_done.set()
        other.join(timeout=30)
    assert [claim.event.pk for claim in batch] == ids[4:]
    assert [claim.event.pk for claim in claim_received_batch(limit=50)] == ids[:4]
    assert claim_received_batch(limit=50) == []  # claimed events are out of the queue


@pytest.mark.parametrize(
    ("batch_size", "delay", "linger", "expected"),
    [
        (50, 0.1, 0.5, set()),
        (0, 0.1, 0.5, {"vani.E003"}),
        (50, -1, 0.5, {"vani.E004"}),
        (50, 600, 0.5, {"vani.E004"}),
        (50, 0.1, -0.1, {"vani.E006"}),
        (50, 0.1, 60, {"vani.E006"}),
    ],
)
def test_drain_settings_are_checked_at_startup(settings, batch_size, delay, linger, expected):
    from django.core import checks

    settings.WEBHOOK_DRAIN_BATCH_SIZE = batch_size
    settings.WEBHOOK_DRAIN_DELAY_SECONDS = delay
    settings.WEBHOOK_DRAIN_LINGER_SECONDS = linger
    ids = {message.id for message in checks.run_checks() if message.is_serious()}
    assert ids & {"vani.E003", "vani.E004", "vani.E006"} == expected


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_real_workers_drain_interleaved_bookings_to_the_state_each_booking_ended_in(
    deliver, database_tasks
):
    from bench.bodies import booking_lifecycles
    from meetings.models import BookingUid
    from tests.support.db import database_url
    from tests.support.live import start_worker, wait_until

    prefix = f"drain{time.time_ns() % 10**9}x"
    deliveries = booking_lifecycles(events=300, run_prefix=prefix)
    for delivery in deliveries:  # the backlog a burst leaves: nothing processed yet
        assert deliver(delivery.body).json()["status"] == "received"
    # Small batches: many claims and follow-ups, both workers in every stretch of the drain.
    workers = [start_worker(database_url(), WEBHOOK_DRAIN_BATCH_SIZE="7") for _ in range(2)]
    try:
        wait_until(
            lambda: not WebhookEvent.objects.filter(status__in=["received", "processing"]).exists(),
            timeout=120,
            what="the backlog is drained",
        )
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(timeout=30)

    # Each booking's deliveries were applied in order, one at a time, though two workers took
    # neighbouring batches side by side: nothing was stale, everything applied.
    unapplied = WebhookEvent.objects.exclude(status="processed")
    assert list(unapplied.values_list("trigger_event", "status_reason")) == []
    assert ProcessingAttempt.objects.count() == len(deliveries)  # each event claimed once
    ran = DBTaskResult.objects.filter(task_path=DRAIN_TASK, status="SUCCESSFUL")
    assert len({worker for ids in ran.values_list("worker_ids", flat=True) for worker in ids}) == 2

    last_trigger: dict[int, str] = {}
    paid: set[int] = set()
    for delivery in deliveries:
        last_trigger[delivery.booking] = delivery.trigger
        if delivery.trigger == "BOOKING_PAID":
            paid.add(delivery.booking)
    expected_status = {"BOOKING_CANCELLED": "cancelled", "MEETING_ENDED": "completed"}
    assert Meeting.objects.count() == len(last_trigger)  # a reschedule stays one meeting
    for booking, trigger in last_trigger.items():
        meeting = BookingUid.objects.select_related("meeting").get(uid=f"{prefix}{booking:08d}a").meeting
        assert meeting.status == expected_status.get(trigger, "scheduled"), (booking, trigger)
        assert (meeting.payment_status == "paid") == (booking in paid), booking


@pytest.mark.django_db(transaction=True)
def test_a_lingering_drain_sends_the_hit_notifications_of_all_its_batches_with_one_task(
    deliver, database_tasks, settings
):
    settings.HIT_CHANNELS = ["log"]
    settings.WEBHOOK_DRAIN_BATCH_SIZE = 2
    bookings = [booking_body() for _ in range(5)]
    for body in bookings:
        deliver(body)
    assert draining.drain_received_events() == 2
    assert draining.drain_received_events() == 2
    assert draining.drain_received_events() == 1
    for body in bookings:
        deliver(booking_body("BOOKING_PAID", uid=body["payload"]["uid"]))
    DBTaskResult.objects.all().delete()

    assert draining.drain_and_linger(linger_seconds=0.2) == 5  # three batches
    rows = Notification.objects.order_by("id")
    assert rows.count() == 5
    [task] = DBTaskResult.objects.filter(task_path="notifications.services.send_notifications_task")
    assert task.args_kwargs["kwargs"] == {"notification_ids": [row.pk for row in rows]}
    run_worker_until_idle()
    assert {row.status for row in Notification.objects.all()} == {"sent"}
