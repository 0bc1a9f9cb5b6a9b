"""Signals the meetings domain sends for the apps built on top of it.

The domain never imports those apps; they listen here and look after their own rows.
"""

from django.dispatch import Signal

# Two meetings turned out to be one reschedule chain. Sent with `survivor_id` and `merged_id`
# inside the merging transaction, before the merged meeting is deleted: receivers move the
# rows they hang off the merged meeting to the survivor (anything left is deleted with it).
meetings_merged = Signal()

# A no-show was marked on a meeting (BOOKING_NO_SHOW_UPDATED, AFTER_GUESTS_CAL_VIDEO_NO_SHOW).
# Sent with `meeting_id` and `reason` inside the transaction that marks it: the outbox withdraws
# the "meeting completed" HIT it still holds for the meeting.
meeting_no_show_marked = Signal()
