"""Staff reprocessing of stored webhook events: one event, a selection, or a background job.

Every run is a ProcessingAttempt row with the staff user, and the notifications outbox keeps a
replay from notifying twice. One event, the admin's page of events and the
`reprocess_webhook_events` command run event by event through `reprocess_event`, the worker's
own path (processing.py). A background job, made for replaying everything after a fix, claims
each batch of its selection at once and applies it in one transaction (`reprocess_batch`,
batch_processing.py). The job's django-tasks task is defined here, beside the function it runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone
from django_tasks import task

from notifications.services import collect_sending

from .batch_processing import claim_events, run_claimed_batch
from .daily_counts import forget_daily_event_counts
from .models import (
    AttemptTrigger,
    ReprocessJob,
    ReprocessJobStatus,
    WebhookEvent,
    WebhookEventStatus,
)
from .processing import RUNNABLE_STATUSES, ProcessingMode, ReprocessNotAllowed, process_event
from .selectors import EventFilter, reprocess_selection_events

logger = logging.getLogger("webhooks")

# Events a job runs between two progress updates (and checks for cancellation).
JOB_BATCH_SIZE = 100


def runnable_statuses(*, force: bool) -> frozenset[str]:
    """Statuses a staff reprocess runs: failed/dead/ignored/received, plus processed when forced."""
    mode = ProcessingMode.FORCE if force else ProcessingMode.REPROCESS
    return frozenset(str(status) for status in RUNNABLE_STATUSES[mode])


def reprocess_event(
    *, event_id: int, user=None, force: bool = False, via: AttemptTrigger = AttemptTrigger.ADMIN
) -> WebhookEvent:
    """Staff replay of one event (admin, API, command), through the same path as the worker."""
    return process_event(
        event_id=event_id,
        via=via,
        mode=ProcessingMode.FORCE if force else ProcessingMode.REPROCESS,
        user=user,
    )


@dataclass(frozen=True)
class ReprocessOutcome:
    event_id: int
    ran: bool  # False: not runnable in this mode (e.g. already processed), or refused
    status: str  # the event's status afterwards
    refusal: str = ""  # why it can never be reprocessed (rejected delivery, duplicate)


def reprocess_one(
    *, event_id: int, user=None, force: bool = False, via: AttemptTrigger = AttemptTrigger.ADMIN
) -> ReprocessOutcome:
    attempts_before = WebhookEvent.objects.values_list("attempts", flat=True).get(pk=event_id)
    try:
        event = reprocess_event(event_id=event_id, user=user, force=force, via=via)
    except ReprocessNotAllowed as exc:
        status = WebhookEvent.objects.values_list("status", flat=True).get(pk=event_id)
        return ReprocessOutcome(event_id=event_id, ran=False, status=status, refusal=str(exc))
    return ReprocessOutcome(event_id=event_id, ran=event.attempts > attempts_before, status=event.status)


# What became of an event in a bulk run, besides the status a run left it in.
SKIPPED = "skipped"  # not runnable in this mode (e.g. processed, not forced) or being processed
NOT_ALLOWED = "not allowed"  # rejected deliveries and duplicates
MISSING = "missing"  # deleted meanwhile
_NOT_RUN = (SKIPPED, NOT_ALLOWED, MISSING)


@dataclass
class BulkReprocessSummary:
    """How many events of a bulk run ended how: by status after the run, or SKIPPED,
    NOT_ALLOWED, MISSING."""

    outcomes: dict[str, int] = field(default_factory=dict)

    def add(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    @property
    def failed(self) -> int:
        return self.outcomes.get(WebhookEventStatus.FAILED, 0)

    @property
    def ignored(self) -> int:
        return self.outcomes.get(WebhookEventStatus.IGNORED, 0)

    @property
    def processed(self) -> int:
        """Runs that ended neither failed nor ignored."""
        return self.ran - self.failed - self.ignored

    @property
    def ran(self) -> int:
        return sum(count for name, count in self.outcomes.items() if name not in _NOT_RUN)

    @property
    def not_runnable(self) -> int:
        return self.outcomes.get(SKIPPED, 0) + self.outcomes.get(MISSING, 0)

    @property
    def refused(self) -> int:
        return self.outcomes.get(NOT_ALLOWED, 0)


def reprocess_events(
    *,
    event_ids: Iterable[int],
    user=None,
    force: bool = False,
    via: AttemptTrigger = AttemptTrigger.ADMIN,
    on_event: Callable[[int, str], None] | None = None,
) -> BulkReprocessSummary:
    """Replay events one by one through `reprocess_event`, in the order given (each id once).

    `on_event(event_id, outcome)` is called after each one (a progress bar).
    """
    summary = BulkReprocessSummary()
    for event_id in dict.fromkeys(event_ids):
        attempts_before = WebhookEvent.objects.filter(pk=event_id).values_list("attempts", flat=True).first()
        if attempts_before is None:
            outcome = MISSING
        else:
            try:
                event = reprocess_event(event_id=event_id, user=user, force=force, via=via)
            except ReprocessNotAllowed:
                outcome = NOT_ALLOWED
            else:
                outcome = event.status if event.attempts > attempts_before else SKIPPED
        summary.add(outcome)
        if on_event is not None:
            on_event(event_id, outcome)
    return summary


def reprocess_batch(
    *, event_ids: Iterable[int], user=None, force: bool = False, via: AttemptTrigger = AttemptTrigger.ADMIN
) -> BulkReprocessSummary:
    """Replay events as one batch: one claim transaction, then one transaction applying them in
    id order (batch_processing.py: all or nothing, again a savepoint per event if one fails).
    Counts as `reprocess_events` does.

    The batch's HIT notifications go out as one task once it is done.
    """
    mode = ProcessingMode.FORCE if force else ProcessingMode.REPROCESS
    summary = BulkReprocessSummary()
    claimed = claim_events(event_ids=list(event_ids), mode=mode, via=via, user=user)
    for outcome, ids in (
        (SKIPPED, claimed.not_runnable),
        (NOT_ALLOWED, claimed.refused),
        (MISSING, claimed.missing),
    ):
        for _ in ids:
            summary.add(outcome)
    with collect_sending():
        for event in run_claimed_batch(claims=claimed.claims):
            summary.add(event.status)
    return summary


# --- Background jobs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ReprocessSelection:
    """The events a bulk run is about: explicit ids, or a frozen admin filter up to an id."""

    event_ids: tuple[int, ...] = ()
    event_filter: EventFilter | None = None
    max_event_id: int = 0

    def events(self):
        return reprocess_selection_events(
            event_ids=self.event_ids, event_filter=self.event_filter, max_event_id=self.max_event_id
        )

    def runnable_events(self, *, force: bool):
        return self.events().filter(status__in=runnable_statuses(force=force))


def selection_of_ids(*, event_ids: Iterable[int]) -> ReprocessSelection:
    ids = tuple(sorted({int(event_id) for event_id in event_ids}))
    return ReprocessSelection(event_ids=ids, max_event_id=ids[-1] if ids else 0)


def selection_of_filter(
    *, event_filter: EventFilter, now=None, max_event_id: int | None = None
) -> ReprocessSelection:
    """Freeze what is on screen now: later deliveries and a moving time window stay out."""
    if max_event_id is None:
        max_event_id = WebhookEvent.objects.aggregate(top=Max("id"))["top"] or 0
    return ReprocessSelection(
        event_filter=event_filter.frozen(now=now or timezone.now()), max_event_id=max_event_id
    )


def create_reprocess_job(*, selection: ReprocessSelection, user=None, force: bool = False) -> ReprocessJob:
    """Record the job and hand it to the task backend once the row is committed."""
    with transaction.atomic():
        job = ReprocessJob.objects.create(
            force=force,
            event_ids=list(selection.event_ids),
            event_filter=selection.event_filter.as_json() if selection.event_filter else {},
            max_event_id=selection.max_event_id,
            total=selection.runnable_events(force=force).count(),
            created_by=user,
        )
        job_id = job.pk
        transaction.on_commit(lambda: enqueue_reprocess_job(job_id=job_id))
    logger.info(
        "reprocess job created job_id=%s total=%s force=%s by=%s",
        job.pk,
        job.total,
        force,
        getattr(user, "pk", None),
    )
    return job


def enqueue_reprocess_job(*, job_id: int) -> None:
    try:
        run_reprocess_job_task.enqueue(job_id=job_id)
    except Exception as exc:
        logger.exception("could not enqueue reprocess job_id=%s", job_id)
        ReprocessJob.objects.filter(pk=job_id, status=ReprocessJobStatus.QUEUED).update(
            status=ReprocessJobStatus.FAILED,
            error=f"could not enqueue: {type(exc).__name__}: {exc}"[:2000],
            finished_at=timezone.now(),
        )


def selection_of_job(*, job: ReprocessJob) -> ReprocessSelection:
    return ReprocessSelection(
        event_ids=tuple(job.event_ids or ()),
        event_filter=EventFilter.from_json(job.event_filter) if job.event_filter else None,
        max_event_id=job.max_event_id,
    )


@task()
def run_reprocess_job_task(job_id: int) -> str:
    """A bulk reprocess started from the admin."""
    return run_reprocess_job(job_id=job_id).status


def run_reprocess_job(*, job_id: int) -> ReprocessJob:
    """Run (or resume, after a worker died) a job: its selection in id order, in batches.

    Progress is written after every batch, so the admin page shows it; a cancelled job stops at
    the next batch. Events that became unrunnable since confirmation are counted as skipped.
    """
    with transaction.atomic():
        job = ReprocessJob.objects.select_for_update().get(pk=job_id)
        if not job.is_active:
            return job
        job.status = ReprocessJobStatus.RUNNING
        job.started_at = job.started_at or timezone.now()
        job.save(update_fields=["status", "started_at"])

    selection = selection_of_job(job=job)
    candidates = selection.runnable_events(force=job.force)
    cursor = job.last_event_id
    try:
        while not _is_cancelled(job_id=job_id):
            batch = list(
                candidates.filter(id__gt=cursor).order_by("id").values_list("id", flat=True)[:JOB_BATCH_SIZE]
            )
            if not batch:
                break
            summary = reprocess_batch(event_ids=batch, user=job.created_by, force=job.force)
            cursor = batch[-1]
            ReprocessJob.objects.filter(pk=job_id).update(
                done=F("done") + summary.ran,
                failed=F("failed") + summary.failed,
                skipped=F("skipped") + summary.not_runnable + summary.refused,
                last_event_id=cursor,
            )
    except Exception as exc:
        logger.exception("reprocess job_id=%s failed", job_id)
        forget_daily_event_counts()  # statuses of events of any day may have changed
        ReprocessJob.objects.filter(pk=job_id).update(
            status=ReprocessJobStatus.FAILED,
            error=f"{type(exc).__name__}: {exc}"[:2000],
            finished_at=timezone.now(),
        )
        return ReprocessJob.objects.get(pk=job_id)

    forget_daily_event_counts()  # the dashboard recounts: statuses of any day may have changed
    ReprocessJob.objects.filter(pk=job_id, status=ReprocessJobStatus.RUNNING).update(
        status=ReprocessJobStatus.FINISHED, finished_at=timezone.now()
    )
    job = ReprocessJob.objects.get(pk=job_id)
    logger.info(
        "reprocess job finished job_id=%s status=%s done=%s failed=%s skipped=%s",
        job.pk,
        job.status,
        job.done,
        job.failed,
        job.skipped,
    )
    return job


def cancel_reprocess_job(*, job_id: int) -> ReprocessJob:
    """Stop a queued or running job at its next batch; what already ran stays done."""
    ReprocessJob.objects.filter(
        pk=job_id, status__in=[ReprocessJobStatus.QUEUED, ReprocessJobStatus.RUNNING]
    ).update(status=ReprocessJobStatus.CANCELLED, finished_at=timezone.now())
    return ReprocessJob.objects.get(pk=job_id)


def _is_cancelled(*, job_id: int) -> bool:
    return ReprocessJob.objects.filter(pk=job_id, status=ReprocessJobStatus.CANCELLED).exists()
