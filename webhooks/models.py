from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from calcom.signatures import SignatureResult

REPROCESS_PERMISSION = "webhooks.reprocess_webhookevent"  # the permission in WebhookEvent.Meta


class WebhookEventStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSING = "processing", "Processing"
    PROCESSED = "processed", "Processed"
    IGNORED = "ignored", "Ignored"
    FAILED = "failed", "Failed"
    DEAD = "dead", "Dead"
    DUPLICATE = "duplicate", "Duplicate"
    REJECTED = "rejected", "Rejected"


class AttemptTrigger(models.TextChoices):
    DELIVERY = "delivery", "Delivery"
    RETRY = "retry", "Automatic retry"
    RECOVERY = "recovery", "Recovery sweep"
    ADMIN = "admin", "Admin"
    COMMAND = "command", "Management command"
    API = "api", "REST API"


class AttemptOutcome(models.TextChoices):
    RUNNING = "running", "Running"
    PROCESSED = "processed", "Processed"
    IGNORED = "ignored", "Ignored"
    FAILED = "failed", "Failed"


class WebhookEvent(models.Model):
    """One HTTP delivery to the webhook endpoint, exactly as it arrived."""

    trigger_event = models.CharField(max_length=64, blank=True)
    booking_uid = models.CharField(max_length=255, blank=True)
    reschedule_uid = models.CharField(
        max_length=255,
        blank=True,
        help_text="The booking uid this delivery reschedules (BOOKING_RESCHEDULED), if any.",
    )
    booking_id = models.BigIntegerField(null=True, blank=True)
    attendee_email = models.CharField(max_length=254, blank=True)
    event_created_at = models.DateTimeField(
        null=True, blank=True, help_text="The signed `createdAt` of the delivery."
    )
    received_at = models.DateTimeField(default=timezone.now)
    raw_body = models.BinaryField(
        blank=True, default=b"", help_text="Exact bytes received (signature covers these)."
    )
    body_size = models.PositiveIntegerField(default=0)
    body_truncated = models.BooleanField(default=False)
    headers = models.JSONField(default=dict, blank=True, help_text="Secrets and signatures masked.")
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    content_type = models.CharField(max_length=255, blank=True)
    webhook_version = models.CharField(max_length=32, blank=True)
    signature_result = models.CharField(
        max_length=20, choices=SignatureResult.choices, default=SignatureResult.NOT_CHECKED
    )
    fingerprint = models.CharField(max_length=64, blank=True, help_text="sha256 of the raw body.")
    duplicate_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="duplicates",
        db_index=False,  # wh_duplicate_of_idx: partial, only duplicates have an entry
    )
    status = models.CharField(
        max_length=20, choices=WebhookEventStatus.choices, default=WebhookEventStatus.RECEIVED
    )
    status_reason = models.TextField(blank=True, help_text="Why the event was ignored or rejected.")
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_traceback = models.TextField(blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    meeting = models.ForeignKey(
        "meetings.Meeting",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="webhook_events",
        db_index=False,  # wh_meeting_idx (meeting, received_at) serves every lookup by meeting
    )

    class Meta:
        db_table = "webhook_events"
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["-received_at", "-id"], name="wh_received_idx"),
            models.Index(fields=["status", "-received_at"], name="wh_status_received_idx"),
            models.Index(fields=["trigger_event", "-received_at"], name="wh_trigger_received_idx"),
            models.Index(fields=["booking_uid"], name="wh_booking_uid_idx"),
            # The console's e-mail search, newest first: the page reads its 50 rows straight
            # off the index however many events the address has. Partial: rows without one stay out.
            models.Index(
                fields=["attendee_email", "-received_at", "-id"],
                condition=~Q(attendee_email=""),
                name="wh_email_received_idx",
            ),
            # Partial: a delivery is stored without a meeting and nothing looks up "no meeting",
            # so the insert on the hot path skips this index (and the next one) entirely.
            models.Index(
                fields=["meeting", "received_at"],
                condition=Q(meeting__isnull=False),
                name="wh_meeting_idx",
            ),
            models.Index(
                fields=["duplicate_of"],
                condition=Q(duplicate_of__isnull=False),
                name="wh_duplicate_of_idx",
            ),
            # Admin console: the signature filter, newest first.
            models.Index(fields=["signature_result", "-received_at"], name="wh_signature_received_idx"),
            # Admin dashboard: per-day counts by status from this index alone (index-only
            # scan), without reading the wide rows and their bodies.
            models.Index(fields=["received_at", "status"], name="wh_received_status_idx"),
            # No index of its own on the fingerprint: the only lookup by it (a duplicate's
            # original) is what wh_one_original_per_fingerprint indexes, and every index costs
            # each delivery an insert and each processing update a new entry.
            # The processing queue (webhooks/draining.py): only waiting events are in it, so
            # claiming the oldest batch reads a few index entries however big the table is.
            models.Index(fields=["id"], condition=Q(status="received"), name="wh_processing_queue_idx"),
        ]
        constraints = [
            # At most one original per body: concurrent identical deliveries cannot both be
            # processed; the loser is stored as a duplicate of the winner.
            models.UniqueConstraint(
                fields=["fingerprint"],
                # Duplicates stay out even once their original is deleted (duplicate_of → NULL).
                condition=Q(duplicate_of__isnull=True)
                & ~Q(fingerprint="")
                & ~Q(status="rejected")
                & ~Q(status="duplicate"),
                name="wh_one_original_per_fingerprint",
            ),
        ]
        permissions = [("reprocess_webhookevent", "Can reprocess webhook events")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.trigger_event or '?'} {self.booking_uid}".strip()


class ProcessingAttempt(models.Model):
    """One processing run of a webhook event."""

    event = models.ForeignKey(
        WebhookEvent,
        on_delete=models.CASCADE,
        related_name="processing_attempts",
        db_index=False,  # attempt_event_idx (event, started_at) serves every lookup by event
    )
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=AttemptOutcome.choices, default=AttemptOutcome.RUNNING)
    error = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    started_via = models.CharField(max_length=20, choices=AttemptTrigger.choices)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["started_at", "id"]
        indexes = [models.Index(fields=["event", "started_at"], name="attempt_event_idx")]

    def __str__(self) -> str:
        return f"attempt {self.number} of event #{self.event_id}: {self.outcome}"


class ReprocessJobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    FINISHED = "finished", "Finished"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class ReprocessJob(models.Model):
    """A bulk reprocess started from the admin, run in the background by a django-tasks worker.

    The selection is either an explicit list of event ids or the admin filter that was on screen
    ("select all"), frozen at confirmation: relative time windows become absolute and events
    received after `max_event_id` are not part of the job.
    """

    force = models.BooleanField(default=False, help_text="Also re-run events that were already processed.")
    event_ids = models.JSONField(default=list, blank=True)
    event_filter = models.JSONField(
        default=dict, blank=True, help_text="The admin list filter and search that was selected."
    )
    max_event_id = models.BigIntegerField(default=0)
    status = models.CharField(
        max_length=20, choices=ReprocessJobStatus.choices, default=ReprocessJobStatus.QUEUED
    )
    total = models.PositiveIntegerField(default=0, help_text="Events runnable at confirmation.")
    done = models.PositiveIntegerField(default=0, help_text="Events run so far.")
    failed = models.PositiveIntegerField(default=0, help_text="Runs that ended failed.")
    skipped = models.PositiveIntegerField(
        default=0, help_text="Events no longer runnable when the job reached them."
    )
    last_event_id = models.BigIntegerField(
        default=0, help_text="Resume point: every selected event up to this id has been handled."
    )
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Reprocess job #{self.pk} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in (ReprocessJobStatus.QUEUED, ReprocessJobStatus.RUNNING)

    @property
    def percent_done(self) -> int:
        if self.status == ReprocessJobStatus.FINISHED:
            return 100
        handled = self.done + self.skipped
        return min(99, handled * 100 // self.total) if self.total else 0


class DailyEventCount(models.Model):
    """Events received on one day (a day of `time_zone`) by status, as counted at `counted_at`.

    The dashboard's 14-day chart reads these rows instead of counting millions of events on a
    page view; `webhooks.daily_counts` recounts them in the background (today every minute,
    finished days every quarter of an hour, at once after a prune) and the page shows when.
    """

    time_zone = models.CharField(max_length=64)
    day = models.DateField()
    counts = models.JSONField(default=dict, help_text="Events received that day, by status.")
    counted_at = models.DateTimeField(help_text="When the count started: later changes are not in it.")

    class Meta:
        db_table = "webhook_daily_counts"
        constraints = [models.UniqueConstraint(fields=["time_zone", "day"], name="daily_count_one_per_day")]

    def __str__(self) -> str:
        return f"{self.day} ({self.time_zone}): {sum(self.counts.values())} events"
