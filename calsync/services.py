"""Running the Cal.com sync: read bookings from Cal.com's API and heal the meetings they belong to.

Each booking becomes the webhook-equivalent events `meetings.booking_sync` plans, applied by
`meetings.services.apply` (the same domain code and ordering rules as deliveries), each booking
in its own transaction. HIT notifications go through the notifications outbox, only for
completions that happened in the last 24 hours (a first backfill sends nothing).

A plain run continues from the watermark of the last successful plain run, with an overlap,
and also reads the bookings that ended since then (a meeting ends without any booking update,
so `afterUpdatedAt` alone never sees a lost MEETING_ENDED). The watermark moves only when a
plain run succeeds; `--since`, `--uid`, dry runs and failed runs leave it where it is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from calcom.api.bookings import BookingQuery, CalComBooking, fetch_booking, list_bookings
from calcom.api.client import CalComClient, CalComError, CalComNotFoundError, InvalidPathSegment
from calcom.parsing import CalComEvent
from calsync.models import SyncChange, SyncChangeKind, SyncRun, SyncRunKind, SyncRunVia, SyncState
from meetings.booking_sync import plan_booking_sync
from meetings.models import ChangeSource, Meeting
from meetings.services.apply import apply_calcom_event
from notifications.services import queue_hit_notifications

logger = logging.getLogger("calsync")

# Re-read this much before the watermark: bookings updated in the same instant as the last one
# applied, or committed by Cal.com a little late, are not missed.
WATERMARK_OVERLAP = timedelta(minutes=5)
# The ended-bookings query filters on start: meetings up to this long are seen ending.
LONGEST_MEETING = timedelta(hours=24)
# A completion older than this found by the sync sends no HIT (a backfill stays quiet).
HIT_WINDOW = timedelta(hours=24)
# The old halves of a reschedule chain followed from one booking, at most.
MAX_CHAIN_HOPS = 20
ERROR_LIMIT = 300


@dataclass(frozen=True)
class SyncRequest:
    """What to read: `uids` only those bookings; else everything updated `since`; else a plain
    run from the watermark. `dry_run` writes nothing."""

    since: datetime | None = None
    uids: tuple[str, ...] = ()
    dry_run: bool = False

    @property
    def kind(self) -> SyncRunKind:
        if self.uids:
            return SyncRunKind.UIDS
        return SyncRunKind.SINCE if self.since is not None else SyncRunKind.PLAIN


@dataclass(frozen=True)
class MeetingChange:
    """One booking's effect on its meeting (a SyncChange row), or a run's on one meeting."""

    booking_uid: str
    meeting_uid: str
    kind: SyncChangeKind
    fields: dict[str, tuple[str, str]]

    def describe(self) -> str:
        """One line: the meeting's uid and each field old → new."""
        if self.kind == SyncChangeKind.CREATED:
            return f"{self.meeting_uid}: created, status {self.fields['status'][1]}"
        changes = ", ".join(f"{name} {old or '∅'} → {new or '∅'}" for name, (old, new) in self.fields.items())
        return f"{self.meeting_uid}: {changes}"

    def then(self, later: MeetingChange) -> MeetingChange:
        """This change followed by a later one to the same meeting, as one change."""
        if self.kind == SyncChangeKind.CREATED:
            fields = {"status": later.fields.get("status", self.fields["status"])}
            return MeetingChange(self.booking_uid, later.meeting_uid, self.kind, fields)
        fields = dict(self.fields)
        for name, (old, new) in later.fields.items():
            fields[name] = (fields[name][0] if name in fields else old, new)
        fields = {name: values for name, values in fields.items() if values[0] != values[1]}
        kind = later.kind if later.kind != SyncChangeKind.DETAILS else self.kind
        return MeetingChange(self.booking_uid, later.meeting_uid, kind, fields)


@dataclass
class SyncReport:
    run_id: int | None = None
    bookings_read: int = 0
    unchanged: int = 0
    changed_meetings: set[int] = field(default_factory=set)
    created_meetings: set[int] = field(default_factory=set)
    # meeting id -> what the run changed on it (all its bookings together)
    meeting_changes: dict[int, MeetingChange] = field(default_factory=dict)
    missing_uids: list[str] = field(default_factory=list)
    failed_uids: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def ok(self) -> bool:
        return not (self.error or self.missing_uids or self.failed_uids)

    @property
    def changed(self) -> int:
        return len(self.changed_meetings - self.created_meetings)

    @property
    def created(self) -> int:
        return len(self.created_meetings)

    def summary(self) -> str:
        return (
            f"read {self.bookings_read} bookings, changed {self.changed} meetings, "
            f"created {self.created}, unchanged {self.unchanged}"
        )

    def problems(self) -> str:
        """One line naming every cause of failure (empty when the run succeeded)."""
        parts = []
        if self.missing_uids:
            parts.append("not found in Cal.com: " + ", ".join(self.missing_uids))
        if self.failed_uids:
            parts.append("could not apply: " + ", ".join(self.failed_uids))
        if self.error:
            parts.append(self.error)
        return "; ".join(parts)[:ERROR_LIMIT]


@dataclass
class _Run:
    request: SyncRequest
    client: CalComClient | None
    now: datetime
    run: SyncRun | None
    report: SyncReport
    on_booking: Callable[[str], None] | None
    seen: set[str] = field(default_factory=set)
    latest_update: datetime | None = None


class _DryRunRollback(Exception):
    pass


def run_sync(
    *,
    request: SyncRequest,
    client: CalComClient | None = None,
    now: datetime | None = None,
    via: SyncRunVia = SyncRunVia.COMMAND,
    on_total: Callable[[int], None] | None = None,
    on_booking: Callable[[str], None] | None = None,
) -> SyncReport:
    """Run the sync once and return what it did. Never raises for Cal.com failures: they end
    the run and are in `report.error` (what was applied before stays applied)."""
    now = now or timezone.now()
    report = SyncReport()
    run = None
    if not request.dry_run:
        run = SyncRun.objects.create(kind=request.kind, via=via, started_at=now, read_from=request.since)
        report.run_id = run.pk
    state = SyncState.objects.filter(pk=1).first() or SyncState(pk=1)
    context = _Run(request=request, client=client, now=now, run=run, report=report, on_booking=on_booking)
    try:
        if context.client is None:
            context.client = CalComClient.from_settings()
        if request.dry_run:
            # One transaction rolled back at the end: later bookings of a chain see what the
            # earlier ones would have done, and nothing stays.
            try:
                with transaction.atomic():
                    _read_and_apply(context=context, state=state, on_total=on_total)
                    raise _DryRunRollback
            except _DryRunRollback:
                pass
        else:
            _read_and_apply(context=context, state=state, on_total=on_total)
    except (CalComError, InvalidPathSegment) as exc:
        report.error = " ".join(str(exc).split())[:ERROR_LIMIT]
    if run is not None:
        _finish(run=run, report=report, state=state, latest_update=context.latest_update)
    return report


def _read_and_apply(*, context: _Run, state: SyncState, on_total: Callable[[int], None] | None) -> None:
    request = context.request
    if request.uids:
        for uid in request.uids:
            try:
                booking = fetch_booking(uid=uid, client=context.client)
            except (CalComNotFoundError, InvalidPathSegment):
                context.report.missing_uids.append(uid)
                continue
            if on_total is not None:
                on_total(1)
            _sync_booking(context=context, booking=booking)
        return
    if request.since is not None:
        updated_after = request.since
        ended_after = request.since
    elif state.updated_through is None:
        updated_after = context.now - timedelta(days=settings.CAL_COM_SYNC_FIRST_RUN_DAYS)
        ended_after = updated_after
    else:
        updated_after = state.updated_through - WATERMARK_OVERLAP
        ended_after = (state.ended_through or state.updated_through) - WATERMARK_OVERLAP
    if context.run is not None and context.run.read_from is None:
        context.run.read_from = updated_after
    for booking in list_bookings(
        query=BookingQuery(updated_after=updated_after), client=context.client, on_total=on_total
    ):
        _sync_booking(context=context, booking=booking)
        if booking.updated_at is not None and (
            context.latest_update is None or booking.updated_at > context.latest_update
        ):
            context.latest_update = booking.updated_at
    ended = BookingQuery(
        start_after=ended_after - LONGEST_MEETING, end_before=context.now, statuses=("past",)
    )
    for booking in list_bookings(query=ended, client=context.client, on_total=on_total):
        if booking.end is None or booking.end > ended_after:
            _sync_booking(context=context, booking=booking)


def _sync_booking(*, context: _Run, booking: CalComBooking, hops: int = 0) -> None:
    """Apply one booking (in its own transaction), then the booking that replaced it."""
    if booking.uid in context.seen:
        return
    context.seen.add(booking.uid)
    report = context.report
    report.bookings_read += 1
    plan = plan_booking_sync(booking=booking, now=context.now)
    try:
        with transaction.atomic():
            change = _apply_events(context=context, booking=booking, events=plan.events)
    except Exception as exc:
        # One booking that cannot be applied fails the run (the watermark stays) but not the
        # bookings after it.
        logger.exception("the Cal.com sync could not apply booking %s", booking.uid)
        report.failed_uids.append(f"{booking.uid} ({type(exc).__name__})")
        change = None
    if change is None:
        report.unchanged += 1
    if context.on_booking is not None:
        context.on_booking(booking.uid)
    if plan.successor_uid and plan.successor_uid not in context.seen and hops < MAX_CHAIN_HOPS:
        try:
            successor = fetch_booking(uid=plan.successor_uid, client=context.client)
        except (CalComNotFoundError, InvalidPathSegment):
            report.missing_uids.append(plan.successor_uid)
            return
        _sync_booking(context=context, booking=successor, hops=hops + 1)


def _apply_events(
    *, context: _Run, booking: CalComBooking, events: Iterable[CalComEvent]
) -> MeetingChange | None:
    """Apply a booking's events to its meeting; the combined change, or None when nothing changed."""
    created = False
    fields: dict[str, tuple[object, object]] = {}
    statuses: list[str] = []
    meeting: Meeting | None = None
    for event in events:
        result = apply_calcom_event(event=event, origin=ChangeSource.SYNC)
        if result.meeting is None:
            continue
        meeting = result.meeting
        if result.created and not result.plan.ignored:
            created = True
        for name, (old, new) in result.changes.items():
            fields[name] = (fields[name][0] if name in fields else old, new)
        if result.plan.new_status and not result.plan.ignored:
            statuses.append(result.plan.new_status)
        occurred_at = event.occurred_at
        if (
            result.plan.hit
            and not result.plan.ignored
            and occurred_at is not None
            and occurred_at >= context.now - HIT_WINDOW
        ):
            queue_hit_notifications(meeting=meeting, kind=result.plan.hit, trigger=event.trigger)
    fields = {name: values for name, values in fields.items() if values[0] != values[1]}
    if meeting is None or not (created or fields):
        return None
    change = MeetingChange(
        booking_uid=booking.uid,
        meeting_uid=meeting.cal_event_id,
        kind=_kind(created=created, fields=fields, status=meeting.status),
        fields={name: (_text(old), _text(new)) for name, (old, new) in fields.items()}
        if not created
        else {"status": ("", meeting.status)},
    )
    report = context.report
    earlier = report.meeting_changes.get(meeting.pk)
    report.meeting_changes[meeting.pk] = earlier.then(change) if earlier else change
    (report.created_meetings if created else report.changed_meetings).add(meeting.pk)
    if context.run is not None:
        SyncChange.objects.create(
            run=context.run,
            meeting=meeting,
            booking_uid=booking.uid,
            kind=change.kind,
            fields={name: list(values) for name, values in change.fields.items()},
        )
    return change


def _kind(*, created: bool, fields: dict[str, tuple[object, object]], status: str) -> SyncChangeKind:
    if created:
        return SyncChangeKind.CREATED
    if "cal_event_id" in fields:
        return SyncChangeKind.RESCHEDULED
    if "status" in fields:
        return SyncChangeKind(status)
    return SyncChangeKind.DETAILS


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _finish(*, run: SyncRun, report: SyncReport, state: SyncState, latest_update: datetime | None) -> None:
    """Record the run's outcome; move the watermark only past a successful plain run."""
    run.finished_at = timezone.now()
    run.bookings_read = report.bookings_read
    run.meetings_changed = report.changed
    run.meetings_created = report.created
    run.bookings_unchanged = report.unchanged
    run.error = report.problems()
    run.save()
    if run.kind != SyncRunKind.PLAIN or not report.ok:
        return
    if latest_update is not None and (state.updated_through is None or latest_update > state.updated_through):
        state.updated_through = latest_update
    elif state.updated_through is None:
        # Nothing was updated in the first window: the next run starts where this one looked.
        state.updated_through = run.read_from
    state.ended_through = run.started_at
    state.save()
