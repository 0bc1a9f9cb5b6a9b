"""Reads about the Cal.com sync: its last runs for the dashboard, its figures for /metrics, and
what it changed on one meeting for the timeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Sum
from django.db.models.query import QuerySet

from calsync.models import SyncChange, SyncRun


@dataclass(frozen=True)
class SyncHealth:
    """The dashboard's view of the sync."""

    last_run: SyncRun | None
    last_success: SyncRun | None
    interval_seconds: int  # 0: no sync is configured
    overdue: bool  # configured, and no success for more than twice the interval


def sync_health(*, now: datetime) -> SyncHealth:
    last_run = SyncRun.objects.filter(finished_at__isnull=False).order_by("-finished_at", "-id").first()
    last_success = (
        SyncRun.objects.filter(finished_at__isnull=False, error="").order_by("-finished_at", "-id").first()
    )
    interval = max(int(settings.CAL_COM_SYNC_INTERVAL_SECONDS), 0)
    overdue = bool(interval) and (
        last_success is None
        or last_success.finished_at is None
        or now - last_success.finished_at > timedelta(seconds=2 * interval)
    )
    return SyncHealth(
        last_run=last_run, last_success=last_success, interval_seconds=interval, overdue=overdue
    )


@dataclass(frozen=True)
class SyncMetrics:
    last_success_at: datetime | None
    last_run_failed: bool
    bookings_read_24h: int
    changed_24h_by_kind: dict[str, int] = field(default_factory=dict)


def sync_metrics(*, now: datetime) -> SyncMetrics:
    since = now - timedelta(hours=24)
    health = sync_health(now=now)
    read = SyncRun.objects.filter(started_at__gte=since).aggregate(total=Sum("bookings_read"))["total"]
    by_kind = dict(
        SyncChange.objects.filter(created_at__gte=since)
        .values_list("kind")
        .annotate(count=Count("id"))
        .values_list("kind", "count")
    )
    return SyncMetrics(
        last_success_at=health.last_success.finished_at if health.last_success else None,
        last_run_failed=bool(health.last_run and health.last_run.error),
        bookings_read_24h=read or 0,
        changed_24h_by_kind=by_kind,
    )


def meeting_sync_changes(*, meeting_id: int, limit: int) -> QuerySet[SyncChange]:
    """The newest `limit` changes the sync made to a meeting, newest first."""
    return SyncChange.objects.filter(meeting_id=meeting_id).order_by("-created_at", "-id")[:limit]
