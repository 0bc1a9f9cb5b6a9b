"""Read-side queries behind the REST API's webhook-event endpoints.

Lists never load the raw bodies (they can be a megabyte each) and never count the table: they
are read page by page along the (-received_at, -id) index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from meetings.selectors import meeting_ids_for_booking
from webhooks.body_json import parse_body_json
from webhooks.models import WebhookEvent
from webhooks.selectors import chain_uids

# Columns a list row never shows; the heavy ones stay on disk.
LIST_DEFERRED_FIELDS = ("raw_body", "headers", "last_traceback")


def webhook_event_list() -> QuerySet[WebhookEvent]:
    return WebhookEvent.objects.defer(*LIST_DEFERRED_FIELDS).order_by("-received_at", "-id")


def webhook_events_for_booking_uid(*, queryset: QuerySet[WebhookEvent], uid: str) -> QuerySet[WebhookEvent]:
    """Events of the booking with this uid, including the rest of its reschedule chain: events
    naming any uid the meeting has had, and events linked to the meeting."""
    meeting_ids = meeting_ids_for_booking(uids=[uid])
    if not meeting_ids:
        return queryset.filter(booking_uid=uid)
    uids = chain_uids(meeting_ids=meeting_ids) | {uid}
    return queryset.filter(Q(booking_uid__in=sorted(uids)) | Q(meeting_id__in=meeting_ids))


def webhook_event_detail(*, event_id: int) -> WebhookEvent | None:
    return WebhookEvent.objects.filter(pk=event_id).first()


def webhook_event_attempt_count(*, event_id: int) -> int | None:
    """How many processing runs the event has had; None when there is no such event."""
    return WebhookEvent.objects.filter(pk=event_id).values_list("attempts", flat=True).first()


@dataclass(frozen=True)
class DecodedBody:
    """A stored body for people to read: parsed JSON when it is JSON, else the text."""

    json: Any = None
    text: str | None = None


def decoded_event_body(*, event: WebhookEvent) -> DecodedBody:
    raw = bytes(event.raw_body or b"")
    if not raw:
        return DecodedBody()
    text = raw.decode("utf-8", errors="replace")
    try:
        return DecodedBody(json=parse_body_json(text=text))
    except ValueError:
        # Not JSON, or JSON that strict JSON answers cannot carry (NaN, 1e400, deep nesting).
        return DecodedBody(text=text)
