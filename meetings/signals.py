"""Signals the meetings domain sends for the apps built on top of it.

The domain never imports those apps; they listen here and look after their own rows.
"""

from django.dispatch import Signal

# Two meetings turned out to be one reschedule chain. Sent with `survivor_id` and `merged_id`
# inside the merging transaction, before the merged meeting is deleted: receivers move the
# rows they hang off the merged meeting to the survivor (anything left is deleted with it).
meetings_merged = Signal()
