"""Read-side queries for the HIT notification outbox."""

from __future__ import annotations

from datetime import datetime

from django.db.models import F, Q

from .models import Notification, NotificationStatus


def due_filter(*, now: datetime) -> Q:
    waiting = Q(status=NotificationStatus.PENDING) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )
    # A claim that outlived its expiry belongs to a worker that died mid-send.
    abandoned = Q(status=NotificationStatus.SENDING, next_attempt_at__lte=now)
    return waiting | abandoned


def due_notification_ids(*, now: datetime, limit: int) -> list[int]:
    """Rows that should be sent now, oldest first (never-tried rows before retries)."""
    return list(
        Notification.objects.filter(due_filter(now=now))
        .order_by(F("next_attempt_at").asc(nulls_first=True), "id")
        .values_list("id", flat=True)[:limit]
    )


def due_notification_ids_for_meeting(*, meeting_id: int, kind: str, now: datetime) -> list[int]:
    return list(
        Notification.objects.filter(due_filter(now=now), meeting_id=meeting_id, kind=kind)
        .order_by("id")
        .values_list("id", flat=True)
    )
