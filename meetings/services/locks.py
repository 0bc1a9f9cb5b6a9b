"""Meetings locked once for a batch of events applied in one transaction.

A worker that applies many Cal.com events in one transaction (webhooks/batch_processing.py)
locks every meeting the batch names with one SELECT … FOR UPDATE, in id order, before applying
the first event: no per-event lock query, and two batches never wait on each other in a cycle.
`apply_calcom_event(locks=...)` then takes an event's meeting from here when every uid of the
event already belongs to one locked meeting, and falls back to its own lookup otherwise (a new
booking, a uid to link, meetings to merge), remembering what that path found.

The batch's `MeetingStatusChange` rows are collected here too and written with one INSERT
(`write_status_changes`) before the batch commits: an event's rows are kept once its savepoint
is released (`keep_event`) and dropped with it when it rolls back (`clear`).
"""

from __future__ import annotations

from collections.abc import Iterable

from meetings.models import Meeting, MeetingStatusChange
from meetings.selectors import meetings_for_update, target_ids_for_emails, uid_owners


class BatchMeetingLocks:
    """The locked meetings of one transaction, by the booking uids they own.

    The instances are the ones the batch's events change and save, so they stay what the
    database holds as long as every event either commits its savepoint or the caller calls
    `clear()` after rolling one back.
    """

    def __init__(
        self,
        *,
        meetings: Iterable[Meeting] = (),
        owners: dict[str, int] | None = None,
        targets: dict[str, int] | None = None,
        all_or_nothing: bool = False,
    ):
        # Applied without a savepoint per event: any error aborts the whole transaction (the
        # caller applies the batch again, each event in a savepoint). An error apply would
        # otherwise catch in a savepoint of its own (a lost race to insert a booking's uids)
        # is raised instead, and apply takes no savepoints of its own.
        self.all_or_nothing = all_or_nothing
        # The batch's attendee e-mails that name a target (lowercased e-mail -> target id).
        self._targets = targets or {}
        by_id = {meeting.pk: meeting for meeting in meetings}
        self._by_uid: dict[str, Meeting] = {
            uid: by_id[meeting_id] for uid, meeting_id in (owners or {}).items() if meeting_id in by_id
        }
        # meeting id merged away -> the meeting it was merged into, for rows the caller has
        # not written yet that name the merged one.
        self.merged_into: dict[int, int] = {}
        self._changes_kept: list[MeetingStatusChange] = []
        self._changes_staged: list[MeetingStatusChange] = []

    def meeting_for(self, *, uids: list[str]) -> Meeting | None:
        """The locked meeting owning every one of these uids, or None."""
        if not uids:
            return None
        found = {id(self._by_uid.get(uid)) for uid in uids}
        if len(found) != 1:
            return None
        return self._by_uid.get(uids[0])

    def target_id_for(self, *, emails: Iterable[str]) -> int | None:
        """`target_for_emails` among the batch's e-mails: the first in order that has a target."""
        return next((self._targets[e.lower()] for e in emails if e and e.lower() in self._targets), None)

    def remember(self, *, meeting: Meeting, uids: Iterable[str]) -> None:
        """`meeting` is locked (or inserted) by this transaction and owns these uids."""
        # One instance per meeting: an older one of the same row is out of date once this is saved.
        for uid, known in list(self._by_uid.items()):
            if known.pk == meeting.pk:
                self._by_uid[uid] = meeting
        for uid in uids:
            self._by_uid[uid] = meeting

    def merged(self, *, survivor_id: int, merged_ids: Iterable[int]) -> None:
        merged_ids = set(merged_ids)
        for earlier, into in list(self.merged_into.items()):
            if into in merged_ids:
                self.merged_into[earlier] = survivor_id
        for merged_id in merged_ids:
            self.merged_into[merged_id] = survivor_id
        # Instances of merged-away meetings must never be used again.
        self._by_uid = {uid: m for uid, m in self._by_uid.items() if m.pk not in self.merged_into}

    def clear(self) -> None:
        """Forget every instance (after a savepoint rollback left some out of date), and the
        status changes of the event rolled back."""
        self._by_uid.clear()
        self._changes_staged.clear()

    def add_status_change(self, change: MeetingStatusChange) -> None:
        """A status change of the current event, written by `write_status_changes`."""
        self._changes_staged.append(change)

    def keep_event(self) -> None:
        """The current event's savepoint was released: its status changes stand."""
        self._changes_kept.extend(self._changes_staged)
        self._changes_staged.clear()

    def write_status_changes(self) -> int:
        """Insert the kept status changes in one statement (in order); returns how many."""
        self._changes_staged.clear()
        changes, self._changes_kept = self._changes_kept, []
        for change in changes:
            # A later event of the batch may have merged the meeting into another.
            change.meeting_id = self.merged_into.get(change.meeting_id, change.meeting_id)
        MeetingStatusChange.objects.bulk_create(changes)
        return len(changes)

    def current_meeting_id(self, meeting_id: int | None) -> int | None:
        """The meeting `meeting_id` is now, after the merges this transaction made."""
        if meeting_id is None:
            return None
        return self.merged_into.get(meeting_id, meeting_id)


def lock_meetings_of_batch(
    *, uids: Iterable[str], emails: Iterable[str] = (), all_or_nothing: bool = False
) -> BatchMeetingLocks:
    """Lock the meetings owning these uids in one query (id order) and map their uids; find the
    targets among the batch's attendee e-mails in another.

    Call inside the batch's transaction. The uid map is read after the lock, and only uids of
    locked meetings are kept: a booking created meanwhile is found by the event's own lookup.
    """
    uids = list(dict.fromkeys(uid for uid in uids if uid))
    meetings = meetings_for_update(uids=uids) if uids else []
    if not meetings:
        return BatchMeetingLocks(all_or_nothing=all_or_nothing)
    return BatchMeetingLocks(
        meetings=meetings,
        owners=uid_owners(uids=uids),
        targets=target_ids_for_emails(emails=emails),
        all_or_nothing=all_or_nothing,
    )
