"""The Cal.com sync's answers to signals from the meetings domain."""

from __future__ import annotations

from django.dispatch import receiver

from calsync.models import SyncChange
from meetings.signals import meetings_merged


@receiver(meetings_merged, dispatch_uid="calsync.move_sync_changes_of_merged_meeting")
def move_sync_changes_of_merged_meeting(*, survivor_id: int, merged_id: int, **kwargs) -> None:
    """What the sync healed on the merged meeting is part of the survivor's timeline now."""
    SyncChange.objects.filter(meeting_id=merged_id).update(meeting_id=survivor_id)
