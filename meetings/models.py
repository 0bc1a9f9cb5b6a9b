from django.conf import settings
from django.db import models
from django.db.models.functions import Lower


class Target(models.Model):
    """A prospect that sales staff book meetings with."""

    name = models.CharField(max_length=255, blank=True)
    email = models.EmailField(max_length=254)
    company = models.CharField(max_length=255, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="targets",
        help_text="Staff member who owns this prospect; receives HIT notifications.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="target_email_ci_unique"),
        ]
        ordering = ["name", "email"]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


class MeetingStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    CANCELLED = "cancelled", "Cancelled"
    COMPLETED = "completed", "Completed"
    NO_SHOW = "no_show", "No show"


class PaymentStatus(models.TextChoices):
    NONE = "none", "No payment"
    PENDING = "pending", "Payment pending"
    PAID = "paid", "Paid"


class Meeting(models.Model):
    """One logical appointment; survives reschedules (which give Cal.com bookings new uids)."""

    cal_event_id = models.CharField(max_length=255, unique=True, help_text="Current Cal.com booking uid.")
    cal_booking_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    status = models.CharField(max_length=20, choices=MeetingStatus.choices, default=MeetingStatus.SCHEDULED)
    cal_status = models.CharField(
        max_length=20, blank=True, help_text="Cal.com's booking status (ACCEPTED, PENDING, …)."
    )
    start_time = models.DateTimeField(null=True, blank=True)
    end_time = models.DateTimeField(null=True, blank=True)
    title = models.CharField(max_length=500, blank=True)
    attendee_name = models.CharField(max_length=255, blank=True)
    attendee_email = models.CharField(max_length=254, blank=True)
    organizer_name = models.CharField(max_length=255, blank=True)
    organizer_email = models.CharField(max_length=254, blank=True)
    location = models.CharField(max_length=1000, blank=True)
    video_url = models.CharField(max_length=2000, blank=True)
    recording_url = models.CharField(max_length=2000, blank=True)
    transcript_urls = models.JSONField(default=list, blank=True)
    target = models.ForeignKey(
        Target, null=True, blank=True, on_delete=models.SET_NULL, related_name="meetings"
    )
    payment_status = models.CharField(
        max_length=20, choices=PaymentStatus.choices, default=PaymentStatus.NONE
    )
    payment_id = models.CharField(max_length=100, blank=True)
    payment_amount = models.IntegerField(
        null=True, blank=True, help_text="Price in minor units (e.g. cents), as Cal.com sends it."
    )
    payment_currency = models.CharField(max_length=10, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    cancellation_reason = models.TextField(blank=True)
    reschedule_requested = models.BooleanField(
        default=False, help_text="Cancelled through the host's 'Request reschedule'."
    )
    no_show_emails = models.JSONField(
        default=list, blank=True, help_text="Attendees currently marked as no-show."
    )
    host_no_show = models.BooleanField(
        default=False,
        help_text="Cal Video reported that the host did not join (AFTER_HOSTS_CAL_VIDEO_NO_SHOW).",
    )
    last_event_at = models.DateTimeField(
        null=True, blank=True, help_text="Cal.com time of the last event applied to this meeting."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "meetings"
        ordering = ["-start_time", "-id"]
        indexes = [
            models.Index(fields=["status", "start_time"], name="meeting_status_start_idx"),
            models.Index(fields=["start_time"], name="meeting_start_idx"),
            models.Index(fields=["attendee_email"], name="meeting_attendee_email_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.title or 'Meeting'} ({self.cal_event_id})"


class BookingUid(models.Model):
    """Every Cal.com booking uid a meeting has had; a reschedule chain A→B→C is one meeting."""

    uid = models.CharField(max_length=255, unique=True)
    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="uids")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.uid


class ChangeSource(models.TextChoices):
    """Where a change to a meeting came from."""

    WEBHOOK = "webhook", "Webhook"
    SYNC = "sync", "Cal.com sync"
    STAFF = "staff", "Staff"


class MeetingStatusChange(models.Model):
    """Audit trail: every change of a meeting's status, and what caused it (a webhook event, the
    Cal.com sync, staff)."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=20, blank=True, choices=MeetingStatus.choices)
    to_status = models.CharField(max_length=20, choices=MeetingStatus.choices)
    event = models.ForeignKey(
        "webhooks.WebhookEvent",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="status_changes",
    )
    source = models.CharField(max_length=10, choices=ChangeSource.choices, default=ChangeSource.WEBHOOK)
    reason = models.CharField(max_length=500, blank=True)
    changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["changed_at", "id"]
        indexes = [models.Index(fields=["meeting", "changed_at"], name="status_change_meeting_idx")]

    def __str__(self) -> str:
        return f"{self.from_status or '∅'} → {self.to_status}"
