"""What a batch's events ask to write besides their meetings (HIT outbox rows, status changes)
is written once per batch, and only for the events whose savepoints stand."""

from __future__ import annotations

import dataclasses

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from meetings.models import Meeting, MeetingStatus, MeetingStatusChange
from notifications.models import Notification, NotificationStatus
from tests.support.bodies import at, booking_body, meeting_ended_body, no_show_body
from tests.support.console import booking, processed, store
from webhooks.batch_processing import claim_events, run_claimed_batch
from webhooks.models import AttemptTrigger, WebhookEventStatus
from webhooks.processing import ProcessingMode

pytestmark = pytest.mark.django_db

GUEST = "priya.shah@example.org"


@pytest.fixture(autouse=True)
def hit_settings(settings):
    settings.HIT_TRIGGERS = ["BOOKING_PAID", "MEETING_ENDED"]
    settings.HIT_CHANNELS = ["log"]
    settings.HIT_MEETING_COMPLETED_DELAY = 3600


def claim(events):
    ids = [e.pk for e in events]
    return claim_events(event_ids=ids, mode=ProcessingMode.REPROCESS, via=AttemptTrigger.ADMIN).claims


def created(uids) -> dict[str, Meeting]:
    for i, uid in enumerate(uids):
        processed(booking("BOOKING_CREATED", uid=uid, minutes=i))
    return {m.cal_event_id: m for m in Meeting.objects.filter(cal_event_id__in=uids)}


def ended_booking(uid: str):
    """A booking (start at(60), end at(90)) and its MEETING_ENDED, stored, not yet applied."""
    processed(booking_body("BOOKING_CREATED", uid=uid, created=at(0), booking_id=7, start=at(60)))
    return store(meeting_ended_body(uid=uid, booking_id=7, start=at(60)), status="failed")


def fail_after_queueing_hit_of(monkeypatch, uid: str) -> None:
    """Queue the event's HIT, then break its savepoint the way a database error does."""
    from notifications import services

    def queue_then_fail(*, meeting, **kwargs):
        services.queue_hit_notifications(meeting=meeting, **kwargs)
        if meeting.cal_event_id == uid:
            with connection.cursor() as cursor:
                cursor.execute("SELECT * FROM no_such_table_in_vani")

    monkeypatch.setattr("webhooks.processing.queue_hit_notifications", queue_then_fail)


def test_a_rolled_back_hit_event_leaves_no_notification_and_the_others_are_queued_once(monkeypatch):
    meetings = created(["h0", "h1", "h2"])
    events = [
        store(booking("BOOKING_PAID", uid=uid, minutes=10 + i), status="failed")
        for i, uid in enumerate(["h0", "h1", "h2"])
    ]
    # A second delivery of the same payment later in the batch: the unique outbox key holds.
    events.append(store(booking("BOOKING_PAID", uid="h0", minutes=20), status="failed"))
    fail_after_queueing_hit_of(monkeypatch, "h1")

    after = run_claimed_batch(claims=claim(events))

    assert [e.status for e in after] == ["processed", "failed", "processed", "processed"]
    rows = Notification.objects.filter(kind="payment_received")
    assert sorted(rows.values_list("meeting__cal_event_id", flat=True)) == ["h0", "h2"]
    assert rows.get(meeting=meetings["h0"]).event_id == events[0].pk  # the first to ask wins
    assert all(row.status == NotificationStatus.PENDING for row in rows)
    assert Meeting.objects.get(cal_event_id="h1").payment_status != "paid"


def test_status_changes_are_written_for_every_changed_event_and_none_for_the_rolled_back_one(monkeypatch):
    created(["c0", "c1", "c2"])
    cancels = [
        store(booking("BOOKING_CANCELLED", uid=f"c{i}", minutes=10 + i), status="failed") for i in range(3)
    ]
    new = store(booking("BOOKING_CREATED", uid="c3", minutes=13), status="failed")
    before = MeetingStatusChange.objects.count()

    from meetings.services import apply as meeting_services

    real_apply = meeting_services.apply_calcom_event

    def apply_or_fail(*, event, **kwargs):
        result = real_apply(event=event, **kwargs)
        if event.uid == "c1":
            raise RuntimeError("after the status change was staged")
        return result

    monkeypatch.setattr("webhooks.processing.apply_calcom_event", apply_or_fail)

    after = run_claimed_batch(claims=claim([*cancels, new]))

    assert [e.status for e in after] == ["processed", "failed", "processed", "processed"]
    written = MeetingStatusChange.objects.order_by("id")[before:]
    assert [(c.meeting.cal_event_id, c.from_status, c.to_status, c.event_id) for c in written] == [
        ("c0", MeetingStatus.SCHEDULED, MeetingStatus.CANCELLED, cancels[0].pk),
        ("c2", MeetingStatus.SCHEDULED, MeetingStatus.CANCELLED, cancels[2].pk),
        ("c3", "", MeetingStatus.SCHEDULED, new.pk),
    ]
    assert Meeting.objects.get(cal_event_id="c1").status == MeetingStatus.SCHEDULED


def test_a_no_show_later_in_the_batch_withdraws_the_hit_an_earlier_event_queued():
    ended = ended_booking("n0")
    marked = store(no_show_body(uid="n0", created=at(100), marks={GUEST: True}), status="failed")

    after = run_claimed_batch(claims=claim([ended, marked]))

    assert [e.status for e in after] == [WebhookEventStatus.PROCESSED] * 2
    [row] = Notification.objects.filter(kind="meeting_completed")
    assert row.status == NotificationStatus.WITHDRAWN and row.next_attempt_at is None
    assert row.withdrawn_reason == "withdrawn: BOOKING_NO_SHOW_UPDATED marked a no-show before it was sent"


def test_a_rolled_back_no_show_withdraws_nothing(monkeypatch):
    ended = ended_booking("n1")
    marked = store(no_show_body(uid="n1", created=at(100), marks={GUEST: True}), status="failed")
    from notifications import services

    def withdraw_then_fail(**kwargs):
        services.withdraw_hit_notifications(**kwargs)
        raise RuntimeError("after the withdrawal was staged")

    monkeypatch.setattr("notifications.receivers.withdraw_hit_notifications", withdraw_then_fail)

    after = run_claimed_batch(claims=claim([ended, marked]))

    assert [e.status for e in after] == [WebhookEventStatus.PROCESSED, WebhookEventStatus.FAILED]
    [row] = Notification.objects.filter(kind="meeting_completed")
    assert row.status == NotificationStatus.PENDING and row.next_attempt_at is not None


@pytest.mark.parametrize("size", [2, 8])
def test_a_batch_writes_its_notifications_and_status_changes_in_statements_that_do_not_grow(size):
    uids = [f"q{size}-{i}" for i in range(size)]
    created(uids)
    events = [store(booking("BOOKING_PAID", uid=uid, minutes=10), status="failed") for uid in uids]
    events += [store(meeting_ended_body(uid=uid), status="failed") for uid in uids]
    claims = claim(events)
    qn = connection.ops.quote_name

    with CaptureQueriesContext(connection) as queries:
        after = run_claimed_batch(claims=claims)

    assert {e.status for e in after} == {WebhookEventStatus.PROCESSED}
    assert Notification.objects.count() == 2 * size
    assert MeetingStatusChange.objects.filter(to_status=MeetingStatus.COMPLETED).count() == size
    statements = [q["sql"] for q in queries]
    outbox = [sql for sql in statements if qn(Notification._meta.db_table) in sql]
    changes = [
        sql for sql in statements if sql.startswith(f"INSERT INTO {qn(MeetingStatusChange._meta.db_table)}")
    ]
    assert len(outbox) == 2  # one INSERT, one query for the rows to send
    assert len(changes) == 1
    # Per event what is left: its savepoint, and the meeting UPDATE when something changed.
    assert len(statements) <= 12 + 3 * len(events)


def test_a_clean_batch_takes_no_savepoint_and_a_failing_one_is_applied_again_with_savepoints(monkeypatch):
    created(["a0"])
    clean = [store(booking("BOOKING_CANCELLED", uid="a0", minutes=10), status="failed")]
    clean.append(store(booking("BOOKING_CREATED", uid="a1", minutes=11), status="failed"))

    claims = claim(clean)
    with CaptureQueriesContext(connection) as queries:
        after = run_claimed_batch(claims=claims)

    assert {e.status for e in after} == {WebhookEventStatus.PROCESSED}
    # The batch's transaction (a savepoint only inside the test's transaction), none per event.
    savepoints = [q["sql"] for q in queries if q["sql"].upper().startswith("SAVEPOINT")]
    assert len(savepoints) <= 1

    # A new booking, then a bad event: the first pass (its meeting inserted, then rolled back
    # with the batch) leaves nothing behind in memory; the second records the failure alone.
    events = [
        store(booking("BOOKING_CREATED", uid=f"b{i}", minutes=20 + i), status="failed") for i in range(3)
    ]
    real_apply = __import__("meetings.services.apply", fromlist=["x"]).apply_calcom_event
    passes = []

    def apply_or_fail(*, event, **kwargs):
        result = real_apply(event=event, **kwargs)
        passes.append(event.uid)
        if event.uid == "b1":
            raise RuntimeError("b1 is bad")
        return result

    monkeypatch.setattr("webhooks.processing.apply_calcom_event", apply_or_fail)

    after = run_claimed_batch(claims=claim(events))

    assert passes == ["b0", "b1", "b0", "b1", "b2"]
    assert [e.status for e in after] == ["processed", "failed", "processed"]
    meetings = {m.cal_event_id: m.pk for m in Meeting.objects.filter(cal_event_id__startswith="b")}
    assert set(meetings) == {"b0", "b2"}
    assert (after[0].meeting_id, after[2].meeting_id) == (meetings["b0"], meetings["b2"])
    assert after[1].meeting_id is None
    assert Notification.objects.count() == 0


def test_a_lost_race_to_insert_a_booking_is_settled_by_the_second_pass(monkeypatch):
    """Another worker inserted the booking between the lookup and the insert: without
    savepoints the unique uid aborts the first pass; the second finds and updates theirs."""
    created(["r0"])
    from meetings.services import apply as meeting_services
    from meetings.services.locks import BatchMeetingLocks

    real_lookup = meeting_services.lookup_booking
    lookups = []

    def lookup_missing_once(**kwargs):
        found = real_lookup(**kwargs)
        lookups.append(found.meeting_ids)
        if len(lookups) == 1:
            return dataclasses.replace(found, meeting_ids=[], uid_owners={})
        return found

    monkeypatch.setattr(meeting_services, "lookup_booking", lookup_missing_once)
    monkeypatch.setattr(
        "webhooks.batch_processing.lock_meetings_of_batch",
        lambda *, uids, emails, all_or_nothing: BatchMeetingLocks(all_or_nothing=all_or_nothing),
    )
    event = store(booking("BOOKING_CREATED", uid="r0", minutes=5, title="Renamed"), status="failed")

    [after] = run_claimed_batch(claims=claim([event]))

    assert after.status == WebhookEventStatus.PROCESSED
    assert len(lookups) >= 2  # the first pass lost the race
    assert Meeting.objects.filter(cal_event_id="r0").count() == 1
    assert after.meeting_id == Meeting.objects.get(cal_event_id="r0").pk


def test_a_batch_mails_the_targets_owner_as_one_by_one(settings):
    from django.contrib.auth.models import User

    from meetings.models import Target

    settings.HIT_CHANNELS = ["email", "log"]
    settings.HIT_NOTIFY_EMAILS = ["Sales@Vani.example.com"]
    owner = User.objects.create_user("alex", email="alex@vani.example.com", password="x")
    Target.objects.create(name="Priya Shah", email=GUEST, owner=owner)
    created(["o0"])
    [paid] = [store(booking("BOOKING_PAID", uid="o0", minutes=10), status="failed")]

    run_claimed_batch(claims=claim([paid]))

    assert sorted(Notification.objects.values_list("channel", "recipient")) == [
        ("email", "alex@vani.example.com"),
        ("email", "sales@vani.example.com"),
        ("log", "log"),
    ]
