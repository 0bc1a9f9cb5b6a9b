"""The recovery sweep: hand back what a healthy pipeline would have finished by now.

Run by `manage.py recover_webhook_events` (a supervised loop or a cron line, see README
"Operations"); it covers what no task will ever come back for: a lost enqueue, a worker killed
mid-run (or mid-batch), a retry task that was lost.

Stuck events go back to `received`, the state of a fresh delivery, and through the same path
as fresh ones: with django-tasks-db one drain task claims them, each booking's events one at a
time in arrival order (`claim_received_batch`); with the other backends one task per event,
enqueued in arrival order (inline: run in that order). The sweep never runs them in its own
order, which would apply a booking's later delivery first and store the earlier ones as stale.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from common.logfields import log_fields

from .draining import enqueue_drain_now, queue_is_in_this_database
from .models import AttemptOutcome, AttemptTrigger, ProcessingAttempt, WebhookEvent, WebhookEventStatus
from .processing import backend_can_defer, enqueue_processing

logger = logging.getLogger("webhooks")

_ABANDONED_RUN = "the worker stopped during this attempt (killed, crashed or lost its database)"
_RECOVERY_BATCH_SIZE = 500


@dataclass(frozen=True)
class _StuckEvent:
    id: int
    status: str
    attempts: int


def recover_stuck_events(*, older_than: timedelta) -> int:
    """Hand back what a healthy pipeline would have finished by now; returns how many.

    - `received` for longer than `older_than`: its drain or task was lost (the process died
      between commit and enqueue, or the task backend was down).
    - `processing` whose last attempt started more than `older_than` ago: its worker died
      mid-run (or stalled: a run that was taken over finds out when it records its outcome
      and rolls back, see `run_claimed`). The abandoned attempt is closed as failed and the
      event is `received` again; an event whose runs keep killing workers is `dead` after
      WEBHOOK_MAX_ATTEMPTS.
    - `failed` with its retry due: as soon as it is due when the backend cannot defer (inline);
      on django-tasks-db, which runs the scheduled retry itself, only once it is overdue by
      `older_than` (the retry task was lost).
    Every event handed back gets `next_attempt_at = now + older_than` as a lease, so
    overlapping sweeps (several hosts, a cron line beside a loop) do not hand it back twice;
    on a `received` event the lease also marks its next attempt as a recovery.
    """
    now = timezone.now()
    cutoff = now - older_than
    retry_cutoff = cutoff if backend_can_defer() else now
    lease_free = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lt=now)
    received = WebhookEvent.objects.filter(
        lease_free, status=WebhookEventStatus.RECEIVED, received_at__lte=cutoff
    )
    processing = (
        WebhookEvent.objects.filter(lease_free, status=WebhookEventStatus.PROCESSING)
        .annotate(last_started=Max("processing_attempts__started_at"))
        .filter(Q(last_started__lte=cutoff) | Q(last_started__isnull=True, received_at__lte=cutoff))
    )
    failed = WebhookEvent.objects.filter(status=WebhookEventStatus.FAILED).filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lt=retry_cutoff)
    )
    candidates = sorted(
        {
            _StuckEvent(*row)
            for queryset in (received, processing, failed)
            for row in queryset.order_by().values_list("id", "status", "attempts")
        },
        key=lambda stuck: stuck.id,
    )
    recovered = dead = 0
    for start in range(0, len(candidates), _RECOVERY_BATCH_SIZE):
        batch = candidates[start : start + _RECOVERY_BATCH_SIZE]
        batch_recovered, batch_dead = _recover_batch(
            batch=batch, now=now, retry_cutoff=retry_cutoff, lease=now + older_than
        )
        recovered += batch_recovered
        dead += batch_dead
    if candidates:
        log_fields(
            logger=logger,
            level=logging.WARNING,
            what="webhook recovery",
            found=len(candidates),
            recovered=recovered,
            dead=dead,
            older_than_s=older_than.total_seconds(),
        )
    return recovered


def _recover_batch(
    *, batch: list[_StuckEvent], now: datetime, retry_cutoff: datetime, lease: datetime
) -> tuple[int, int]:
    expected = {stuck.id: stuck for stuck in batch}
    handed_back: list[int] = []  # back to `received`, in arrival order
    retried = dead = 0
    with transaction.atomic():
        # Rows locked by a live run, or by another sweep, are skipped; a row that changed since
        # it was selected (claimed again, finished) is left alone. Arrival order (the model's
        # default is newest first): the inline backend runs the tasks in the order they are
        # enqueued.
        locked = (
            WebhookEvent.objects.select_for_update(skip_locked=True).filter(pk__in=expected).order_by("id")
        )
        for event in locked:
            stuck = expected[event.pk]
            if (event.status, event.attempts) != (stuck.status, stuck.attempts):
                continue
            # Another sweep may have leased it in between.
            due_by = retry_cutoff if event.status == WebhookEventStatus.FAILED else now
            if event.next_attempt_at is not None and event.next_attempt_at >= due_by:
                continue
            fields = ["next_attempt_at"]
            if event.status == WebhookEventStatus.PROCESSING:
                abandoned = ProcessingAttempt.objects.filter(
                    event=event, outcome=AttemptOutcome.RUNNING
                ).update(outcome=AttemptOutcome.FAILED, error=_ABANDONED_RUN, finished_at=now)
                event.last_error = f"attempt {event.attempts}: {_ABANDONED_RUN}"
                fields.append("last_error")
                if abandoned and event.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
                    event.status = WebhookEventStatus.DEAD
                    event.next_attempt_at = None
                    event.save(update_fields=[*fields, "status"])
                    dead += 1
                    continue
                # Waiting again, like a fresh delivery: it holds back its booking's later
                # deliveries until it has been applied.
                event.status = WebhookEventStatus.RECEIVED
                fields.append("status")
            event.next_attempt_at = lease
            event.save(update_fields=fields)
            if event.status == WebhookEventStatus.FAILED:
                transaction.on_commit(
                    lambda event_id=event.pk: enqueue_processing(event_id=event_id, via=AttemptTrigger.RETRY)
                )
                retried += 1
            else:
                handed_back.append(event.pk)
        if handed_back:
            _request_processing(event_ids=handed_back)
    return len(handed_back) + retried, dead


def _request_processing(*, event_ids: list[int]) -> None:
    """Have events that are `received` again processed the way fresh deliveries are."""
    if queue_is_in_this_database():
        # One drain, committed with the events it is for: it claims them per booking in
        # arrival order. If it cannot be enqueued the batch rolls back and stays stuck.
        enqueue_drain_now()
        return
    for event_id in event_ids:
        transaction.on_commit(
            lambda event_id=event_id: enqueue_processing(event_id=event_id, via=AttemptTrigger.RECOVERY)
        )
