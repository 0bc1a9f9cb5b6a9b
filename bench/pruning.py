"""Part 4: `prune_webhook_events` on the admin part's seeded data (run after the page timings).

Events received more than 15 days ago (about half of the 30 days seeded) in the prunable
statuses are deleted in batches of 1,000, one transaction each, as the command does. Reported:
events deleted, events per second and the longest batch transaction, which bounds how long any
lock it takes is held (a DELETE's table lock is ROW EXCLUSIVE: it blocks no reader or writer).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.utils import timezone

from webhooks.retention import prune_webhook_events

PRUNE_DAYS = 15


@dataclass(frozen=True)
class PruneConfig:
    days: int = PRUNE_DAYS
    batch_size: int = 1000


def run_pruning(*, config: PruneConfig) -> dict:
    retention = {status: config.days for status in ("duplicate", "rejected", "ignored", "processed", "dead")}
    started = time.perf_counter()
    report = prune_webhook_events(retention_days=retention, now=timezone.now(), batch_size=config.batch_size)
    seconds = time.perf_counter() - started
    return {
        "config": {"days": config.days, "batch_size": config.batch_size},
        "deleted": report.total,
        "seconds": seconds,
        "events_per_s": report.total / seconds if seconds else 0.0,
        "batches": report.batches,
        "longest_batch_ms": report.longest_batch_seconds * 1000,
    }
