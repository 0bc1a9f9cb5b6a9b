"""Retention: `manage.py prune_webhook_events` deletes events past their retention per status."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from common.logfields import log_fields

from .daily_counts import forget_daily_event_counts
from .models import WebhookEvent, WebhookEventStatus

logger = logging.getLogger("webhooks")

NEVER_PRUNED = frozenset(
    {WebhookEventStatus.RECEIVED, WebhookEventStatus.PROCESSING, WebhookEventStatus.FAILED}
)
# Duplicates go first, so that originals whose last duplicate expires in this run go too.
_PRUNE_ORDER = (
    WebhookEventStatus.DUPLICATE,
    WebhookEventStatus.REJECTED,
    WebhookEventStatus.IGNORED,
    WebhookEventStatus.PROCESSED,
    WebhookEventStatus.DEAD,
)


class InvalidRetention(ValueError):
    """A retention setting names a status that cannot be pruned, or a negative age."""


@dataclass
class PruneReport:
    dry_run: bool
    by_status: dict[str, int] = field(default_factory=dict)  # deleted (or, dry run, would be)
    # Past their retention but still named as `duplicate_of` by a kept duplicate: they stay
    # until their duplicates go, so every stored duplicate can show what it duplicates.
    kept_for_duplicates: int = 0
    # Each batch is one transaction: its row locks (and the table's ROW EXCLUSIVE lock, which
    # blocks no reader or writer) last no longer than its time.
    batches: int = 0
    longest_batch_seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


def validate_retention(*, retention_days: Mapping[str, int]) -> None:
    for status, days in retention_days.items():
        if status in NEVER_PRUNED:
            raise InvalidRetention(f"{status} events are never pruned (they are still to be processed)")
        if status not in WebhookEventStatus.values:
            raise InvalidRetention(
                f"unknown status {status!r} in the retention; "
                f"known: {', '.join(sorted(set(WebhookEventStatus.values) - NEVER_PRUNED))}"
            )
        if days < 0:
            raise InvalidRetention(f"retention of {status} events is negative ({days} days)")


def prunable_events(*, status: str, days: int, now: datetime):
    """Events of `status` older than their retention that no kept duplicate points to."""
    from django.db.models import Exists, OuterRef

    kept_duplicates = WebhookEvent.objects.filter(duplicate_of=OuterRef("pk"))
    return WebhookEvent.objects.filter(status=status, received_at__lt=now - timedelta(days=days)).filter(
        ~Exists(kept_duplicates)
    )


def _next_batch_size(*, size: int, elapsed: float, limit: int, target: float) -> int:
    if elapsed > target:
        return max(size // 2, 1)
    if elapsed < target / 4:
        return min(size * 2, limit)
    return size


def prune_webhook_events(
    *,
    retention_days: Mapping[str, int],
    now: datetime,
    dry_run: bool = False,
    batch_size: int = 1000,
    max_batch_seconds: float = 0.5,
    on_start: Callable[[int], None] | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> PruneReport:
    """Delete events past their retention, in batches by primary key (short transactions, no
    long lock on the table). Never touches received, processing or failed events.

    A batch that takes longer than `max_batch_seconds` halves the next one (a busy database
    makes each row slower to delete); quick ones grow it back up to `batch_size`.
    `on_start(total)` is told how many will go, `on_batch(n)` after each deleted batch.
    Processing attempts go with their event; audit rows and notifications that point to a
    deleted event keep existing, with the link cleared (SET_NULL).
    """
    from django.db.models import Exists, OuterRef

    validate_retention(retention_days=retention_days)
    report = PruneReport(dry_run=dry_run)
    plan = [(status, retention_days[status]) for status in _PRUNE_ORDER if status in retention_days]
    if on_start is not None:
        on_start(sum(prunable_events(status=s, days=d, now=now).count() for s, d in plan))
    for status, days in plan:
        deleted = 0
        if dry_run:
            deleted = prunable_events(status=status, days=days, now=now).count()
        else:
            after = 0  # keyset: each batch starts past the last one, not over the deleted rows
            size = batch_size
            while True:
                # Read outside the delete's transaction: choosing the rows locks nothing.
                ids = list(
                    prunable_events(status=status, days=days, now=now)
                    .filter(pk__gt=after)
                    .order_by("pk")
                    .values_list("pk", flat=True)[:size]
                )
                if not ids:
                    break
                started = time.perf_counter()
                with transaction.atomic():
                    # Checked again at delete time (a duplicate may have arrived, or the event
                    # been re-queued, meanwhile) and locked, so that neither can slip in between
                    # the check and the delete.
                    deletable = list(
                        prunable_events(status=status, days=days, now=now)
                        .filter(pk__in=ids)
                        .select_for_update(of=("self",))
                        .values_list("pk", flat=True)
                    )
                    # Only the keys: the collector would otherwise load every column of every
                    # row, bodies and all, just to delete them (most of a batch's time).
                    _, per_model = WebhookEvent.objects.filter(pk__in=deletable).only("pk").delete()
                elapsed = time.perf_counter() - started
                report.batches += 1
                report.longest_batch_seconds = max(report.longest_batch_seconds, elapsed)
                size = _next_batch_size(
                    size=size, elapsed=elapsed, limit=batch_size, target=max_batch_seconds
                )
                after = ids[-1]
                batch_deleted = per_model.get(WebhookEvent._meta.label, 0)
                deleted += batch_deleted
                if on_batch is not None:
                    on_batch(batch_deleted)
        report.by_status[status] = deleted
        report.kept_for_duplicates += (
            WebhookEvent.objects.filter(status=status, received_at__lt=now - timedelta(days=days))
            .filter(Exists(WebhookEvent.objects.filter(duplicate_of=OuterRef("pk"))))
            .count()
        )
    if report.total and not dry_run:
        # The dashboard's stored counts of the days pruned into are wrong now: recount them.
        newest_pruned = timezone.localtime(now - timedelta(days=min(days for _, days in plan)))
        forget_daily_event_counts(through=newest_pruned.date())
    log_fields(
        logger=logger,
        level=logging.INFO,
        what="webhook prune",
        dry_run=dry_run,
        deleted=report.total,
        kept_for_duplicates=report.kept_for_duplicates,
        batches=report.batches,
        longest_batch_ms=round(report.longest_batch_seconds * 1000, 1),
        **{f"deleted_{status}": count for status, count in report.by_status.items()},
    )
    return report
