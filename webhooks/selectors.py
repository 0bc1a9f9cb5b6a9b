"""Read-side queries for webhook events: admin filters and search, counts, dashboard, timelines.

Everything here is written to stay fast on a table of millions of rows: exact, indexed lookups
instead of `icontains` scans, capped counts instead of `COUNT(*)` over the whole table.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, Min, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from calsync.models import SyncChange
from calsync.selectors import meeting_sync_changes
from meetings.models import BookingUid, Meeting, MeetingStatusChange
from meetings.selectors import meeting_ids_for_booking

from .models import (
    DailyEventCount,
    ProcessingAttempt,
    ReprocessJob,
    ReprocessJobStatus,
    WebhookEvent,
    WebhookEventStatus,
)

# --- Filtering and search (shared by the admin list and background reprocess jobs) -----------

RECEIVED_WINDOWS: dict[str, tuple[str, timedelta]] = {
    "1h": ("Last hour", timedelta(hours=1)),
    "24h": ("Last 24 hours", timedelta(hours=24)),
    "7d": ("Last 7 days", timedelta(days=7)),
}
UNPROCESSED_STATUSES = (
    WebhookEventStatus.RECEIVED,
    WebhookEventStatus.PROCESSING,
    WebhookEventStatus.FAILED,
)
# `#123` or `123`; longer digit runs cannot be an id (bigint) and are searched as uids.
_EVENT_ID_RE = re.compile(r"#?(\d{1,18})")


@dataclass(frozen=True)
class EventFilter:
    """What staff narrowed the event list to. Serialisable, so a background job can replay it."""

    status: str = ""
    trigger: str = ""
    signature_result: str = ""
    received_within: str = ""  # a key of RECEIVED_WINDOWS, relative to "now"
    received_from: datetime | None = None
    received_to: datetime | None = None
    search: str = ""

    def frozen(self, *, now: datetime) -> EventFilter:
        """The same selection with the relative window turned into an absolute start."""
        if self.received_within not in RECEIVED_WINDOWS:
            return replace(self, received_within="")
        start = now - RECEIVED_WINDOWS[self.received_within][1]
        if self.received_from is not None and self.received_from > start:
            start = self.received_from
        return replace(self, received_within="", received_from=start)

    def as_json(self) -> dict[str, str]:
        data = {
            "status": self.status,
            "trigger": self.trigger,
            "signature_result": self.signature_result,
            "received_within": self.received_within,
            "received_from": self.received_from.isoformat() if self.received_from else "",
            "received_to": self.received_to.isoformat() if self.received_to else "",
            "search": self.search,
        }
        return {key: value for key, value in data.items() if value}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EventFilter:
        return cls(
            status=data.get("status", ""),
            trigger=data.get("trigger", ""),
            signature_result=data.get("signature_result", ""),
            received_within=data.get("received_within", ""),
            received_from=parse_moment(data.get("received_from", "")),
            received_to=parse_moment(data.get("received_to", "")),
            search=data.get("search", ""),
        )

    @property
    def is_empty(self) -> bool:
        return not self.as_json()


def parse_moment(value: str, *, end_of_day: bool = False) -> datetime | None:
    """A datetime from an ISO string or a bare date (the start of that day, or the end of it).

    Raises ValueError for text that is neither, so a mistyped range is reported, not ignored.
    """
    value = (value or "").strip()
    if not value:
        return None
    try:
        day = parse_date(value) if len(value) == 10 else None
        if day is not None:
            moment = datetime.combine(day + timedelta(days=1) if end_of_day else day, datetime.min.time())
        else:
            moment = parse_datetime(value)
            if moment is None:
                raise ValueError(f"not a date or time: {value!r}")
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment)
        # The database stores UTC: a moment outside years 1-9999 there cannot be compared.
        moment.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"not a date or time in years 1-9999: {value!r}") from exc
    return moment


def filter_webhook_events(
    *,
    event_filter: EventFilter,
    queryset: QuerySet[WebhookEvent] | None = None,
    now: datetime | None = None,
) -> QuerySet[WebhookEvent]:
    """Apply a filter; every condition is an equality or range on an indexed column."""
    queryset = WebhookEvent.objects.all() if queryset is None else queryset
    if event_filter.status:
        queryset = queryset.filter(status=event_filter.status)
    if event_filter.trigger:
        queryset = queryset.filter(trigger_event=event_filter.trigger)
    if event_filter.signature_result:
        queryset = queryset.filter(signature_result=event_filter.signature_result)
    if event_filter.received_within in RECEIVED_WINDOWS:
        window = RECEIVED_WINDOWS[event_filter.received_within][1]
        queryset = queryset.filter(received_at__gte=(now or timezone.now()) - window)
    if event_filter.received_from is not None:
        queryset = queryset.filter(received_at__gte=event_filter.received_from)
    if event_filter.received_to is not None:
        queryset = queryset.filter(received_at__lt=event_filter.received_to)
    if event_filter.search:
        queryset = search_webhook_events(queryset=queryset, term=event_filter.search)
    return queryset


def search_webhook_events(*, queryset: QuerySet[WebhookEvent], term: str) -> QuerySet[WebhookEvent]:
    """Exact search: an event id (`#123`), an attendee e-mail, or any booking uid of a meeting.

    A uid finds every event of its reschedule chain: the events naming any uid the meeting has
    had, and the events linked to the meeting.
    """
    term = term.strip()
    if not term:
        return queryset
    id_match = _EVENT_ID_RE.fullmatch(term)
    if id_match:
        return queryset.filter(pk=int(id_match.group(1)))
    if "@" in term:
        return queryset.filter(attendee_email=term.lower())
    meeting_ids = meeting_ids_for_booking(uids=[term])
    if not meeting_ids:
        return queryset.filter(booking_uid=term)
    uids = chain_uids(meeting_ids=meeting_ids) | {term}
    return queryset.filter(Q(booking_uid__in=sorted(uids)) | Q(meeting_id__in=meeting_ids))


def chain_uids(*, meeting_ids: list[int]) -> set[str]:
    """Every booking uid the given meetings have had, current ones included."""
    uids = set(BookingUid.objects.filter(meeting_id__in=meeting_ids).values_list("uid", flat=True))
    uids.update(Meeting.objects.filter(id__in=meeting_ids).values_list("cal_event_id", flat=True))
    return uids


# --- Counting without counting the whole table -------------------------------------------------


@dataclass(frozen=True)
class RowCount:
    value: int
    exact: bool


def fast_row_count(*, queryset: QuerySet, exact_up_to: int = 10_000) -> RowCount:
    """The number of rows, exact when small, else PostgreSQL's estimate (never a full COUNT).

    Counting at most `exact_up_to + 1` rows is a short index scan. Past that, an unfiltered
    table is estimated from pg_class.reltuples (kept fresh by autovacuum) and a filtered one
    from the planner's row estimate. Other databases (SQLite, laptops) count exactly.
    """
    queryset = queryset.order_by()
    if connection.vendor != "postgresql":
        return RowCount(value=queryset.count(), exact=True)
    capped = queryset.values("pk")[: exact_up_to + 1].count()
    if capped <= exact_up_to:
        return RowCount(value=capped, exact=True)
    if not queryset.query.where:
        estimate = _table_row_estimate(table=queryset.model._meta.db_table)
    else:
        estimate = _planner_row_estimate(queryset=queryset)
    return RowCount(value=max(estimate, exact_up_to + 1), exact=False)


def _table_row_estimate(*, table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [table])
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] and row[0] > 0 else 0


def _planner_row_estimate(*, queryset: QuerySet) -> int:
    plan = json.loads(queryset.values("pk").explain(format="json"))
    return int(plan[0]["Plan"]["Plan Rows"])


# --- Event detail ----------------------------------------------------------------------------


def event_attempts(*, event_id: int) -> QuerySet[ProcessingAttempt]:
    return (
        ProcessingAttempt.objects.filter(event_id=event_id)
        .select_related("started_by")
        .order_by("started_at", "id")
    )


def event_duplicates(*, event_id: int) -> QuerySet[WebhookEvent]:
    return (
        WebhookEvent.objects.filter(duplicate_of_id=event_id)
        .only("id", "received_at", "status", "client_ip", "signature_result")
        .order_by("received_at", "id")
    )


def event_status_changes(*, event_id: int) -> QuerySet[MeetingStatusChange]:
    return MeetingStatusChange.objects.filter(event_id=event_id).order_by("changed_at", "id")


# --- Meeting timeline --------------------------------------------------------------------------

TIMELINE_LIMIT = 1000


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    event: WebhookEvent | None = None
    status_change: MeetingStatusChange | None = None
    sync_change: SyncChange | None = None  # what the Cal.com sync healed

    @property
    def kind(self) -> str:
        if self.event is not None:
            return "event"
        return "status_change" if self.status_change is not None else "sync_change"


def meeting_timeline(*, meeting_id: int, limit: int = TIMELINE_LIMIT) -> list[TimelineEntry]:
    """Every webhook event and status change of a meeting, oldest first (the newest `limit`).

    Rejected deliveries are left out: their bodies were never parsed, so they name no booking.
    """
    # Events that failed before linking to the meeting are found by the uids of its chain.
    uids = sorted(chain_uids(meeting_ids=[meeting_id]))
    events = (
        WebhookEvent.objects.filter(Q(meeting_id=meeting_id) | Q(booking_uid__in=uids))
        .only(
            "id",
            "received_at",
            "trigger_event",
            "booking_uid",
            "status",
            "status_reason",
            "event_created_at",
            "attempts",
            "last_error",
            "meeting_id",
        )
        .order_by("-received_at", "-id")[:limit]
    )
    changes = MeetingStatusChange.objects.filter(meeting_id=meeting_id).order_by("-changed_at", "-id")[:limit]
    entries = [TimelineEntry(at=event.received_at, event=event) for event in events]
    entries += [TimelineEntry(at=change.changed_at, status_change=change) for change in changes]
    entries += [
        TimelineEntry(at=change.created_at, sync_change=change)
        for change in meeting_sync_changes(meeting_id=meeting_id, limit=limit)
    ]
    # A status change is written while its event is processed, so it sorts right after it.
    entries.sort(key=lambda entry: (entry.at, entry.kind != "event"))
    return entries[-limit:]


# --- Dashboard ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayCounts:
    day: date
    by_status: dict[str, int] = field(default_factory=dict)
    counted_at: datetime | None = None  # stored counts: when counted (None: not counted yet)

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


def counted_days(*, first_day: date, last_day: date) -> list[DayCounts]:
    """Events received per day (of the current time zone) and status, `first_day` to `last_day`
    included, counted live: one GROUP BY over the (received_at, status) index."""
    start = timezone.make_aware(datetime.combine(first_day, datetime.min.time()))
    end = timezone.make_aware(datetime.combine(last_day + timedelta(days=1), datetime.min.time()))
    rows = (
        WebhookEvent.objects.filter(received_at__gte=start, received_at__lt=end)
        .annotate(day=TruncDate("received_at"))
        .values("day", "status")
        # COUNT(*), not COUNT(id): the (received_at, status) index alone answers it.
        .annotate(n=Count("*"))
        .order_by()
    )
    span = (last_day - first_day).days + 1
    by_day: dict[date, dict[str, int]] = {first_day + timedelta(days=i): {} for i in range(span)}
    for row in rows:
        day = row["day"]
        if isinstance(day, datetime):
            day = day.date()
        if day in by_day:
            by_day[day][row["status"]] = row["n"]
    return [DayCounts(day=day, by_status=counts) for day, counts in by_day.items()]


def stored_daily_event_counts(*, days: int = 14, now: datetime | None = None) -> list[DayCounts]:
    """The stored per-day counts (`DailyEventCount`) of the last `days` days, oldest first; a
    day not counted yet has `counted_at=None`. At most `days` rows, whatever the event count."""
    now = timezone.localtime(now or timezone.now())
    first_day = now.date() - timedelta(days=days - 1)
    stored = {
        row.day: row
        for row in DailyEventCount.objects.filter(
            time_zone=timezone.get_current_timezone_name(), day__gte=first_day, day__lte=now.date()
        )
    }
    result = []
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        row = stored.get(day)
        if row is None:
            result.append(DayCounts(day=day))
        else:
            counts = {status: int(n) for status, n in row.counts.items() if n}
            result.append(DayCounts(day=day, by_status=counts, counted_at=row.counted_at))
    return result


# A dashboard card counts up to this many and then says "10,000+": an exact count reads every
# matching index entry (93,519 failed and dead events at 5M demo events: 86 ms and growing),
# where "more than ten thousand" already says all an operator acts on. /health and /metrics keep
# their exact counts (`ops_selectors.status_count`).
HEALTH_COUNT_CAP = 10_000


@dataclass(frozen=True)
class BoundedCount:
    """A count that stops at a cap: `value` is exact unless `capped` (then it is the cap)."""

    value: int
    capped: bool = False

    def __str__(self) -> str:
        return f"{self.value:,}+" if self.capped else f"{self.value:,}"

    def __bool__(self) -> bool:
        return self.value > 0


def bounded_count(*, queryset: QuerySet, cap: int = HEALTH_COUNT_CAP) -> BoundedCount:
    """COUNT(*) over at most `cap + 1` rows (a LIMIT in a subquery): bounded by the cap."""
    found = queryset.order_by()[: cap + 1].count()
    return BoundedCount(value=min(found, cap), capped=found > cap)


@dataclass(frozen=True)
class EventHealth:
    failed: BoundedCount
    dead: BoundedCount
    unprocessed: BoundedCount
    oldest_unprocessed: WebhookEvent | None


def event_health(*, cap: int | None = None) -> EventHealth:
    """What needs attention: failed and dead events (counted up to `cap`), and how long the
    oldest unprocessed one has waited. Each query reads at most `cap + 1` index entries."""
    cap = cap or HEALTH_COUNT_CAP
    events = WebhookEvent.objects.all()
    # MIN over the three (status, received_at) ranges: PostgreSQL reads the first entry of each
    # (4 buffers at 1M and at 5M events), then one row.
    oldest_at = events.filter(status__in=UNPROCESSED_STATUSES).aggregate(oldest=Min("received_at"))["oldest"]
    oldest = None
    if oldest_at is not None:
        oldest = (
            events.filter(status__in=UNPROCESSED_STATUSES, received_at=oldest_at)
            .only("id", "received_at", "status", "trigger_event", "booking_uid")
            .order_by("id")
            .first()
        )
    # Unprocessed = received + processing + failed, from the per-status counts: counting the
    # three statuses again at once would read the failed ones twice.
    counts = [
        bounded_count(queryset=events.filter(status=status), cap=cap) for status in UNPROCESSED_STATUSES
    ]
    waiting = sum(c.value for c in counts)
    return EventHealth(
        failed=counts[UNPROCESSED_STATUSES.index(WebhookEventStatus.FAILED)],
        dead=bounded_count(queryset=events.filter(status=WebhookEventStatus.DEAD), cap=cap),
        unprocessed=BoundedCount(
            value=min(waiting, cap), capped=any(c.capped for c in counts) or waiting > cap
        ),
        oldest_unprocessed=oldest,
    )


# --- Reprocess jobs ----------------------------------------------------------------------------


def active_reprocess_jobs() -> QuerySet[ReprocessJob]:
    return ReprocessJob.objects.filter(status__in=[ReprocessJobStatus.QUEUED, ReprocessJobStatus.RUNNING])


def reprocess_selection_events(
    *, event_ids: tuple[int, ...] = (), event_filter: EventFilter | None = None, max_event_id: int = 0
) -> QuerySet[WebhookEvent]:
    """The events of a bulk reprocess selection: explicit ids, or a filter up to an id."""
    if event_ids:
        return WebhookEvent.objects.filter(pk__in=event_ids)
    queryset = filter_webhook_events(event_filter=event_filter or EventFilter())
    return queryset.filter(pk__lte=max_event_id)


def count_by_status(*, queryset: QuerySet[WebhookEvent]) -> dict[str, int]:
    return dict(queryset.order_by().values_list("status").annotate(n=Count("id")))


def received_events_waiting() -> bool:
    """Whether any delivery is still waiting for a worker (the partial queue index answers)."""
    return WebhookEvent.objects.filter(status=WebhookEventStatus.RECEIVED).exists()
