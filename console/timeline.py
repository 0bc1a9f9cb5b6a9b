"""The meeting page's timeline: every entry about one meeting, from any source, oldest first.

Each source turns its rows into `TimelineItem`s; the template renders items by `kind` without
knowing the sources, so a new one (e.g. changes made by a sync with Cal.com) is one function
appended to `TIMELINE_SOURCES`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.urls import reverse
from django.utils.safestring import SafeString

from console.widgets import NOTIFICATION_COLOURS, badge, status_badge
from meetings.models import ChangeSource
from notifications.models import Notification
from webhooks import selectors


@dataclass(frozen=True)
class TimelineItem:
    at: datetime
    kind: str  # "event", "status-change", "notification", …: the entry's CSS class and icon
    title: str  # what happened, in a few words
    badge: SafeString | str = ""
    url: str = ""  # the row behind the entry
    link_text: str = ""
    details: tuple[str, ...] = ()  # short muted notes (reason, uid, error)
    css_classes: tuple[str, ...] = field(default=())
    order: int = 0  # among entries of the same moment: events, then what they caused


TimelineSource = Callable[[int], list[TimelineItem]]


def webhook_entries(meeting_id: int) -> list[TimelineItem]:
    """Every webhook event of the meeting's booking chain and every status change."""
    items = []
    for entry in selectors.meeting_timeline(meeting_id=meeting_id):
        if entry.event is not None:
            event = entry.event
            details = [event.booking_uid]
            if event.status_reason:
                details.append(event.status_reason)
            if event.last_error:
                details.append(f"error: {event.last_error[:160]}")
            items.append(
                TimelineItem(
                    at=entry.at,
                    kind="event",
                    title=event.trigger_event or "(no trigger)",
                    badge=status_badge(event.status),
                    url=reverse("admin:webhooks_webhookevent_change", args=[event.pk]),
                    link_text=f"#{event.pk}",
                    details=tuple(d for d in details if d),
                    css_classes=("timeline-event", f"status-{event.status}"),
                )
            )
        elif entry.status_change is not None:
            change = entry.status_change
            items.append(
                TimelineItem(
                    at=entry.at,
                    kind="status-change",
                    title=f"status {change.from_status or '∅'} → {change.to_status}",
                    url=(
                        reverse("admin:webhooks_webhookevent_change", args=[change.event_id])
                        if change.event_id
                        else ""
                    ),
                    link_text=f"by #{change.event_id}" if change.event_id else "",
                    details=tuple(
                        detail
                        for detail in (
                            ""
                            if change.source == ChangeSource.WEBHOOK
                            else f"(by the {change.get_source_display()})",
                            change.reason,
                        )
                        if detail
                    ),
                    css_classes=("status-change",),
                    order=1,
                )
            )
        elif entry.sync_change is not None:
            healed = entry.sync_change
            items.append(
                TimelineItem(
                    at=entry.at,
                    kind="sync-change",
                    title=f"healed by the Cal.com sync: {healed.get_kind_display()}",
                    details=(
                        f"booking {healed.booking_uid}",
                        *(
                            f"{name} {values[0] or '∅'} → {values[1] or '∅'}"
                            for name, values in healed.fields.items()
                        ),
                    ),
                    css_classes=("sync-change",),
                    order=1,
                )
            )
    return items


def _status_change_details(change) -> tuple[str, ...]:
    by = "" if change.source == ChangeSource.WEBHOOK else f"(by the {change.get_source_display()})"
    return tuple(detail for detail in (by, change.reason) if detail)


def notification_entries(meeting_id: int) -> list[TimelineItem]:
    """HIT notifications: sent (when), or where they stand (pending, failed, withdrawn …)."""
    items = []
    rows = Notification.objects.filter(meeting_id=meeting_id).order_by("created_at", "id")[
        : selectors.TIMELINE_LIMIT
    ]
    for row in rows:
        sent = row.sent_at is not None
        details = [row.last_error[:160]] if row.last_error and not sent else []
        if row.withdrawn_reason:
            details.append(f"withdrawn: {row.withdrawn_reason}")
        items.append(
            TimelineItem(
                at=row.sent_at or row.created_at,
                kind="notification",
                title=f"HIT “{row.get_kind_display()}” to {row.get_channel_display()} {row.recipient}",
                badge=badge(
                    label=row.get_status_display(),
                    colour=NOTIFICATION_COLOURS.get(row.status, "#6b7280"),
                    css_class=f"notification-{row.status}",
                ),
                url=reverse("admin:notifications_notification_change", args=[row.pk]),
                link_text=f"notification #{row.pk}",
                details=tuple(details),
                css_classes=("timeline-notification", f"notification-{row.status}"),
                order=2,
            )
        )
    return items


# Appended to by features that record more about a meeting.
TIMELINE_SOURCES: list[TimelineSource] = [webhook_entries, notification_entries]


def meeting_timeline_items(*, meeting_id: int) -> list[TimelineItem]:
    items = [item for source in TIMELINE_SOURCES for item in source(meeting_id)]
    items.sort(key=lambda item: (item.at, item.order))
    return items[-selectors.TIMELINE_LIMIT :]
