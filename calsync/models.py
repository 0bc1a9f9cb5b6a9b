"""The Cal.com sync's state: where the next run continues from, every run's outcome, and every
change a run made to a meeting (shown on the meeting's timeline)."""

from __future__ import annotations

from django.db import models


class SyncState(models.Model):
    """The one row (pk 1) holding the watermark of the last successful plain run."""

    updated_through = models.DateTimeField(
        null=True, blank=True, help_text="Latest booking updatedAt a successful plain run applied."
    )
    ended_through = models.DateTimeField(
        null=True, blank=True, help_text="Bookings ending up to this moment were checked for completion."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "Cal.com sync state"

    def __str__(self) -> str:
        return f"synced through {self.updated_through or 'never'}"


class SyncRunKind(models.TextChoices):
    PLAIN = "plain", "Continue from the watermark"
    SINCE = "since", "Since a given time"
    UIDS = "uids", "Selected bookings"


class SyncRunVia(models.TextChoices):
    COMMAND = "command", "Command"
    ADMIN = "admin", "Admin"


class SyncRun(models.Model):
    """One run of the sync (dry runs are not recorded)."""

    kind = models.CharField(max_length=10, choices=SyncRunKind.choices)
    via = models.CharField(max_length=10, choices=SyncRunVia.choices, default=SyncRunVia.COMMAND)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    read_from = models.DateTimeField(null=True, blank=True, help_text="afterUpdatedAt of this run.")
    bookings_read = models.PositiveIntegerField(default=0)
    meetings_changed = models.PositiveIntegerField(default=0)
    meetings_created = models.PositiveIntegerField(default=0)
    bookings_unchanged = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["finished_at"], name="syncrun_finished_idx")]

    def __str__(self) -> str:
        return f"sync #{self.pk} ({self.kind}) at {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def succeeded(self) -> bool:
        return self.finished_at is not None and not self.error


class SyncChangeKind(models.TextChoices):
    CREATED = "created", "Created"
    RESCHEDULED = "rescheduled", "Rescheduled"
    SCHEDULED = "scheduled", "Status → scheduled"
    CANCELLED = "cancelled", "Status → cancelled"
    COMPLETED = "completed", "Status → completed"
    NO_SHOW = "no_show", "Status → no show"
    DETAILS = "details", "Details"


class SyncChange(models.Model):
    """What one booking read by the sync changed on its meeting."""

    run = models.ForeignKey(SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="changes")
    meeting = models.ForeignKey("meetings.Meeting", on_delete=models.CASCADE, related_name="sync_changes")
    booking_uid = models.CharField(max_length=255)
    kind = models.CharField(max_length=16, choices=SyncChangeKind.choices)
    # field name -> [old, new], as text
    fields = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["meeting", "created_at"], name="syncchange_meeting_idx"),
            models.Index(fields=["created_at"], name="syncchange_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.booking_uid}"
