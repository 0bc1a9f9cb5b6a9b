"""Admin for the HIT notification outbox: what was sent to whom, what failed and why; resend."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from console.admin.base import ReadOnlyModelAdmin
from console.widgets import (
    NOTIFICATION_COLOURS,
    badge,
    badge_with_reason,
    clipped,
    local_time,
)
from notifications.models import Notification, NotificationStatus
from notifications.services import resend_notifications


@admin.register(Notification)
class NotificationAdmin(ReadOnlyModelAdmin):
    # Fits a 1366-px laptop: recipient and meeting cut to one line, the error under the status.
    list_display = (
        "id",
        "kind",
        "meeting_link",
        "recipient_column",
        "status_column",
        "attempts_column",
        "when_column",
    )
    list_filter = ("status", "kind", "channel", "created_at", "sent_at")
    search_fields = (
        "recipient",
        "meeting__cal_event_id",
        "meeting__attendee_email",
        "meeting__target__name",
        "meeting__target__company",
    )
    list_select_related = ("meeting",)
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    actions = ("resend",)
    readonly_fields = (
        "kind",
        "meeting_link",
        "event_link",
        "channel",
        "recipient",
        "status",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "last_error",
        "withdrawn_reason",
        "created_at",
        "updated_at",
    )
    fields = readonly_fields

    # The outbox is written by webhook processing only (read-only base): editing or deleting a
    # row would break "each recipient hears about a HIT once". Staff look, and resend.
    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("notifications.resend_notification")

    @admin.action(description="Resend", permissions=["resend"])
    def resend(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        result = resend_notifications(
            notification_ids=list(queryset.values_list("id", flat=True)), user=request.user
        )
        # With the inline task backend the rows are already sent (or failed again) here.
        for notification in result.queued:
            level = {
                NotificationStatus.SENT: messages.SUCCESS,
                NotificationStatus.FAILED: messages.ERROR,
            }.get(notification.status, messages.INFO)
            outcome = notification.get_status_display().lower()
            if notification.last_error and notification.status != NotificationStatus.SENT:
                outcome += f" ({Truncator(notification.last_error).chars(200)})"
            self.message_user(request, f"Notification #{notification.pk}: {outcome}.", level)
        for notification, why in result.skipped:
            self.message_user(
                request, f"Notification #{notification.pk} not resent: {why}.", messages.WARNING
            )

    @admin.display(description="meeting", ordering="meeting")
    def meeting_link(self, obj: Notification):
        return _admin_link(
            "admin:meetings_meeting_change",
            obj.meeting_id,
            clipped(str(obj.meeting), css_class="vani-meeting"),
        )

    @admin.display(description="channel: recipient")
    def recipient_column(self, obj: Notification):
        return format_html(
            "{}: {}", obj.get_channel_display(), clipped(obj.recipient, css_class="vani-email")
        )

    @admin.display(description="tries", ordering="attempts")
    def attempts_column(self, obj: Notification) -> int:
        return obj.attempts

    @admin.display(description="status")
    def status_column(self, obj: Notification):
        label = badge(
            label=obj.get_status_display(),
            colour=NOTIFICATION_COLOURS.get(obj.status, "#6b7280"),
            css_class=f"notification-{obj.status}",
        )
        reason = obj.withdrawn_reason or (obj.last_error if obj.status != NotificationStatus.SENT else "")
        return badge_with_reason(badge_html=label, reason=reason)

    @admin.display(description="sent / due", ordering="created_at")
    def when_column(self, obj: Notification):
        if obj.sent_at:
            return format_html("sent {}", local_time(obj.sent_at, fmt="Y-m-d H:i T"))
        if obj.next_attempt_at and obj.status != NotificationStatus.FAILED:
            return format_html("due {}", local_time(obj.next_attempt_at, fmt="Y-m-d H:i T"))
        return format_html("created {}", local_time(obj.created_at, fmt="Y-m-d H:i T"))

    @admin.display(description="webhook event", ordering="event")
    def event_link(self, obj: Notification):
        if obj.event_id is None:
            return "—"
        return _admin_link("admin:webhooks_webhookevent_change", obj.event_id, f"#{obj.event_id}")


def _admin_link(url_name: str, object_id: int, label) -> str:
    try:
        return format_html('<a href="{}">{}</a>', reverse(url_name, args=[object_id]), label)
    except NoReverseMatch:  # that model's admin is not installed
        return str(label)
