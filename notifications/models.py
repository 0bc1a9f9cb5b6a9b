from django.db import models


class NotificationKind(models.TextChoices):
    PAYMENT_RECEIVED = "payment_received", "Payment received"
    MEETING_COMPLETED = "meeting_completed", "Meeting completed"


class NotificationChannel(models.TextChoices):
    EMAIL = "email", "E-mail"
    SLACK = "slack", "Slack"
    LOG = "log", "Log"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class Notification(models.Model):
    """Outbox row for one HIT notification to one recipient on one channel."""

    kind = models.CharField(max_length=32, choices=NotificationKind.choices)
    meeting = models.ForeignKey(
        "meetings.Meeting", on_delete=models.CASCADE, related_name="notifications"
    )
    event = models.ForeignKey(
        "webhooks.WebhookEvent",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="notifications",
    )
    channel = models.CharField(max_length=16, choices=NotificationChannel.choices)
    recipient = models.CharField(max_length=2000)
    status = models.CharField(
        max_length=16, choices=NotificationStatus.choices, default=NotificationStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Exactly once per (meeting, kind, channel, recipient), whatever the duplicates,
            # reprocessing or concurrency.
            models.UniqueConstraint(
                fields=["meeting", "kind", "channel", "recipient"],
                name="notification_once_per_recipient",
            ),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="notification_due_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} → {self.channel}:{self.recipient}"
