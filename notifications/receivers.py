"""The notification outbox's answers to signals from the meetings domain."""

from __future__ import annotations

from django.dispatch import receiver

from meetings.signals import meeting_no_show_marked, meetings_merged
from notifications.models import Notification
from notifications.services import withdraw_hit_notifications


@receiver(meetings_merged, dispatch_uid="notifications.move_notifications_of_merged_meeting")
def move_notifications_of_merged_meeting(*, survivor_id: int, merged_id: int, **kwargs) -> None:
    """Give the merged meeting's notifications to the survivor.

    One that the survivor already has (same kind, channel and recipient: the unique outbox key)
    is deleted instead, so each HIT is still sent at most once for the chain.
    """
    for notification in Notification.objects.filter(meeting_id=merged_id):
        clash = Notification.objects.filter(
            meeting_id=survivor_id,
            kind=notification.kind,
            channel=notification.channel,
            recipient=notification.recipient,
        ).exists()
        if clash:
            notification.delete()
        else:
            notification.meeting_id = survivor_id
            notification.save(update_fields=["meeting"])


@receiver(meeting_no_show_marked, dispatch_uid="notifications.withdraw_hit_of_no_show")
def withdraw_hit_of_no_show(*, meeting_id: int, kind: str, reason: str, **kwargs) -> None:
    """A no-show was marked: the "meeting completed" HIT still waiting is not sent."""
    withdraw_hit_notifications(meeting_id=meeting_id, kind=kind, reason=f"withdrawn: {reason}")
