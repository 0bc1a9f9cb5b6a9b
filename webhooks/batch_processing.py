"""Applying a claimed batch of events in one transaction, one bad event rolling back alone.

The drain (draining.py) and staff reprocess jobs (reprocessing.py) claim events in batches; this
applies such a batch the way `run_claimed` applies one event, with what a run costs per event
shared by the batch: one commit, one lock query for all the batch's meetings (taken in id order,
so two batches never wait on each other in a cycle), one INSERT for the status changes and one
for the HIT outbox rows (then one query for the rows to send), one UPDATE for the events'
outcomes and one for their attempts.

Events are applied in id order, so a booking's deliveries take effect in the order they arrived.
The batch is applied all or nothing first, without a savepoint per event (nearly every batch
succeeds whole). If anything raises, that pass rolls back, the claims' objects are restored in
memory, and the batch is applied again with each event in a savepoint: one that raises rolls
back alone (with the status changes and notifications it asked for), and its failure is
recorded in the batch's transaction exactly as `record_failure` records a single run's
(backoff, traceback on the event and the attempt, the retry enqueued once the batch commits).
The batch's event rows are locked first, so the recovery sweep cannot hand one to another run
meanwhile; an event it already handed on (no longer `processing` with this attempt) is left
alone. Should the batch's transaction itself fail (the database, not an event), each claim is
run on its own instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from common.logfields import log_fields
from common.sql_rows import update_rows
from meetings.services.locks import BatchMeetingLocks, lock_meetings_of_batch
from notifications.batching import HitBatch, hit_batch

from .classification import ClassifiedBody
from .models import AttemptTrigger, ProcessingAttempt, WebhookEvent, WebhookEventStatus
from .processing import (
    NEVER_PROCESSED,
    RUNNABLE_STATUSES,
    Claim,
    ProcessingMode,
    _apply,
    booking_uids_of,
    classify_event_body,
    record_failure,
    recorded_columns,
    run_claimed,
)

logger = logging.getLogger("webhooks")

_EVENT_COLUMNS = (
    "status",
    "status_reason",
    "processed_at",
    "last_error",
    "last_traceback",
    "next_attempt_at",
    "meeting",
)


@dataclass
class _Run:
    claim: Claim
    taken_over: bool = False
    failed: WebhookEvent | None = None  # the event as its failure was recorded


def run_claimed_batch(*, claims: Sequence[Claim]) -> list[WebhookEvent]:
    """Apply claimed events (in id order) in one transaction; returns the events afterwards.

    Never raises for an event's failure: it is stored on the event and its attempt.
    """
    claims = sorted(claims, key=lambda claim: claim.event.pk)
    if not claims:
        return []
    started = time.monotonic()
    bodies: dict[int, ClassifiedBody] = {}  # classified once, by the first pass
    before = [_Snapshot.of(claim) for claim in claims]
    try:
        # All or nothing first: no savepoint per event (two statements each) while every event
        # succeeds, which is nearly always.
        runs = _apply_in_one_transaction(claims=claims, bodies=bodies, savepoints=False)
    except Exception as exc:
        # An event (or the database) failed and took the whole batch with it: apply it again,
        # each event in a savepoint, so that the failure is recorded on that event alone.
        logger.info(
            "webhook batch of %s events: %s; applying it again, each event in a savepoint",
            len(claims),
            type(exc).__name__,
        )
        for snapshot in before:
            snapshot.restore()
        try:
            runs = _apply_in_one_transaction(claims=claims, bodies=bodies, savepoints=True)
        except Exception:
            logger.exception(
                "webhook batch of %s events failed as a whole; running them one by one", len(claims)
            )
            for snapshot in before:
                snapshot.restore()
            return [run_claimed(claim=claim) for claim in claims]
    duration_ms = (time.monotonic() - started) * 1000 / len(claims)
    events: list[WebhookEvent] = []
    for run in runs:
        event, attempt = run.claim.event, run.claim.attempt
        if run.taken_over:
            log_fields(
                logger=logger,
                level=logging.WARNING,
                what="webhook processing skipped",
                event_id=event.pk,
                attempt=attempt.number,
                via=attempt.started_via,
                outcome="taken over by another run",
            )
            events.append(WebhookEvent.objects.get(pk=event.pk))
            continue
        if run.failed is not None:
            events.append(run.failed)
            continue
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
            duration_ms=duration_ms,
        )
        events.append(event)
    return events


@dataclass(frozen=True)
class _Snapshot:
    """What applying changes on a claim's objects in memory, to undo it after a rollback."""

    claim: Claim
    event_values: dict[str, object]
    attempt_values: dict[str, object]

    @classmethod
    def of(cls, claim: Claim) -> _Snapshot:
        return cls(
            claim=claim,
            event_values={name: getattr(claim.event, name) for name in _EVENT_ATTRIBUTES},
            attempt_values={name: getattr(claim.attempt, name) for name in _ATTEMPT_ATTRIBUTES},
        )

    def restore(self) -> None:
        for name, value in self.event_values.items():
            setattr(self.claim.event, name, value)
        self.claim.event._state.fields_cache.pop("meeting", None)
        for name, value in self.attempt_values.items():
            setattr(self.claim.attempt, name, value)


_EVENT_ATTRIBUTES = (*(name for name in _EVENT_COLUMNS if name != "meeting"), "meeting_id")
_ATTEMPT_ATTRIBUTES = ("outcome", "error", "finished_at")


def _apply_in_one_transaction(
    *, claims: list[Claim], bodies: dict[int, ClassifiedBody], savepoints: bool
) -> list[_Run]:
    if len(bodies) != len(claims):
        bodies.update((claim.event.pk, classify_event_body(event=claim.event)) for claim in claims)
    with transaction.atomic(), hit_batch() as hits:
        return _apply_batch(claims=claims, bodies=bodies, hits=hits, savepoints=savepoints)


def _apply_batch(
    *, claims: list[Claim], bodies: dict[int, ClassifiedBody], hits: HitBatch, savepoints: bool
) -> list[_Run]:
    # Still ours: `processing` with this run's attempt number, locked until the batch commits.
    current = dict(
        WebhookEvent.objects.select_for_update()
        .filter(pk__in=[claim.event.pk for claim in claims], status=WebhookEventStatus.PROCESSING)
        .order_by("id")
        .values_list("id", "attempts")
    )
    locks = lock_meetings_of_batch(
        all_or_nothing=not savepoints,
        uids=[uid for body in bodies.values() for uid in booking_uids_of(body=body)],
        emails=[
            attendee.email
            for body in bodies.values()
            if body.event is not None
            for attendee in body.event.attendees
        ],
    )
    runs = [_Run(claim=claim) for claim in claims]
    applied: list[tuple[_Run, dict[str, object]]] = []
    for run in runs:
        event, attempt = run.claim.event, run.claim.attempt
        if current.get(event.pk) != attempt.number:
            run.taken_over = True
            continue
        if not savepoints:
            # An error here rolls back the whole batch (the caller then runs it with savepoints).
            outcome, reason = _apply(event=event, body=bodies[event.pk], locks=locks)
        else:
            try:
                with transaction.atomic():
                    outcome, reason = _apply(event=event, body=bodies[event.pk], locks=locks)
            except Exception as exc:
                # The savepoint is gone, and with it whatever the event changed in memory, the
                # status changes and HIT notifications it asked for.
                locks.clear()
                hits.discard_event()
                run.failed = record_failure(event_id=event.pk, attempt=attempt, exc=exc)
                continue
        locks.keep_event()
        hits.keep_event()
        now = timezone.now()
        recorded = recorded_columns(claim=run.claim, outcome=outcome, reason=reason, now=now)
        attempt.outcome, attempt.error, attempt.finished_at = outcome, reason, now
        applied.append((run, recorded))
    # What every event asked to write, in one statement per table: the status changes and
    # the HIT outbox rows (then one query for the rows to send).
    locks.write_status_changes()
    hits.write(meeting_id_of=locks.current_meeting_id)
    _write_outcomes(applied=applied, locks=locks)
    return runs


def _write_outcomes(*, applied: list[tuple[_Run, dict[str, object]]], locks: BatchMeetingLocks) -> None:
    """The successful runs' event columns and attempts, one UPDATE each."""
    if not applied:
        return
    for run, recorded in applied:
        # A later event of the batch may have merged this event's meeting into another.
        recorded["meeting_id"] = locks.current_meeting_id(recorded["meeting_id"])  # type: ignore[arg-type]
        for name, value in recorded.items():
            setattr(run.claim.event, name, value)
    events = [run.claim.event for run, _ in applied]
    attempts = [run.claim.attempt for run, _ in applied]
    update_rows(model=WebhookEvent, objects=events, fields=_EVENT_COLUMNS)
    update_rows(model=ProcessingAttempt, objects=attempts, fields=("outcome", "error", "finished_at"))


@dataclass(frozen=True)
class ClaimedSelection:
    """A staff batch claimed: the runs it owns, and what became of the other ids."""

    claims: list[Claim]
    not_runnable: list[int]  # not runnable in this mode, being processed, or locked by a run
    refused: list[int]  # rejected deliveries and duplicates: never processed
    missing: list[int]  # deleted meanwhile


def claim_events(
    *, event_ids: Sequence[int], mode: ProcessingMode, via: AttemptTrigger, user=None
) -> ClaimedSelection:
    """Claim these events for a staff run in one short transaction, as `process_event` claims one.

    `FOR UPDATE SKIP LOCKED`: an event another run holds right now is being processed, so it is
    not runnable, as it would be once that run had marked it. The attempts are written in bulk.
    """
    ids = sorted(set(event_ids))
    with transaction.atomic():
        events = list(
            WebhookEvent.objects.select_for_update(skip_locked=True).filter(pk__in=ids).order_by("id")
        )
        locked_ids = {event.pk for event in events}
        existing = set(WebhookEvent.objects.filter(pk__in=ids).values_list("id", flat=True))
        refused = [event.pk for event in events if event.status in NEVER_PROCESSED]
        runnable = [event for event in events if event.status in RUNNABLE_STATUSES[mode]]
        previous = {event.pk: event.status for event in runnable}
        if runnable:
            WebhookEvent.objects.filter(pk__in=[event.pk for event in runnable]).update(
                status=WebhookEventStatus.PROCESSING, attempts=F("attempts") + 1
            )
            for event in runnable:
                event.status = WebhookEventStatus.PROCESSING
                event.attempts += 1
        attempts = ProcessingAttempt.objects.bulk_create(
            ProcessingAttempt(event=event, number=event.attempts, started_via=via, started_by=user)
            for event in runnable
        )
    run_ids = set(previous)
    return ClaimedSelection(
        claims=[
            Claim(event=event, attempt=attempt, previous_status=previous[event.pk])
            for event, attempt in zip(runnable, attempts, strict=True)
        ],
        not_runnable=[pk for pk in ids if pk in existing and pk not in run_ids and pk not in set(refused)],
        refused=refused,
        missing=[pk for pk in ids if pk not in existing and pk not in locked_ids],
    )
