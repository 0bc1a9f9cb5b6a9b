"""Stored per-day event counts for the dashboard's chart, recounted in the background.

Counting 14 days of events live read about half the table (2.3M index entries at 5M events:
~0.7 s), once a minute per cache. Instead each day's counts by status are kept in
`DailyEventCount` and a page view reads at most 14 rows. A view that finds them stale asks for a
recount (`request_recount`): a task, so with the DatabaseBackend no request pays for it (a worker
does), and with the ImmediateBackend (development, tests) it runs inline and the page is exact.

When the stored counts go stale:
- today's, after `TODAY_MAX_AGE` (a minute, as the old cache): today is still filling up;
- a finished day's, when it was counted before the day ended, and after `FINISHED_MAX_AGE`
  (15 minutes): retries, reprocessing and late processing change old events' statuses, and
  are not tracked one by one (they are spread over the pipeline); a recount of 13 finished days
  is the old 0.7 s query, in a worker, at most every 15 minutes and only while someone looks;
- at once after a prune or a bulk reprocess job (`forget_daily_event_counts`).
The page says when each part was counted, so a figure is never older than it claims.
"""

from __future__ import annotations

import logging
import time
from datetime import date, datetime, timedelta

from django.core.cache import cache
from django.utils import timezone
from django_tasks import task

from common.logfields import log_fields
from common.tasks import tasks_run_inline

from .models import DailyEventCount
from .selectors import DayCounts, counted_days, stored_daily_event_counts

logger = logging.getLogger("webhooks")

TODAY_MAX_AGE = timedelta(minutes=1)
FINISHED_MAX_AGE = timedelta(minutes=15)
_RECOUNT_LOCK = "webhooks:daily-counts:recount:{first}:{last}"


def stale_days(*, days: list[DayCounts], now: datetime) -> list[date]:
    """The days whose stored counts are missing or out of date (see the module's docstring)."""
    today = timezone.localtime(now).date()
    stale = []
    for day in days:
        if day.counted_at is None:
            stale.append(day.day)
        elif day.day >= today:
            if day.counted_at < now - TODAY_MAX_AGE:
                stale.append(day.day)
        elif day.counted_at < _day_end(day.day) or day.counted_at < now - FINISHED_MAX_AGE:
            stale.append(day.day)
    return stale


def _day_end(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day + timedelta(days=1), datetime.min.time()))


def _ranges(days: list[date]) -> list[tuple[date, date]]:
    """Consecutive days as (first, last) ranges: one GROUP BY each."""
    ranges: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if ranges and ranges[-1][1] + timedelta(days=1) == day:
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def recount_daily_event_counts(*, first_day: date, last_day: date) -> int:
    """Count the events of `first_day` to `last_day` (local days) live and store the counts;
    returns how many days were stored. Reads every event of those days (a worker's job)."""
    counted_at = timezone.now()  # before the count: a change after this moment may be missing
    started = time.monotonic()
    days = counted_days(first_day=first_day, last_day=last_day)
    DailyEventCount.objects.bulk_create(
        [
            DailyEventCount(
                time_zone=timezone.get_current_timezone_name(),
                day=day.day,
                counts=day.by_status,
                counted_at=counted_at,
            )
            for day in days
        ],
        update_conflicts=True,
        unique_fields=["time_zone", "day"],
        update_fields=["counts", "counted_at"],
    )
    log_fields(
        logger=logger,
        level=logging.INFO,
        what="daily event counts recounted",
        first_day=first_day.isoformat(),
        last_day=last_day.isoformat(),
        events=sum(day.total for day in days),
        duration_ms=(time.monotonic() - started) * 1000,
    )
    return len(days)


@task()
def recount_daily_event_counts_task(first_day: str, last_day: str) -> int:
    return recount_daily_event_counts(
        first_day=date.fromisoformat(first_day), last_day=date.fromisoformat(last_day)
    )


def request_recount(*, days: list[date], now: datetime | None = None) -> None:
    """Have `days` recounted: inline with the ImmediateBackend, else one task per range of
    consecutive days, at most once per range per lock period (the cache's `add`)."""
    today = timezone.localtime(now or timezone.now()).date()
    for first, last in _ranges(days):
        if not tasks_run_inline():
            hold = TODAY_MAX_AGE if last >= today else FINISHED_MAX_AGE
            if not cache.add(_RECOUNT_LOCK.format(first=first, last=last), 1, timeout=hold.total_seconds()):
                continue  # asked for already; the worker will store it
        try:
            recount_daily_event_counts_task.enqueue(first_day=first.isoformat(), last_day=last.isoformat())
        except Exception:
            # The page still shows the last counts, with their age; a later view asks again.
            logger.exception("could not enqueue the daily event recount first_day=%s", first)
            cache.delete(_RECOUNT_LOCK.format(first=first, last=last))


def chart_days(*, days: int = 14, now: datetime | None = None) -> list[DayCounts]:
    """The chart's days from the stored counts, asking for a recount of the stale ones."""
    now = now or timezone.now()
    stored = stored_daily_event_counts(days=days, now=now)
    stale = stale_days(days=stored, now=now)
    if stale:
        request_recount(days=stale, now=now)
        if tasks_run_inline():
            stored = stored_daily_event_counts(days=days, now=now)
    return stored


def forget_daily_event_counts(*, through: date | None = None) -> int:
    """Drop the stored counts (of the days up to `through`, or all) after a change that touched
    old events in bulk (prune, reprocess job): the next view recounts them."""
    stored = DailyEventCount.objects.all()
    if through is not None:
        stored = stored.filter(day__lte=through)
    deleted, _ = stored.delete()
    return deleted
