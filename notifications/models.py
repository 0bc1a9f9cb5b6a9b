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
    # Claimed by one worker, which is talking to the mail server or Slack right now; the claim
    # expires at next_attempt_at so a crashed worker's row is picked up again by the sweep.
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    # Taken back before it was sent (a no-show was marked during the grace period); never sent.
    WITHDRAWN = "withdrawn", "Withdrawn"


class Notification(models.Model):
    """Outbox row for one HIT notification to one recipient on one channel."""

    kind = models.CharField(max_length=32, choices=NotificationKind.choices)
    meeting = models.ForeignKey("meetings.Meeting", on_delete=models.CASCADE, related_name="notifications")
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
    attempts = models.PositiveIntegerField(default=0, help_text="Send attempts so far.")
    next_attempt_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=(
            "Pending: when the next attempt is due (the first one after the grace period). "
            "Sending: when the claim expires."
        ),
    )
    last_error = models.TextField(blank=True)
    withdrawn_reason = models.CharField(
        max_length=500, blank=True, help_text="Why the notification was withdrawn before it was sent."
    )
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
        permissions = [("resend_notification", "Can resend HIT notifications")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} → {self.channel}:{self.recipient}"
