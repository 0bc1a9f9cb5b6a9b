"""Operations commands: reprocess, prune, send_test_webhook, calcom_status."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from calcom.parsing import decode_body, parse_event
from calcom.samples import (
    PAYLOADS_DIR,
    build_sample_webhook_body,
    encode_webhook_body,
    new_sample_booking,
)
from calcom.triggers import DELIVERABLE_TRIGGERS, FLAT_TRIGGERS
from meetings.models import Meeting, MeetingStatusChange
from tests.support.bodies import fresh_booking_body as booking_body
from tests.support.delivery import WEBHOOK_URL
from tests.support.live import free_port
from webhooks.models import ProcessingAttempt, WebhookEvent, WebhookEventStatus

# Transactional: deliveries are processed on commit, as in production.
in_database = pytest.mark.django_db(transaction=True)


def run(command: str, *args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(command, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def set_status(event_id: int, status: str, **fields) -> None:
    WebhookEvent.objects.filter(pk=event_id).update(status=status, **fields)


# --- reprocess_webhook_events -----------------------------------------------------------------


@in_database
def test_reprocess_by_status_runs_failed_and_dead_events_again(deliver, database_tasks):
    # With the database backend and no worker, deliveries wait: nothing was applied yet.
    failed, dead, waiting = (deliver(booking_body()).json()["event_id"] for _ in range(3))
    set_status(failed, WebhookEventStatus.FAILED, last_error="boom")
    set_status(dead, WebhookEventStatus.DEAD, last_error="boom")

    out, err = run("reprocess_webhook_events", "--status", "failed,dead", "--progress")
    assert out.strip() == "reprocessed 2 event(s): processed 2"
    assert "reprocessing: 100%" in err  # the progress bar, on stderr
    for event_id in (failed, dead):
        event = WebhookEvent.objects.get(pk=event_id)
        assert event.status == WebhookEventStatus.PROCESSED
        assert event.processing_attempts.get().started_via == "command"
    assert WebhookEvent.objects.get(pk=waiting).attempts == 0  # not selected


@in_database
def test_reprocess_dry_run_changes_nothing(deliver):
    event_id = deliver(booking_body()).json()["event_id"]
    set_status(event_id, WebhookEventStatus.FAILED)
    out, _ = run("reprocess_webhook_events", "--status", "failed", "--dry-run")
    assert out.splitlines() == [
        "dry run: 1 event(s) would be reprocessed: failed 1",
        f"  #{event_id}",
    ]
    assert WebhookEvent.objects.get(pk=event_id).attempts == 1
    assert WebhookEvent.objects.get(pk=event_id).status == WebhookEventStatus.FAILED


@in_database
def test_reprocess_by_ids_needs_force_for_processed_events(deliver):
    body = booking_body()
    original = deliver(body).json()["event_id"]
    duplicate = deliver(body).json()["event_id"]
    rejected = deliver(booking_body(), signature="0" * 64).json()["event_id"]

    out, _ = run("reprocess_webhook_events", "--ids", f"{original},{duplicate},{rejected}")
    assert out.strip() == "reprocessed 3 event(s): not allowed 2, skipped 1"
    out, _ = run("reprocess_webhook_events", "--ids", str(original), "--force")
    assert out.strip() == "reprocessed 1 event(s): processed 1"
    assert WebhookEvent.objects.get(pk=original).attempts == 2
    assert MeetingStatusChange.objects.count() == 1  # replaying changed nothing twice


@in_database
def test_reprocess_by_trigger_and_time_range(deliver, database_tasks):
    cancelled = deliver(booking_body("BOOKING_CANCELLED")).json()["event_id"]
    created = deliver(booking_body()).json()["event_id"]
    old = deliver(booking_body("BOOKING_CANCELLED")).json()["event_id"]
    WebhookEvent.objects.filter(pk=old).update(received_at=timezone.now() - timedelta(days=3))
    for event_id in (cancelled, created, old):
        set_status(event_id, WebhookEventStatus.FAILED)

    out, _ = run(
        "reprocess_webhook_events",
        "--trigger",
        "booking_cancelled",
        "--since",
        "1d",
        "--until",
        (timezone.now() + timedelta(minutes=1)).isoformat(),
    )
    assert out.strip() == "reprocessed 1 event(s): processed 1"
    statuses = dict(WebhookEvent.objects.values_list("pk", "status"))
    assert statuses == {cancelled: "processed", created: "failed", old: "failed"}


@in_database
def test_reprocess_refuses_an_empty_selection_and_bad_input():
    with pytest.raises(CommandError, match="select something"):
        run("reprocess_webhook_events")
    with pytest.raises(CommandError, match="unknown status"):
        run("reprocess_webhook_events", "--status", "exploded")
    assert run("reprocess_webhook_events", "--status", "dead")[0].strip() == "no events match"


# --- prune_webhook_events ---------------------------------------------------------------------


def aged(event_id: int, days: int) -> int:
    WebhookEvent.objects.filter(pk=event_id).update(received_at=timezone.now() - timedelta(days=days))
    return event_id


@in_database
def test_prune_follows_retention_and_never_touches_unfinished_events(deliver, settings):
    settings.WEBHOOK_RETENTION_DAYS = {
        "processed": 90,
        "rejected": 7,
        "duplicate": 30,
        "ignored": 30,
    }
    old_processed = aged(deliver(booking_body()).json()["event_id"], 100)
    young_processed = aged(deliver(booking_body()).json()["event_id"], 10)
    old_rejected = aged(deliver(booking_body(), secret=None).json()["event_id"], 8)
    unfinished = {}
    for status in ("received", "processing", "failed", "dead"):
        event_id = aged(deliver(booking_body()).json()["event_id"], 400)
        set_status(event_id, status)
        unfinished[status] = event_id
    meeting_id = WebhookEvent.objects.get(pk=old_processed).meeting_id

    out, _ = run("prune_webhook_events", "--dry-run")
    assert "would delete 2 event(s)" in out
    assert WebhookEvent.objects.filter(pk=old_processed).exists()

    out, _ = run("prune_webhook_events", "--batch-size", "1")
    assert out.splitlines()[0] == (
        "deleted 2 event(s): duplicate 0 (older than 30 d), rejected 1 (older than 7 d), "
        "ignored 0 (older than 30 d), processed 1 (older than 90 d)"
    )
    # One transaction per batch: the longest is what any lock it takes can last.
    assert out.splitlines()[1].startswith("2 batch(es) of at most 1, one transaction each; longest ")
    remaining = set(WebhookEvent.objects.values_list("pk", flat=True))
    assert old_processed not in remaining and old_rejected not in remaining
    assert {young_processed, *unfinished.values()} <= remaining
    # Its attempts went with it; the meeting and its audit trail stay, unlinked.
    assert not ProcessingAttempt.objects.filter(event_id=old_processed).exists()
    assert Meeting.objects.filter(pk=meeting_id).exists()
    assert MeetingStatusChange.objects.filter(meeting_id=meeting_id, event__isnull=True).exists()


@pytest.mark.django_db
def test_prune_walks_the_ids_in_batches_and_misses_nothing():
    from devtools.demo.seeding import seed_demo_data
    from webhooks.retention import prunable_events, prune_webhook_events

    now = timezone.now()
    seed_demo_data(events=400, seed=31, now=now)
    retention = {"processed": 10, "duplicate": 10, "ignored": 10}
    expected = {
        status: prunable_events(status=status, days=days, now=now).count()
        for status, days in retention.items()
    }
    assert expected["processed"] > 50

    report = prune_webhook_events(retention_days=retention, now=now, batch_size=7)
    # Duplicates went first, so their originals may be prunable now: at least what was expected.
    assert report.by_status["processed"] >= expected["processed"]
    assert report.batches >= sum(expected.values()) // 7
    assert report.longest_batch_seconds > 0
    assert not any(
        prunable_events(status=status, days=days, now=now).exists() for status, days in retention.items()
    )


@in_database
def test_prune_keeps_an_original_while_a_duplicate_points_to_it(deliver, settings):
    settings.WEBHOOK_RETENTION_DAYS = {"processed": 90, "duplicate": 30}
    body, other = booking_body(), booking_body()
    kept_original = aged(deliver(body).json()["event_id"], 100)
    young_duplicate = aged(deliver(body).json()["event_id"], 5)
    gone_original = aged(deliver(other).json()["event_id"], 100)
    old_duplicate = aged(deliver(other).json()["event_id"], 40)

    out, _ = run("prune_webhook_events")
    assert "deleted 2 event(s): duplicate 1 (older than 30 d), processed 1 (older than 90 d)" in out
    assert "kept 1 expired event(s) that stored duplicates still point to" in out
    remaining = set(WebhookEvent.objects.values_list("pk", flat=True))
    assert remaining == {kept_original, young_duplicate}
    assert WebhookEvent.objects.get(pk=young_duplicate).duplicate_of_id == kept_original
    assert {gone_original, old_duplicate}.isdisjoint(remaining)


@in_database
def test_prune_rechecks_at_delete_time_and_reads_only_the_keys(deliver):
    from django.db import connection

    from webhooks.retention import prune_webhook_events

    requeued = aged(deliver(booking_body()).json()["event_id"], 100)
    aged(deliver(booking_body()).json()["event_id"], 100)
    statements = []

    def requeue_after_the_batch_is_chosen(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        statements.append(sql)
        if len(statements) == 1:  # the batch's ids, read outside its transaction
            set_status(requeued, "received")
        return result

    with connection.execute_wrapper(requeue_after_the_batch_is_chosen):
        report = prune_webhook_events(retention_days={"processed": 90}, now=timezone.now())

    assert report.by_status == {"processed": 1}
    assert set(WebhookEvent.objects.values_list("pk", flat=True)) == {requeued}
    # Deleting an event never loads its body (at 5M events, most of a batch's time).
    assert not [sql for sql in statements if "raw_body" in sql]


def test_prune_refuses_to_prune_unfinished_statuses():
    with pytest.raises(CommandError, match="failed events are never pruned"):
        run("prune_webhook_events", "--retention", "failed=1")
    with pytest.raises(CommandError, match="unknown status"):
        run("prune_webhook_events", "--retention", "finished=1")


# --- send_test_webhook ------------------------------------------------------------------------


@pytest.mark.parametrize("trigger", DELIVERABLE_TRIGGERS)
def test_sample_bodies_parse_and_name_their_booking(trigger):
    booking = new_sample_booking()
    raw = encode_webhook_body(build_sample_webhook_body(trigger=trigger, booking=booking))
    event = parse_event(decode_body(raw))
    assert event.trigger == trigger
    if trigger.startswith(("BOOKING_", "MEETING_", "AFTER_", "RECORDING_", "INSTANT_")):
        assert event.uid == booking.uid
    if event.is_flat:
        assert trigger in FLAT_TRIGGERS
    else:
        assert event.created_at is not None


@pytest.mark.parametrize(
    "trigger", [t for t in DELIVERABLE_TRIGGERS if (PAYLOADS_DIR / f"{t}.json").exists()]
)
def test_sample_bodies_use_only_fields_cal_com_sends(trigger):
    """Shaped on shared/calcom/payloads: no field Cal.com's own body for the trigger lacks."""
    ours = build_sample_webhook_body(trigger=trigger, booking=new_sample_booking())
    theirs = json.loads((PAYLOADS_DIR / f"{trigger}.json").read_text())
    assert set(ours) <= set(theirs)
    if isinstance(theirs.get("payload"), dict):
        assert set(ours["payload"]) <= set(theirs["payload"])


@in_database
def test_send_test_webhook_walks_a_booking_through_the_live_endpoint(live_server, webhook_secret):
    url = live_server.url + WEBHOOK_URL
    uid = "SendTestWebhookUid0001"
    out, _ = run("send_test_webhook", "BOOKING_CREATED", "--url", url, "--uid", uid)
    assert f"POST {url}  BOOKING_CREATED uid={uid}" in out
    assert "signed" in out
    answer = out.splitlines()[-1]
    assert answer.startswith("<- 200 in ")
    assert '"status": "processed"' in answer
    out, _ = run("send_test_webhook", "booking_cancelled", "--url", url, "--uid", uid)
    assert out.splitlines()[-1].startswith("<- 200 in ")

    meeting = Meeting.objects.get(cal_event_id=uid)
    assert meeting.status == "cancelled"
    events = WebhookEvent.objects.order_by("id")
    assert [(e.trigger_event, e.signature_result, e.status) for e in events] == [
        ("BOOKING_CREATED", "valid", "processed"),
        ("BOOKING_CANCELLED", "valid", "processed"),
    ]


@in_database
def test_send_test_webhook_reports_a_refusal(live_server, webhook_secret):
    with pytest.raises(CommandError, match="answered 401"):
        run("send_test_webhook", "PING", "--url", live_server.url + WEBHOOK_URL, "--unsigned")
    assert WebhookEvent.objects.get().signature_result == "no_secret_provided"


@in_database
def test_send_test_webhook_names_what_to_check_when_nothing_answers(settings):
    settings.PUBLIC_BASE_URL = f"http://127.0.0.1:{free_port()}"
    settings.CAL_COM_WEBHOOK_SECRET = settings.CAL_COM_WEBHOOK_SECRET_PROD = ""
    with pytest.raises(CommandError) as refused:
        run("send_test_webhook", "PING", "--timeout", "2")
    assert "make run" in str(refused.value) and "PUBLIC_BASE_URL" in str(refused.value)


@in_database
def test_send_test_webhook_defaults_to_the_public_url(settings, live_server, webhook_secret):
    settings.PUBLIC_BASE_URL = live_server.url
    out, _ = run("send_test_webhook", "MEETING_ENDED", "--print-body")
    body = json.loads(out.splitlines()[0])
    assert body["triggerEvent"] == "MEETING_ENDED" and "payload" not in body  # the flat shape
    assert f"POST {live_server.url}{WEBHOOK_URL}" in out
    assert out.splitlines()[-1].startswith("<- 200 in ")


# --- calcom_status ----------------------------------------------------------------------------


@in_database
def test_calcom_status_summarises_the_last_day(deliver, settings):
    settings.CAL_COM_API_KEY = ""
    processed = deliver(booking_body()).json()["event_id"]
    failed = deliver(booking_body()).json()["event_id"]
    set_status(failed, WebhookEventStatus.FAILED)
    dead = deliver(booking_body()).json()["event_id"]
    set_status(dead, WebhookEventStatus.DEAD)
    rejected = deliver(booking_body(), signature="0" * 64).json()["event_id"]

    out, _ = run("calcom_status")
    lines = dict(line.split(":", 1) for line in out.splitlines())
    assert lines["webhook URL"].strip() == settings.PUBLIC_BASE_URL + WEBHOOK_URL
    assert lines["signing secret"].strip() == "configured (CAL_COM_WEBHOOK_SECRET)"
    assert lines["last 24 hours"].strip() == "processed 1, failed 1, dead 1, rejected 1"
    assert lines["failed"].strip().startswith("1")
    assert lines["dead"].strip().startswith("1")
    assert lines["backlog"].strip().startswith("1 unfinished")
    assert lines["last delivery"].strip().startswith(f"#{rejected} - rejected")
    assert lines["last accepted"].strip().startswith(f"#{dead} BOOKING_CREATED dead")
    # The tool names the setting it lacks and where it reads it.
    assert (
        lines["registration"].strip().startswith("not checked: CAL_COM_API_KEY is not set (environment or ")
    )
    assert processed < failed

    out, _ = run("calcom_status", "--offline")
    assert "registration:    not checked (--offline)" in out


@pytest.mark.parametrize(
    ("size", "elapsed", "expected"),
    [
        (1000, 0.9, 500),  # too slow: halve
        (1, 3.0, 1),  # never below one event
        (250, 0.05, 500),  # quick: grow back
        (1000, 0.01, 1000),  # never above the requested size
        (500, 0.3, 500),  # within the target: keep
    ],
)
def test_prune_batch_size_follows_the_batch_time(size, elapsed, expected):
    from webhooks.retention import _next_batch_size

    assert _next_batch_size(size=size, elapsed=elapsed, limit=1000, target=0.5) == expected
