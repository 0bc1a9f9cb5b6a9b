"""HIT notifications: an outbox written with the meeting change, sent after commit."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction

from .models import Notification, NotificationChannel, NotificationStatus

logger = logging.getLogger("notifications")


def hit_recipients(*, meeting) -> list[tuple[str, str]]:
    """(channel, recipient) pairs for a HIT notification about this meeting."""
    pairs: list[tuple[str, str]] = [(NotificationChannel.LOG, "log")]
    return pairs


def queue_hit_notifications(*, meeting, kind: str, event=None) -> list[Notification]:
    """Write one outbox row per (channel, recipient), at most once ever per meeting and kind.

    Runs inside the caller's transaction (the meeting change); sending happens after commit.
    """
    rows = [
        Notification(
            kind=kind, meeting=meeting, event=event, channel=channel, recipient=recipient
        )
        for channel, recipient in hit_recipients(meeting=meeting)
    ]
    # The unique constraint makes duplicates, replays and concurrent runs no-ops.
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    pending = list(
        Notification.objects.filter(
            meeting=meeting, kind=kind, status=NotificationStatus.PENDING, attempts=0
        ).values_list("id", flat=True)
    )
    transaction.on_commit(lambda: [send_notification(notification_id=pk) for pk in pending])
    return list(Notification.objects.filter(meeting=meeting, kind=kind))


def send_notification(*, notification_id: int) -> Notification:
    from django.utils import timezone

    with transaction.atomic():
        notification = Notification.objects.select_for_update().get(pk=notification_id)
        if notification.status == NotificationStatus.SENT:
            return notification
        notification.attempts += 1
        logger.info(
            "HIT %s meeting=%s recipient=%s", notification.kind, notification.meeting_id,
            notification.recipient,
        )
        notification.status = NotificationStatus.SENT
        notification.sent_at = timezone.now()
        notification.save()
    return notification
