"""The delivery pipeline's answers to signals from the meetings domain."""

from __future__ import annotations

from django.dispatch import receiver

from meetings.signals import meetings_merged
from webhooks.models import WebhookEvent


@receiver(meetings_merged, dispatch_uid="webhooks.move_events_of_merged_meeting")
def move_events_of_merged_meeting(*, survivor_id: int, merged_id: int, **kwargs) -> None:
    """The merged meeting's webhook events belong to the survivor now (its timeline shows them)."""
    WebhookEvent.objects.filter(meeting_id=merged_id).update(meeting_id=survivor_id)
