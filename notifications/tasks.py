"""Background tasks (django-tasks): inline with ImmediateBackend, `db_worker` in production."""

import logging

from django_tasks import task

logger = logging.getLogger("notifications")


@task()
def send_notifications_task(notification_ids: list[int]) -> dict[str, str]:
    """Send outbox rows, one after another; returns each row's status by id.

    Never raises: with the inline backend this runs inside the webhook request (an on-commit
    callback), and a notification must never fail webhook handling.
    """
    return {str(notification_id): _send_one(notification_id) for notification_id in notification_ids}


@task()
def send_notification_task(notification_id: int) -> str:
    """One row (tasks enqueued before send_notifications_task existed may still be queued)."""
    return _send_one(notification_id)


def _send_one(notification_id: int) -> str:
    from .services import send_notification

    try:
        notification = send_notification(notification_id=notification_id)
    except Exception:
        # send_notification records channel errors on the row itself; this is the database
        # being unavailable or similar. The row is still pending, or its `sending` claim
        # expires, and the sweep sends it later.
        logger.exception("sending notification %s failed unexpectedly", notification_id)
        return "error"
    return notification.status if notification is not None else "gone"
