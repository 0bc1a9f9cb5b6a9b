"""HIT notifications of a batch of webhook events, written with one INSERT per batch.

A worker applies a batch of Cal.com events in one transaction (webhooks/batch_processing.py):
all or nothing, or, once an event has failed, each event in a savepoint. Inside `hit_batch()`,
`queue_hit_notifications` and `withdraw_hit_notifications` do not write the outbox rows of each
event: they stage what the event asks for. The batch keeps an event's intents once it succeeded
(`keep_event`) and drops them when its savepoint rolls back (`discard_event`), so a rolled-back
event never leaves a notification behind. `write` then inserts every kept row with one
`INSERT … ON CONFLICT DO NOTHING` (the unique outbox key still makes duplicates, replays and
concurrent runs no-ops), finds the rows to send with one query, and hands them over with one
task per due time, all before the batch commits.

What the batch writes is what the events one by one would have written: the first event to
queue a (meeting, kind) wins (the others would have hit the unique key), and a no-show marked
by a later event of the batch withdraws the HIT an earlier event queued (its row is written
`withdrawn`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from meetings.models import Meeting

from .models import Notification, NotificationChannel, NotificationStatus
from .selectors import due_filter
from .services import enqueue_sending, hit_delay, outbox_rows, staged_hits


@dataclass
class _Intent:
    meeting: Meeting
    kind: str
    event_id: int | None


@dataclass(frozen=True)
class _Withdrawal:
    meeting_id: int
    kind: str
    reason: str


class HitBatch:
    """The HIT notifications a batch's events asked for, by event, until the batch writes them."""

    def __init__(self) -> None:
        self._kept: list[_Intent | _Withdrawal] = []
        self._staged: list[_Intent | _Withdrawal] = []

    def queue(self, *, meeting: Meeting, kind: str, event_id: int | None) -> None:
        self._staged.append(_Intent(meeting=meeting, kind=kind, event_id=event_id))

    def withdraw(self, *, meeting_id: int, kind: str, reason: str) -> None:
        """A HIT an earlier event of the batch queued is taken back too (rows already in the
        outbox are withdrawn by the caller)."""
        self._staged.append(_Withdrawal(meeting_id=meeting_id, kind=kind, reason=reason))

    def keep_event(self) -> None:
        """The current event's savepoint was released: what it asked for stands."""
        self._kept.extend(self._staged)
        self._staged.clear()

    def discard_event(self) -> None:
        """The current event's savepoint rolled back: forget what it asked for."""
        self._staged.clear()

    def write(self, *, meeting_id_of: Callable[[int], int | None] = lambda pk: pk) -> int:
        """Insert the kept rows and enqueue their sending after commit; returns rows offered.

        `meeting_id_of` maps a meeting id to the one it is now (a later event of the batch may
        have merged it into another). Call inside the batch's transaction.
        """
        self.discard_event()
        wanted: dict[tuple[int, str], tuple[_Intent, str]] = {}
        for item in self._kept:
            if isinstance(item, _Withdrawal):
                key = (meeting_id_of(item.meeting_id) or item.meeting_id, item.kind)
                if key in wanted and not wanted[key][1]:
                    wanted[key] = (wanted[key][0], item.reason)
                continue
            meeting_id = meeting_id_of(item.meeting.pk) or item.meeting.pk
            wanted.setdefault((meeting_id, item.kind), (item, ""))
        self._kept.clear()
        if not wanted:
            return 0
        now = timezone.now()
        send_at = {kind: now + hit_delay(kind=kind) for _, kind in wanted if hit_delay(kind=kind)}
        meetings = _meetings_for_recipients(
            meeting_ids=[meeting_id for meeting_id, _ in wanted], wanted=wanted
        )
        rows = []
        for (meeting_id, kind), (intent, withdrawn_reason) in wanted.items():
            meeting = meetings.get(meeting_id, intent.meeting)
            for row in outbox_rows(
                meeting=meeting,
                meeting_id=meeting_id,
                kind=kind,
                event_id=intent.event_id,
                send_at=send_at.get(kind),
            ):
                if withdrawn_reason:
                    row.status = NotificationStatus.WITHDRAWN
                    row.withdrawn_reason = withdrawn_reason[:500]
                    row.next_attempt_at = None
                rows.append(row)
        Notification.objects.bulk_create(rows, ignore_conflicts=True)
        _enqueue_sending(wanted=wanted, now=now, send_at=send_at)
        return len(rows)


def _meetings_for_recipients(
    *, meeting_ids: list[int], wanted: dict[tuple[int, str], tuple[_Intent, str]]
) -> dict[int, Meeting]:
    """The meetings whose target's owner is a recipient, with it, in one query; the others are
    taken as the events left them (no query)."""
    channels = {channel.strip().lower() for channel in settings.HIT_CHANNELS}
    if NotificationChannel.EMAIL not in channels:
        return {}
    needed = [
        meeting_id
        for (meeting_id, _), (intent, _) in wanted.items()
        if intent.meeting.pk != meeting_id or intent.meeting.target_id is not None
    ]
    if not needed:
        return {}
    return Meeting.objects.select_related("target__owner").in_bulk(needed)


def _enqueue_sending(
    *,
    wanted: dict[tuple[int, str], tuple[_Intent, str]],
    now: datetime,
    send_at: dict[str, datetime],
) -> None:
    """One query for the batch's rows that are due now or wait out a grace period from `now`;
    one task for the due ones and one per due time for the others, after commit."""
    meeting_ids = sorted({meeting_id for meeting_id, _ in wanted})
    kinds = sorted({kind for _, kind in wanted})
    waiting = Q(status=NotificationStatus.PENDING, next_attempt_at__in=list(send_at.values()))
    found = Notification.objects.filter(
        due_filter(now=now) | waiting if send_at else due_filter(now=now),
        meeting_id__in=meeting_ids,
        kind__in=kinds,
    ).order_by("id")
    due: list[int] = []
    later: dict[datetime, list[int]] = {}
    for pk, meeting_id, kind, next_attempt_at in found.values_list(
        "id", "meeting_id", "kind", "next_attempt_at"
    ):
        if (meeting_id, kind) not in wanted:
            continue
        if next_attempt_at is not None and next_attempt_at > now:
            later.setdefault(next_attempt_at, []).append(pk)
        else:
            due.append(pk)
    if due:
        transaction.on_commit(lambda: enqueue_sending(notification_ids=due), robust=True)
    for run_after, ids in later.items():
        transaction.on_commit(_sending_of(ids=ids, run_after=run_after), robust=True)


def _sending_of(*, ids: list[int], run_after: datetime) -> Callable[[], None]:
    return lambda: enqueue_sending(notification_ids=ids, run_after=run_after)


@contextmanager
def hit_batch() -> Iterator[HitBatch]:
    """Stage the enclosed code's HIT notifications in a `HitBatch` (see the module docstring).

    The caller calls `keep_event`/`discard_event` per event and `write` before it commits;
    whatever is not written when the block ends is dropped.
    """
    batch = HitBatch()
    token = staged_hits.set(batch)
    try:
        yield batch
    finally:
        staged_hits.reset(token)
