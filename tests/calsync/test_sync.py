"""The Cal.com sync against the fake Cal.com API: mapping rows end to end, chains, HITs,
idempotence, dry runs, ordering against webhooks, paging, --uid and the watermark."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction

from calcom.parsing import parse_event
from calsync.models import SyncChange, SyncRun, SyncState
from meetings.models import BookingUid, Meeting, MeetingStatusChange
from meetings.services.apply import apply_calcom_event
from notifications.models import Notification
from tests.support.bodies import booking_body, booking_id_for
from tests.support.booking_api import api_booking


def put(server, **options):
    options.setdefault("booking_id", booking_id_for(options["uid"]))
    return server.put_booking(api_booking(**options))


def webhook(trigger, *, uid, created, **options):
    body = booking_body(trigger, uid=uid, created=created, **options)
    with transaction.atomic():
        return apply_calcom_event(event=parse_event(body))


def meeting(uid) -> Meeting:
    return Meeting.objects.get(uids__uid=uid)


# --- each mapping row, through the database ------------------------------------------------------

ROWS = [
    # (booking options relative to now in hours, status, cal_status)
    (dict(start=48, status="accepted"), "scheduled", "ACCEPTED"),
    (dict(start=48, status="pending"), "scheduled", "PENDING"),
    (dict(start=48, status="rejected"), "cancelled", "REJECTED"),
    (dict(start=48, status="cancelled"), "cancelled", "CANCELLED"),
    (dict(start=-2, status="accepted"), "completed", "ACCEPTED"),
    (dict(start=-2, status="accepted", absent=True), "no_show", "ACCEPTED"),
]


@pytest.mark.parametrize(("options", "status", "cal_status"), ROWS)
def test_each_row_on_a_meeting_that_webhooks_left_scheduled(
    calcom_server, now, sync, options, status, cal_status
):
    hours = options.pop("start")
    start = now + timedelta(hours=hours)
    webhook("BOOKING_CREATED", uid="R1", created=now - timedelta(days=3), start=start)
    put(
        calcom_server,
        uid="R1",
        start=start,
        created=now - timedelta(days=3),
        updated=now - timedelta(hours=3),
        **options,
    )

    report = sync()

    found = meeting("R1")
    assert (found.status, found.cal_status) == (status, cal_status)
    assert report.ok and report.bookings_read == 1
    changed_status = status != "scheduled"
    assert report.changed == (1 if (changed_status or cal_status != "ACCEPTED") else 0)
    if changed_status:
        change = found.status_changes.last()
        assert (change.to_status, change.source, change.event_id) == (status, "sync", None)
        assert SyncChange.objects.get(meeting=found).kind == status


def test_a_booking_never_delivered_creates_its_meeting(calcom_server, now, sync):
    put(calcom_server, uid="NEW", start=now + timedelta(days=2), created=now - timedelta(hours=1))

    report = sync()

    found = meeting("NEW")
    assert (found.status, found.cal_event_id, found.attendee_email) == (
        "scheduled",
        "NEW",
        "priya.shah@example.org",
    )
    assert found.start_time == now + timedelta(days=2)
    assert (report.created, report.changed, report.unchanged) == (1, 0, 0)
    assert list(found.status_changes.values_list("to_status", "source")) == [("scheduled", "sync")]
    assert SyncChange.objects.get().kind == "created"


# --- reschedule chains found only by the sync ----------------------------------------------------


def _chain(server, now):
    start = now + timedelta(days=3)
    put(
        server,
        uid="A",
        start=start,
        created=now - timedelta(days=5),
        updated=now - timedelta(days=4),
        status="cancelled",
        rescheduled_to="B",
    )
    put(
        server,
        uid="B",
        start=start + timedelta(hours=1),
        created=now - timedelta(days=4),
        updated=now - timedelta(days=2),
        status="cancelled",
        rescheduled_from="A",
        rescheduled_to="C",
    )
    put(
        server,
        uid="C",
        start=start + timedelta(hours=2),
        created=now - timedelta(days=2),
        updated=now - timedelta(days=2),
        rescheduled_from="B",
    )
    return start


def test_a_chain_a_b_c_found_by_the_sync_stays_one_meeting_on_the_newest_uid(calcom_server, now, sync):
    start = _chain(calcom_server, now)
    webhook("BOOKING_CREATED", uid="A", created=now - timedelta(days=5), start=start)

    report = sync()

    assert report.ok
    assert Meeting.objects.count() == 1
    found = meeting("A")
    assert (found.cal_event_id, found.status, found.start_time) == (
        "C",
        "scheduled",
        start + timedelta(hours=2),
    )
    assert set(BookingUid.objects.filter(meeting=found).values_list("uid", flat=True)) == {"A", "B", "C"}
    assert SyncChange.objects.filter(meeting=found, kind="rescheduled").exists()

    # A late webhook naming an old uid joins the meeting instead of splitting or cancelling it.
    webhook("BOOKING_CANCELLED", uid="B", created=now - timedelta(days=3))
    assert Meeting.objects.count() == 1 and meeting("B").status == "scheduled"


def test_uid_of_the_first_link_follows_the_chain_to_the_newest_booking(calcom_server, now, sync):
    _chain(calcom_server, now)

    report = sync(uids=["A"])

    assert report.ok and report.bookings_read == 3
    assert Meeting.objects.count() == 1 and meeting("A").cal_event_id == "C"


# --- ordering against webhooks -------------------------------------------------------------------


def test_a_stale_webhook_after_a_sync_does_not_move_the_meeting_back(calcom_server, now, sync):
    start = now + timedelta(days=2)
    webhook("BOOKING_CREATED", uid="S1", created=now - timedelta(days=2), start=start)
    put(
        calcom_server,
        uid="S1",
        start=start,
        created=now - timedelta(days=2),
        updated=now - timedelta(hours=5),
        status="cancelled",
        cancellation_reason="changed plans",
    )
    sync()
    assert meeting("S1").status == "cancelled"

    # A delayed BOOKING_CREATED (older than the cancellation the sync applied) is stale.
    result = webhook("BOOKING_CREATED", uid="S1", created=now - timedelta(hours=6), start=start)

    assert result.plan.ignored and "stale" in result.plan.ignored_reason
    assert meeting("S1").status == "cancelled" and meeting("S1").cancellation_reason == "changed plans"


def test_a_sync_never_undoes_a_newer_webhook(calcom_server, now, sync):
    start = now + timedelta(days=2)
    webhook("BOOKING_CREATED", uid="S2", created=now - timedelta(days=2), start=start)
    webhook("BOOKING_CANCELLED", uid="S2", created=now - timedelta(minutes=10))
    # The API answered from before the cancellation (a replica lagging, a read in flight).
    put(
        calcom_server,
        uid="S2",
        start=start,
        created=now - timedelta(days=2),
        updated=now - timedelta(hours=1),
    )

    report = sync()

    assert meeting("S2").status == "cancelled" and report.changed == 0 and report.unchanged == 1


# --- HIT notifications ---------------------------------------------------------------------------


def test_hit_once_for_a_completion_within_24_hours_and_never_for_older_ones(calcom_server, now, sync):
    put(calcom_server, uid="RECENT", start=now - timedelta(hours=2), created=now - timedelta(days=2))
    put(calcom_server, uid="OLD", start=now - timedelta(days=3), created=now - timedelta(days=5))

    first = sync(since=now - timedelta(days=10))
    second = sync(since=now - timedelta(days=10))

    assert meeting("RECENT").status == meeting("OLD").status == "completed"
    assert set(Notification.objects.values_list("meeting__cal_event_id", "kind")) == {
        ("RECENT", "meeting_completed")
    }
    count = Notification.objects.count()
    assert count >= 1
    assert (first.created, second.created, second.changed) == (2, 0, 0)
    assert Notification.objects.count() == count


# --- idempotence and dry runs --------------------------------------------------------------------


def _story(server, now):
    start = now + timedelta(days=1)
    webhook("BOOKING_CREATED", uid="I1", created=now - timedelta(days=2), start=start)
    put(
        server,
        uid="I1",
        start=start,
        created=now - timedelta(days=2),
        updated=now - timedelta(hours=1),
        status="cancelled",
        cancellation_reason="sick",
    )
    put(
        server,
        uid="I2",
        start=now - timedelta(hours=3),
        created=now - timedelta(days=2),
        updated=now - timedelta(hours=20),
    )
    _chain(server, now)


def _snapshot():
    return (
        list(Meeting.objects.order_by("id").values()),
        list(MeetingStatusChange.objects.order_by("id").values()),
        list(BookingUid.objects.order_by("id").values()),
        list(Notification.objects.order_by("id").values()),
        list(SyncChange.objects.order_by("id").values()),
    )


def test_a_second_run_changes_and_sends_nothing(calcom_server, now, sync):
    _story(calcom_server, now)
    first = sync()
    assert first.ok and first.changed + first.created >= 3
    before = _snapshot()

    second = sync()

    assert (second.changed, second.created, second.unchanged) == (0, 0, second.bookings_read)
    after = _snapshot()
    assert after[:4] == before[:4] and after[4] == before[4]


def test_dry_run_lists_the_changes_and_writes_nothing(calcom_server, now, sync, capsys):
    from django.core.management import call_command

    _story(calcom_server, now)
    before = _snapshot()
    state_before = list(SyncState.objects.values())

    call_command("sync_calcom_bookings", "--dry-run")

    out = capsys.readouterr().out.splitlines()
    assert out == [
        "C: created, status scheduled",  # the chain A→B→C: one meeting, on its newest uid
        "I2: created, status completed",
        "I1: status scheduled → cancelled, cal_status ACCEPTED → CANCELLED, cancellation_reason ∅ → sick",
        "read 5 bookings, changed 1 meetings, created 2, unchanged 0 (dry run: nothing written)",
    ]
    assert _snapshot() == before
    assert list(SyncState.objects.values()) == state_before and not SyncRun.objects.exists()


# --- paging, --uid --------------------------------------------------------------------------------


def test_paging_past_100_bookings(calcom_server, now, sync):
    for n in range(130):
        put(
            calcom_server,
            uid=f"P{n:03d}",
            start=now + timedelta(days=1, minutes=n),
            created=now - timedelta(hours=2),
            updated=now - timedelta(minutes=200 - n),
        )

    report = sync()

    assert (report.bookings_read, report.created) == (130, 130)
    assert Meeting.objects.count() == 130
    list_requests = [r for r in calcom_server.booking_requests if r.path == "/v2/bookings"]
    assert [r.query["skip"] for r in list_requests if "afterUpdatedAt" in r.query] == ["0", "100"]


def test_uid_syncs_only_those_bookings_and_names_an_unknown_one(calcom_server, now, sync, capsys):
    from django.core.management import CommandError, call_command

    put(calcom_server, uid="U1", start=now + timedelta(days=1), created=now - timedelta(hours=2))
    put(calcom_server, uid="U2", start=now + timedelta(days=1), created=now - timedelta(hours=2))
    put(calcom_server, uid="U3", start=now + timedelta(days=1), created=now - timedelta(hours=2))

    with pytest.raises(CommandError, match=r"not found in Cal\.com: MISSING"):
        call_command("sync_calcom_bookings", "--uid", "U1", "--uid", "MISSING", "--uid", "U3")

    assert set(Meeting.objects.values_list("cal_event_id", flat=True)) == {"U1", "U3"}
    assert "read 2 bookings, changed 0 meetings, created 2, unchanged 0" in capsys.readouterr().out
    assert not any(r.path == "/v2/bookings" for r in calcom_server.booking_requests)


# --- the watermark -----------------------------------------------------------------------------


def test_a_successful_plain_run_moves_the_watermark_to_the_last_update_applied(calcom_server, now, sync):
    put(
        calcom_server,
        uid="W1",
        start=now + timedelta(days=1),
        created=now - timedelta(hours=5),
        updated=now - timedelta(hours=4),
    )
    put(
        calcom_server,
        uid="W2",
        start=now + timedelta(days=1),
        created=now - timedelta(hours=5),
        updated=now - timedelta(hours=3),
    )

    sync()

    state = SyncState.objects.get()
    assert state.updated_through == now - timedelta(hours=3)
    assert state.ended_through == now
    calcom_server.clear_log()
    sync(at=now + timedelta(minutes=5))
    first = calcom_server.booking_requests[0].query
    assert first["afterUpdatedAt"] == (now - timedelta(hours=3, minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.mark.parametrize("request_options", [{"dry_run": True}, {"uids": ["W1"]}, {"since": "x"}])
def test_dry_run_uid_and_since_runs_leave_the_watermark(calcom_server, now, sync, request_options):
    put(
        calcom_server,
        uid="W1",
        start=now + timedelta(days=1),
        created=now - timedelta(hours=5),
        updated=now - timedelta(hours=4),
    )
    if request_options.get("since"):
        request_options = {"since": now - timedelta(days=1)}

    sync(**request_options)

    assert not SyncState.objects.filter(updated_through__isnull=False).exists()


def test_a_failed_run_keeps_what_it_applied_and_leaves_the_watermark(calcom_server, now, sync):
    for n in range(120):
        put(
            calcom_server,
            uid=f"F{n:03d}",
            start=now + timedelta(days=1),
            created=now - timedelta(hours=5),
            updated=now - timedelta(minutes=300 - n),
        )
    # The first page is answered, every later request fails (after the client's retries).
    calcom_server.add_route("GET", r"/v2/bookings", _fail_after_first_page(calcom_server))

    report = sync()

    assert not report.ok and "HTTP 503" in report.error
    assert Meeting.objects.count() == 100  # the first page's bookings stay applied
    assert not SyncState.objects.filter(updated_through__isnull=False).exists()
    run = SyncRun.objects.get()
    assert run.error and run.meetings_created == 100 and not run.succeeded


def _fail_after_first_page(server):
    from tests.support.fake_calcom import FakeCalCom, v2_error

    def handler(stub, request, match):
        if request.query.get("skip", "0") == "0":
            return FakeCalCom.v2_list_bookings(stub, request, match)
        return v2_error(status=503, code="ServiceUnavailableException", message="down", path=request.path)

    return handler


def test_a_lost_meeting_ended_is_healed_by_the_next_plain_run_without_since(calcom_server, now, sync):
    start = now + timedelta(minutes=30)
    webhook("BOOKING_CREATED", uid="E1", created=now - timedelta(days=2), start=start)
    put(
        calcom_server, uid="E1", start=start, created=now - timedelta(days=2), updated=now - timedelta(days=2)
    )
    sync()
    assert meeting("E1").status == "scheduled"

    # Two hours later the meeting has ended; the booking itself was never updated again.
    later = now + timedelta(hours=2)
    calcom_server.now = lambda: later
    report = sync(at=later)

    assert report.ok and meeting("E1").status == "completed"
    change = meeting("E1").status_changes.last()
    assert (change.to_status, change.source) == ("completed", "sync")
    assert meeting("E1").last_event_at == start + timedelta(minutes=30)
