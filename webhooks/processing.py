"""Processing a stored delivery: claim it, apply it to its meeting, record the outcome.

One run is one ProcessingAttempt row. A run owns its event through a claim (`processing`,
committed before any work), applies the Cal.com event through meetings, queues HIT
notifications, and records the outcome in the same transaction as the meeting change. A failure
is stored on the event and retried later (retries.py) or settled at once when retrying cannot
help. The django-tasks task that runs one event is defined here, beside the function it runs.
"""

from __future__ import annotations

import logging
import time
import traceback as traceback_module
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone
from django_tasks import task

from calcom.parsing import CalComEvent
from common.logfields import log_fields
from meetings.models import Meeting
from meetings.services.apply import apply_calcom_event
from meetings.services.locks import BatchMeetingLocks
from meetings.status_mapping import BOOKING_TRIGGERS
from notifications.services import queue_hit_notifications

from .classification import BodyKind, ClassifiedBody, classify_body
from .models import (
    AttemptOutcome,
    AttemptTrigger,
    ProcessingAttempt,
    WebhookEvent,
    WebhookEventStatus,
)
from .retries import is_permanent_failure, next_attempt_at

logger = logging.getLogger("webhooks")

_UID_MAX_LENGTH = Meeting._meta.get_field("cal_event_id").max_length


class ProcessingMode(str, Enum):
    AUTO = "auto"  # a delivery or retry: only events still waiting to be processed
    REPROCESS = "reprocess"  # staff: also failed, dead and ignored events
    FORCE = "force"  # staff: also events already processed


RUNNABLE_STATUSES = {
    ProcessingMode.AUTO: {WebhookEventStatus.RECEIVED, WebhookEventStatus.FAILED},
    ProcessingMode.REPROCESS: {
        WebhookEventStatus.RECEIVED,
        WebhookEventStatus.FAILED,
        WebhookEventStatus.DEAD,
        WebhookEventStatus.IGNORED,
    },
    ProcessingMode.FORCE: {
        WebhookEventStatus.RECEIVED,
        WebhookEventStatus.FAILED,
        WebhookEventStatus.DEAD,
        WebhookEventStatus.IGNORED,
        WebhookEventStatus.PROCESSED,
    },
}
NEVER_PROCESSED = frozenset({WebhookEventStatus.REJECTED, WebhookEventStatus.DUPLICATE})


class ReprocessNotAllowed(Exception):
    """Rejected deliveries and duplicates are never processed."""


def process_event(
    *,
    event_id: int,
    via: AttemptTrigger,
    mode: ProcessingMode = ProcessingMode.AUTO,
    user=None,
) -> WebhookEvent:
    """Run one processing attempt of a stored event: parse, apply to its meeting, record.

    Safe to call any number of times and concurrently: the claim step lets one run at a time,
    and the meeting change, the notifications outbox and the event's outcome commit together.
    A failure never escapes: it is stored on the event and on the attempt row.
    """
    claim = _claim(event_id=event_id, via=via, mode=mode, user=user)
    if claim is None:
        return WebhookEvent.objects.get(pk=event_id)
    return run_claimed(claim=claim)


@dataclass(frozen=True)
class Claim:
    """An event this run owns: marked `processing`, its attempt row written and committed."""

    event: WebhookEvent  # loaded with its body
    attempt: ProcessingAttempt
    previous_status: str


class TakenOver(Exception):
    """The recovery sweep gave the event to another run while this one was queued."""


def run_claimed(*, claim: Claim) -> WebhookEvent:
    """Apply a claimed event and record the outcome, all in one transaction with the meeting."""
    event, attempt = claim.event, claim.attempt
    started = time.monotonic()
    try:
        with transaction.atomic():
            outcome, reason = _apply(event=event)
            now = timezone.now()
            recorded = recorded_columns(claim=claim, outcome=outcome, reason=reason, now=now)
            # Only what processing changes (rewriting the raw body would cost a megabyte at
            # worst), and only if this run still owns the event: the recovery sweep may have
            # handed it to another run meanwhile (this worker stalled). Then this run's
            # changes roll back and the other run's stand.
            still_ours = WebhookEvent.objects.filter(
                pk=event.pk, status=WebhookEventStatus.PROCESSING, attempts=attempt.number
            ).update(**recorded)
            if not still_ours:
                raise TakenOver
            for name, value in recorded.items():
                setattr(event, name, value)
            attempt.outcome = outcome
            attempt.error = reason
            attempt.finished_at = now
            attempt.save(update_fields=["outcome", "error", "finished_at"])
    except TakenOver:
        log_fields(
            logger=logger,
            level=logging.WARNING,
            what="webhook processing skipped",
            event_id=event.pk,
            attempt=attempt.number,
            via=attempt.started_via,
            outcome="taken over by another run",
        )
        return WebhookEvent.objects.get(pk=event.pk)
    except Exception as exc:
        event = record_failure(event_id=event.pk, attempt=attempt, exc=exc)
    log_fields(
        logger=logger,
        level=logging.INFO,
        what="webhook processing",
        event_id=event.pk,
        trigger=event.trigger_event,
        uid=event.booking_uid,
        attempt=attempt.number,
        via=attempt.started_via,
        outcome=event.status,
        duration_ms=(time.monotonic() - started) * 1000,
    )
    return event


def recorded_columns(
    *, claim: Claim, outcome: AttemptOutcome, reason: str, now: datetime
) -> dict[str, object]:
    """The event's columns a successful run writes."""
    # A forced replay of an applied event that no longer changes anything (later events
    # superseded it) leaves the event processed: its effect stands.
    replay_of_applied = claim.previous_status == WebhookEventStatus.PROCESSED
    return {
        "status": (
            WebhookEventStatus.PROCESSED
            if outcome == AttemptOutcome.PROCESSED or replay_of_applied
            else WebhookEventStatus.IGNORED
        ),
        "status_reason": reason,
        "processed_at": now,
        "last_error": "",
        "last_traceback": "",
        "next_attempt_at": None,
        "meeting_id": claim.event.meeting_id,
    }


def _claim(*, event_id: int, via: AttemptTrigger, mode: ProcessingMode, user) -> Claim | None:
    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update().get(pk=event_id)
        if event.status in NEVER_PROCESSED:
            raise ReprocessNotAllowed(
                f"event #{event.pk} is {event.status}; "
                f"{'rejected deliveries' if event.status == WebhookEventStatus.REJECTED else 'duplicates'}"
                " are never processed"
            )
        if event.status not in RUNNABLE_STATUSES[mode]:
            return None
        previous_status = event.status
        event.status = WebhookEventStatus.PROCESSING
        event.attempts += 1
        event.save(update_fields=["status", "attempts"])
        attempt = ProcessingAttempt.objects.create(
            event=event, number=event.attempts, started_via=via, started_by=user
        )
        return Claim(event=event, attempt=attempt, previous_status=previous_status)


def claim_received_batch(*, limit: int) -> list[Claim]:
    """Claim up to `limit` waiting deliveries, oldest first, in one short transaction.

    `FOR UPDATE SKIP LOCKED` lets any number of workers claim side by side without ever getting
    the same event (SQLite has one writer at a time and needs no row locks). A booking's
    deliveries are applied one at a time, in the order they arrived: an event is claimable
    only while no earlier event of its booking uid is waiting and none is being processed, so
    with several workers a BOOKING_PAID is not applied before the BOOKING_CREATED ahead of it
    (which would then be stored as stale).
    """
    # The same booking: its uid, or the uid it reschedules (that booking's earlier deliveries
    # come first). Chains of reschedules are ordered link by link.
    same_booking = WebhookEvent.objects.exclude(booking_uid="").filter(
        Q(booking_uid=OuterRef("booking_uid")) | Q(booking_uid=OuterRef("reschedule_uid"))
    )
    next_of_its_booking = Q(booking_uid="") | (
        ~Exists(same_booking.filter(status=WebhookEventStatus.PROCESSING))
        & ~Exists(same_booking.filter(status=WebhookEventStatus.RECEIVED, id__lt=OuterRef("id")))
    )
    with transaction.atomic():
        events = list(
            WebhookEvent.objects.select_for_update(skip_locked=True)
            .filter(next_of_its_booking, status=WebhookEventStatus.RECEIVED)
            .order_by("id")[:limit]
        )
        if not events:
            return []
        WebhookEvent.objects.filter(pk__in=[event.pk for event in events]).update(
            status=WebhookEventStatus.PROCESSING, attempts=F("attempts") + 1
        )
        for event in events:
            event.status = WebhookEventStatus.PROCESSING
            event.attempts += 1
        attempts = ProcessingAttempt.objects.bulk_create(
            ProcessingAttempt(event=event, number=event.attempts, started_via=_claimed_via(event))
            for event in events
        )
    return [
        Claim(event=event, attempt=attempt, previous_status=WebhookEventStatus.RECEIVED)
        for event, attempt in zip(events, attempts, strict=True)
    ]


def _claimed_via(event: WebhookEvent) -> AttemptTrigger:
    # A waiting event with a lease was handed back by the recovery sweep.
    return AttemptTrigger.RECOVERY if event.next_attempt_at is not None else AttemptTrigger.DELIVERY


def classify_event_body(*, event: WebhookEvent) -> ClassifiedBody:
    return classify_body(raw_body=bytes(event.raw_body), content_type=event.content_type)


def booking_uids_of(*, body: ClassifiedBody) -> list[str]:
    """The storable booking uids an event body names (what locks its meeting)."""
    if body.kind != BodyKind.EVENT or body.event is None:
        return []
    uids = (body.event.uid, body.event.reschedule_uid)
    return [uid for uid in uids if uid and len(uid) <= _UID_MAX_LENGTH]


def _apply(
    *,
    event: WebhookEvent,
    body: ClassifiedBody | None = None,
    locks: BatchMeetingLocks | None = None,
) -> tuple[AttemptOutcome, str]:
    if body is None:
        body = classify_event_body(event=event)
    if body.kind == BodyKind.UNUSABLE:
        return AttemptOutcome.IGNORED, body.reason
    parsed = body.event
    if body.kind == BodyKind.PING:
        outcome, reason = AttemptOutcome.PROCESSED, body.reason
    elif body.kind == BodyKind.UNKNOWN_TRIGGER:
        outcome, reason = AttemptOutcome.IGNORED, body.reason
    else:
        outcome, reason = _apply_parsed(event=event, parsed=parsed, locks=locks)
    return outcome, "; ".join(filter(None, (reason, *parsed.notes)))


def _apply_parsed(
    *, event: WebhookEvent, parsed: CalComEvent, locks: BatchMeetingLocks | None = None
) -> tuple[AttemptOutcome, str]:
    if len(parsed.uid) > _UID_MAX_LENGTH or len(parsed.reschedule_uid) > _UID_MAX_LENGTH:
        # A uid is the booking's identity: cutting it could merge two bookings.
        return AttemptOutcome.IGNORED, (
            f"booking uid longer than {_UID_MAX_LENGTH} characters: not a Cal.com uid, cannot be stored"
        )

    result = apply_calcom_event(event=parsed, source=event, locks=locks)
    if result.meeting is not None:
        event.meeting = result.meeting
    if result.plan.ignored:
        if result.meeting is None and parsed.trigger not in BOOKING_TRIGGERS:
            return AttemptOutcome.PROCESSED, f"recorded: {result.plan.ignored_reason}"
        return AttemptOutcome.IGNORED, result.plan.ignored_reason
    if result.plan.hit and result.meeting is not None:
        queue_hit_notifications(
            meeting=result.meeting,
            kind=result.plan.hit,
            trigger=event.trigger_event,
            event_id=event.pk,
            return_rows=False,
        )
    # A fact without a status change (a host no-show) is said on the event, in the timeline.
    return AttemptOutcome.PROCESSED, result.plan.note


def record_failure(*, event_id: int, attempt: ProcessingAttempt, exc: Exception) -> WebhookEvent:
    """Store a failed run; schedule the next attempt with backoff, or mark the event dead.

    Backends that can defer (django-tasks-db) get the retry enqueued for `next_attempt_at`;
    on the others (inline) the recovery sweep starts it once it is due.
    """
    error = f"{type(exc).__name__}: {exc}"[:2000]
    trace = "".join(traceback_module.format_exception(exc))[-20000:]
    try:
        event = _store_failure(
            event_id=event_id,
            attempt=attempt,
            error=error,
            trace=trace,
            permanent=is_permanent_failure(exc=exc),
        )
    except Exception:
        # Could not even record it (the database is gone): say what failed; the event stays
        # `processing` and the recovery sweep runs it again.
        log_fields(
            logger=logger,
            level=logging.ERROR,
            what="webhook processing failed",
            event_id=event_id,
            attempt=attempt.number,
            outcome="unrecorded",
            error=error,
        )
        raise
    log_fields(
        logger=logger,
        level=logging.ERROR,
        what="webhook processing failed",
        event_id=event_id,
        trigger=event.trigger_event,
        uid=event.booking_uid,
        attempt=attempt.number,
        outcome=event.status,
        next_attempt_at=event.next_attempt_at,
        error=error,
    )
    return event


def _store_failure(
    *, event_id: int, attempt: ProcessingAttempt, error: str, trace: str, permanent: bool
) -> WebhookEvent:
    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update().get(pk=event_id)
        now = timezone.now()
        if permanent:
            event.status = WebhookEventStatus.IGNORED
            event.status_reason = f"not retried: the database cannot hold this delivery ({error})"
            event.next_attempt_at = None
            event.processed_at = now
            event.last_error = error
            event.last_traceback = trace
            event.save(
                update_fields=[
                    "status",
                    "status_reason",
                    "next_attempt_at",
                    "processed_at",
                    "last_error",
                    "last_traceback",
                ]
            )
            ProcessingAttempt.objects.filter(pk=attempt.pk).update(
                outcome=AttemptOutcome.IGNORED, error=error, traceback=trace, finished_at=now
            )
            return event
        event.next_attempt_at = next_attempt_at(attempts=event.attempts, now=now)
        event.status = WebhookEventStatus.FAILED if event.next_attempt_at else WebhookEventStatus.DEAD
        event.last_error = error
        event.last_traceback = trace
        event.save(update_fields=["status", "next_attempt_at", "last_error", "last_traceback"])
        ProcessingAttempt.objects.filter(pk=attempt.pk).update(
            outcome=AttemptOutcome.FAILED, error=error, traceback=trace, finished_at=now
        )
        if event.status == WebhookEventStatus.FAILED and backend_can_defer():
            run_after = event.next_attempt_at
            transaction.on_commit(
                lambda: enqueue_processing_at(
                    event_id=event_id, via=AttemptTrigger.RETRY, run_after=run_after
                )
            )
    return event


# --- The task and its enqueueing ----------------------------------------------------------------


@task()
def process_webhook_event(event_id: int, via: str = AttemptTrigger.DELIVERY) -> str:
    """One event's processing run (backends other than django-tasks-db; see draining.py)."""
    return process_event(event_id=event_id, via=AttemptTrigger(via)).status


def enqueue_processing(*, event_id: int, via: AttemptTrigger = AttemptTrigger.DELIVERY) -> None:
    """Hand the event to the task backend (inline by default, db_worker in production).

    If enqueueing itself fails the event stays `received`; the recovery sweep picks it up.
    """
    try:
        process_webhook_event.enqueue(event_id=event_id, via=str(via))
    except Exception:
        logger.exception("could not enqueue processing of event_id=%s", event_id)


def backend_can_defer() -> bool:
    """Whether the task backend runs tasks later by itself (django-tasks-db: `run_after`)."""
    try:
        return bool(process_webhook_event.get_backend().supports_defer)
    except Exception:
        return False


def enqueue_processing_at(*, event_id: int, via: AttemptTrigger, run_after: datetime) -> None:
    """Enqueue a run for later. If that fails the event keeps its next_attempt_at and the
    recovery sweep starts it once it is overdue."""
    try:
        process_webhook_event.using(run_after=run_after).enqueue(event_id=event_id, via=str(via))
    except Exception:
        logger.exception("could not enqueue the retry of event_id=%s", event_id)
