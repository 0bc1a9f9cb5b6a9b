"""HIT notifications: an outbox written with the meeting change, sent after commit.

`queue_hit_notifications` runs inside the webhook processing transaction and only writes rows;
the unique constraint (meeting, kind, channel, recipient) makes every duplicate delivery,
replay or concurrent run a no-op. The "meeting completed" HIT is written due after a grace
period (HIT_MEETING_COMPLETED_DELAY), during which a no-show mark withdraws it
(`withdraw_hit_notifications`); payment HITs are due at once. Sending happens after commit,
one row at a time: a worker claims the row (status `sending`, under a row lock), talks to the
mail server or Slack outside any transaction, then records the outcome. Failures are retried
with exponential backoff and never reach the webhook processing. The send task is defined
here, beside the function it runs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tasks import task

from common.backoff import backoff_seconds
from meetings.models import Meeting
from meetings.status_mapping import HIT_MEETING_COMPLETED, STATUS_TABLE

from .channels import LOG_RECIPIENT, SENDERS, SLACK_RECIPIENT
from .content import build_hit_message
from .models import Notification, NotificationChannel, NotificationStatus
from .selectors import due_notification_ids, due_notification_ids_for_meeting

logger = logging.getLogger("notifications")

# How long a worker's claim on a row lasts; far longer than a send can take (EMAIL_TIMEOUT and
# HIT_SLACK_TIMEOUT are seconds). After it, the sweep treats the worker as dead and sends again.
SENDING_CLAIM = timedelta(minutes=5)
_ERROR_LIMIT = 2000


class StagedHits(Protocol):
    """Where a worker applying a batch of events stages its HITs (notifications/batching.py)."""

    def queue(self, *, meeting: Meeting, kind: str, event_id: int | None) -> None: ...

    def withdraw(self, *, meeting_id: int, kind: str, reason: str) -> None: ...


# Set by `notifications.batching.hit_batch()` for the batch being applied.
staged_hits: ContextVar[StagedHits | None] = ContextVar("staged_hits", default=None)


def hit_trigger_enabled(*, kind: str, trigger: str = "") -> bool:
    """Whether HIT_TRIGGERS asks for notifications of this kind from this Cal.com trigger.

    Without a trigger (no webhook event at hand) any enabled trigger that yields the kind counts.
    """
    enabled = set(settings.HIT_TRIGGERS)
    if trigger:
        return trigger in enabled
    return any(rule.hit == kind and name in enabled for name, rule in STATUS_TABLE.items())


def hit_recipients(*, meeting: Meeting) -> list[tuple[str, str]]:
    """(channel, recipient) pairs for a HIT notification about this meeting.

    A channel listed in HIT_CHANNELS but without configuration (no e-mail recipient, no Slack
    URL) yields nothing. E-mail addresses are lower-cased so that one person is one recipient.
    """
    channels = {channel.strip().lower() for channel in settings.HIT_CHANNELS}
    pairs: list[tuple[str, str]] = []
    if NotificationChannel.EMAIL in channels:
        addresses: list[str] = []
        owner = meeting.target.owner if meeting.target_id and meeting.target else None
        if owner is not None and owner.is_active and owner.email:
            addresses.append(owner.email)
        addresses.extend(settings.HIT_NOTIFY_EMAILS)
        for address in dict.fromkeys(a.strip().lower() for a in addresses if a.strip()):
            pairs.append((NotificationChannel.EMAIL, address))
    if NotificationChannel.SLACK in channels and settings.HIT_SLACK_WEBHOOK_URL:
        pairs.append((NotificationChannel.SLACK, SLACK_RECIPIENT))
    if NotificationChannel.LOG in channels:
        pairs.append((NotificationChannel.LOG, LOG_RECIPIENT))
    return pairs


def outbox_rows(
    *, meeting: Meeting, meeting_id: int, kind: str, event_id: int | None, send_at: datetime | None
) -> list[Notification]:
    """The unsaved outbox rows of one HIT: one per (channel, recipient) of `meeting`.

    `meeting_id` is the row's meeting: a batch may have merged `meeting` into another meanwhile.
    """
    return [
        Notification(
            kind=kind,
            meeting_id=meeting_id,
            event_id=event_id,
            channel=channel,
            recipient=recipient,
            next_attempt_at=send_at,
        )
        for channel, recipient in hit_recipients(meeting=meeting)
    ]


def hit_delay(*, kind: str) -> timedelta:
    """How long a new HIT of this kind waits before it is sent.

    Only "meeting completed": MEETING_ENDED is sent at the booking's end time with no attendance
    check, and a no-show mark may follow (HIT_MEETING_COMPLETED_DELAY, docs/notifications.md).
    A payment is a fact when it is reported, so its HIT goes at once.
    """
    if kind == HIT_MEETING_COMPLETED:
        return timedelta(seconds=max(settings.HIT_MEETING_COMPLETED_DELAY, 0))
    return timedelta(0)


def queue_hit_notifications(
    *,
    meeting: Meeting,
    kind: str,
    trigger: str = "",
    event_id: int | None = None,
    return_rows: bool = True,
) -> list[Notification]:
    """Write one outbox row per (channel, recipient), at most once ever per meeting and kind.

    `trigger` and `event_id` name the Cal.com delivery that caused it, when there is one.
    Runs inside the caller's transaction (the meeting change); sending happens after commit, at
    once or, for a delayed kind (`hit_delay`), once the grace period is over.
    Returns the meeting's rows of this kind (old and new); none when the trigger is switched off,
    or when the caller has no use for them (`return_rows=False`: one query less per HIT).
    Inside `hit_batch()` (a worker applying a batch of events) the rows are only staged and
    written with the batch's (notifications/batching.py); nothing is returned.
    """
    if not hit_trigger_enabled(kind=kind, trigger=trigger):
        return []
    batch = staged_hits.get()
    if batch is not None:
        batch.queue(meeting=meeting, kind=kind, event_id=event_id)
        return []
    now = timezone.now()
    delay = hit_delay(kind=kind)
    send_at = now + delay if delay else None
    rows = outbox_rows(meeting=meeting, meeting_id=meeting.pk, kind=kind, event_id=event_id, send_at=send_at)
    # The unique constraint makes duplicates, replays and concurrent runs no-ops (ON CONFLICT DO
    # NOTHING / INSERT OR IGNORE): the first transaction to commit wins, the others insert nothing.
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    due = due_notification_ids_for_meeting(meeting_id=meeting.pk, kind=kind, now=now)
    if due:
        transaction.on_commit(lambda: enqueue_sending(notification_ids=due), robust=True)
    elif send_at is not None and rows:
        # A backend that can defer runs it when due; otherwise `send_due_notifications` sends it.
        delayed = list(
            Notification.objects.filter(
                meeting=meeting, kind=kind, status=NotificationStatus.PENDING, next_attempt_at=send_at
            ).values_list("id", flat=True)
        )
        if delayed:
            transaction.on_commit(
                lambda: enqueue_sending(notification_ids=delayed, run_after=send_at), robust=True
            )
    if not return_rows:
        return []
    return list(Notification.objects.filter(meeting=meeting, kind=kind).order_by("id"))


def withdraw_hit_notifications(*, meeting_id: int, kind: str, reason: str) -> list[Notification]:
    """Take back the meeting's HITs of `kind` that have not been sent; returns the rows withdrawn.

    Rows waiting out their grace period (or a retry) become `withdrawn` with `reason` and are
    never sent. A row being sent right now or already sent cannot be taken back and is left as
    it is. Usually runs inside the caller's transaction (the no-show change); the row lock orders
    it with a worker's claim. Inside `hit_batch()` the rows the batch's earlier events staged
    are withdrawn too, when the batch writes them.
    """
    batch = staged_hits.get()
    if batch is not None:
        batch.withdraw(meeting_id=meeting_id, kind=kind, reason=reason)
    withdrawn: list[Notification] = []
    with transaction.atomic():
        rows = Notification.objects.select_for_update().filter(
            meeting_id=meeting_id, kind=kind, status=NotificationStatus.PENDING
        )
        for notification in rows.order_by("id"):
            notification.status = NotificationStatus.WITHDRAWN
            notification.withdrawn_reason = reason[:500]
            notification.next_attempt_at = None
            notification.save(update_fields=["status", "withdrawn_reason", "next_attempt_at", "updated_at"])
            withdrawn.append(notification)
    if withdrawn:
        logger.info(
            "HIT notifications %s withdrawn (meeting %s): %s",
            [n.pk for n in withdrawn],
            meeting_id,
            reason,
        )
    return withdrawn


# Inside `collect_sending()` (a worker processing a batch of webhook events), the rows to send
# are gathered and handed over as one task when the batch ends instead of one task per row.
_collected_ids: ContextVar[list[int] | None] = ContextVar("collected_notification_ids", default=None)


@contextmanager
def collect_sending() -> Iterator[None]:
    """Send what the enclosed code queues with one task, once it is done (never raises).

    Nested inside another `collect_sending`, it adds to the outer one's task.
    """
    if _collected_ids.get() is not None:
        yield
        return
    collected: list[int] = []
    token = _collected_ids.set(collected)
    try:
        yield
    finally:
        _collected_ids.reset(token)
        if collected:
            enqueue_sending(notification_ids=collected)


def enqueue_sending(*, notification_ids: Iterable[int], run_after: datetime | None = None) -> None:
    """Hand rows to the task backend (inline by default), one task for all of them. Never raises.

    A backend that cannot defer (ImmediateBackend) gets no delayed retries: the row stays
    pending with its next_attempt_at and `send_due_notifications` sends it when it is due.
    If enqueueing fails the row stays pending too, and the sweep picks it up.
    """
    notification_ids = list(notification_ids)
    collected = _collected_ids.get()
    if collected is not None and run_after is None:
        collected.extend(notification_ids)
        return
    try:
        task = send_notifications_task
        if task.get_backend().supports_defer:
            # A due time even when due now: django-tasks-db runs tasks with one in time order
            # and those without after all of them, and HIT alerts must not wait for a backlog
            # of drain tasks (webhooks/draining.py) to clear.
            task = task.using(run_after=run_after or timezone.now())
        elif run_after is not None:
            return
        task.enqueue(notification_ids=notification_ids)
    except Exception:
        logger.exception("could not enqueue sending of notifications %s", notification_ids)


def retry_delay(*, attempts: int) -> timedelta:
    """Exponential backoff: the base delay after the first failure, doubled after each one."""
    return timedelta(
        seconds=backoff_seconds(retry=attempts - 1, base=settings.HIT_RETRY_BASE_SECONDS, jitter=False)
    )


def send_notification(*, notification_id: int) -> Notification | None:
    """Send one row if it is due and nobody else is sending it; record the outcome on it.

    Channel failures (SMTP down, Slack outage, a template error) never escape: they are stored
    on the row, which is retried later or marked failed once HIT_MAX_ATTEMPTS is reached.
    Returns the row as it is now (None if it was deleted with its meeting).
    """
    notification = _claim(notification_id=notification_id)
    if notification is None:
        return Notification.objects.filter(pk=notification_id).first()
    return _deliver(notification=notification)


@task()
def send_notifications_task(notification_ids: list[int]) -> dict[str, str]:
    """Send outbox rows, one after another; returns each row's status by id.

    Never raises: with the inline backend this runs inside the webhook request (an on-commit
    callback), and a notification must never fail webhook handling.
    """
    return {str(notification_id): _send_one(notification_id) for notification_id in notification_ids}


def _send_one(notification_id: int) -> str:
    try:
        notification = send_notification(notification_id=notification_id)
    except Exception:
        # send_notification records channel errors on the row itself; this is the database
        # being unavailable or similar. The row is still pending, or its `sending` claim
        # expires, and the sweep sends it later.
        logger.exception("sending notification %s failed unexpectedly", notification_id)
        return "error"
    return notification.status if notification is not None else "gone"


def _deliver(*, notification: Notification) -> Notification:
    """Send a row this worker has claimed, outside any transaction, and record the outcome."""
    try:
        meeting = Meeting.objects.select_related("target").get(pk=notification.meeting_id)
        message = build_hit_message(meeting=meeting, kind=notification.kind)
        sender = SENDERS[notification.channel]
        sender(recipient=notification.recipient, message=message, notification_id=notification.pk)
    except Exception as exc:
        return _record_failure(notification_id=notification.pk, exc=exc)
    return _record_success(notification_id=notification.pk)


def _claim(*, notification_id: int) -> Notification | None:
    """Take the row for this worker, or None when it is sent, failed, not due or being sent.

    The row lock serialises concurrent claims; the status change commits before any I/O, so a
    second worker (or sweep) sees `sending` and leaves the row alone.
    """
    now = timezone.now()
    with transaction.atomic():
        notification = Notification.objects.select_for_update().filter(pk=notification_id).first()
        if notification is None or not _is_due(notification=notification, now=now):
            return None
        notification.status = NotificationStatus.SENDING
        notification.attempts += 1
        notification.next_attempt_at = now + SENDING_CLAIM
        notification.save(update_fields=["status", "attempts", "next_attempt_at", "updated_at"])
    return notification


def _is_due(*, notification: Notification, now: datetime) -> bool:
    if notification.status == NotificationStatus.PENDING:
        return notification.next_attempt_at is None or notification.next_attempt_at <= now
    if notification.status == NotificationStatus.SENDING:
        # The worker holding the claim died mid-send (its claim expired).
        return notification.next_attempt_at is not None and notification.next_attempt_at <= now
    return False


def _record_success(*, notification_id: int) -> Notification:
    now = timezone.now()
    with transaction.atomic():
        notification = Notification.objects.select_for_update().get(pk=notification_id)
        notification.status = NotificationStatus.SENT
        notification.sent_at = now
        notification.next_attempt_at = None
        notification.last_error = ""
        notification.save()
    logger.info(
        "HIT notification sent id=%s kind=%s channel=%s meeting=%s attempt=%s",
        notification.pk,
        notification.kind,
        notification.channel,
        notification.meeting_id,
        notification.attempts,
    )
    return notification


def _record_failure(*, notification_id: int, exc: Exception) -> Notification:
    error = f"{type(exc).__name__}: {exc}"[:_ERROR_LIMIT]
    with transaction.atomic():
        notification = Notification.objects.select_for_update().get(pk=notification_id)
        notification.last_error = error
        if notification.attempts >= settings.HIT_MAX_ATTEMPTS:
            notification.status = NotificationStatus.FAILED
            notification.next_attempt_at = None
        else:
            notification.status = NotificationStatus.PENDING
            run_after = timezone.now() + retry_delay(attempts=notification.attempts)
            notification.next_attempt_at = run_after
            transaction.on_commit(
                lambda: enqueue_sending(notification_ids=[notification_id], run_after=run_after),
                robust=True,
            )
        notification.save()
    logger.warning(
        "HIT notification not sent id=%s channel=%s recipient=%s attempt=%s status=%s "
        "next_attempt_at=%s error=%s",
        notification.pk,
        notification.channel,
        notification.recipient,
        notification.attempts,
        notification.status,
        notification.next_attempt_at,
        error,
    )
    return notification


@dataclass(frozen=True)
class SweepResult:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    skipped: int = 0  # taken by another worker meanwhile, or deleted

    @property
    def total(self) -> int:
        return self.sent + self.retrying + self.failed + self.skipped


def send_due_notifications(*, limit: int = 500) -> SweepResult:
    """Send every row that is due: never tried, due for a retry, or abandoned by a dead worker.

    Safe to run from any number of processes at once (rows are claimed one by one). Run it
    periodically (`manage.py send_due_notifications`); it is how retries happen on a task
    backend that cannot defer, and the safety net for lost enqueues on one that can.
    """
    counts = {"sent": 0, "retrying": 0, "failed": 0, "skipped": 0}
    for notification_id in due_notification_ids(now=timezone.now(), limit=limit):
        claimed = _claim(notification_id=notification_id)
        if claimed is None:
            counts["skipped"] += 1
            continue
        notification = _deliver(notification=claimed)
        if notification.status == NotificationStatus.SENT:
            counts["sent"] += 1
        elif notification.status == NotificationStatus.FAILED:
            counts["failed"] += 1
        else:
            counts["retrying"] += 1
    return SweepResult(**counts)


@dataclass(frozen=True)
class ResendResult:
    queued: list[Notification] = field(default_factory=list)
    skipped: list[tuple[Notification, str]] = field(default_factory=list)  # (row, why)


def resend_notifications(*, notification_ids: Iterable[int], user=None) -> ResendResult:
    """Staff resend: rows that are pending or failed start over with a fresh set of attempts.

    Rows already sent are left alone (each recipient hears about a HIT once), and so are rows
    that a worker is sending right now. With the inline task backend the send happens before
    this returns.
    """
    queued_ids: list[int] = []
    skipped: list[tuple[Notification, str]] = []
    with transaction.atomic():
        for notification in (
            Notification.objects.select_for_update().filter(pk__in=list(notification_ids)).order_by("id")
        ):
            if notification.status == NotificationStatus.SENT:
                skipped.append((notification, "already sent"))
                continue
            if notification.status == NotificationStatus.SENDING and not _is_due(
                notification=notification, now=timezone.now()
            ):
                skipped.append((notification, "being sent right now"))
                continue
            notification.status = NotificationStatus.PENDING
            notification.attempts = 0
            notification.next_attempt_at = None
            notification.save(update_fields=["status", "attempts", "next_attempt_at", "updated_at"])
            queued_ids.append(notification.pk)
        if queued_ids:
            logger.info(
                "HIT notifications %s queued for resending by %s",
                queued_ids,
                getattr(user, "username", None) or "system",
            )
            transaction.on_commit(lambda: enqueue_sending(notification_ids=queued_ids), robust=True)
    queued = list(Notification.objects.filter(pk__in=queued_ids).order_by("id"))
    return ResendResult(queued=queued, skipped=skipped)
