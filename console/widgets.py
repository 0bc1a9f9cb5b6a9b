"""Presentation pieces the console pages share: badges and their colours, a raw body shown as
text, a paginator that never counts a million rows, short ages, and the meeting timeline panel.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

from django.core.paginator import Paginator
from django.utils.functional import cached_property
from django.utils.html import format_html

from meetings.models import MeetingStatus, PaymentStatus
from webhooks import selectors
from webhooks.body_json import parse_body_json
from webhooks.models import ReprocessJobStatus, SignatureResult, WebhookEventStatus

# Badge colours (background) readable in the admin's light and dark themes with white text.
STATUS_COLOURS = {
    WebhookEventStatus.RECEIVED: "#2563eb",
    WebhookEventStatus.PROCESSING: "#0891b2",
    WebhookEventStatus.PROCESSED: "#15803d",
    WebhookEventStatus.IGNORED: "#6b7280",
    WebhookEventStatus.FAILED: "#d97706",
    WebhookEventStatus.DEAD: "#b91c1c",
    WebhookEventStatus.DUPLICATE: "#7c3aed",
    WebhookEventStatus.REJECTED: "#1f2937",
}
SIGNATURE_COLOURS = {
    SignatureResult.VALID: "#15803d",
    SignatureResult.UNVERIFIED: "#d97706",
    SignatureResult.NOT_CHECKED: "#6b7280",
}
JOB_COLOURS = {
    ReprocessJobStatus.QUEUED: "#2563eb",
    ReprocessJobStatus.RUNNING: "#0891b2",
    ReprocessJobStatus.FINISHED: "#15803d",
    ReprocessJobStatus.FAILED: "#b91c1c",
    ReprocessJobStatus.CANCELLED: "#6b7280",
}
MEETING_STATUS_COLOURS = {
    MeetingStatus.SCHEDULED: "#2563eb",
    MeetingStatus.CANCELLED: "#6b7280",
    MeetingStatus.COMPLETED: "#15803d",
    MeetingStatus.NO_SHOW: "#b91c1c",
}
PAYMENT_COLOURS = {
    PaymentStatus.NONE: "#9ca3af",
    PaymentStatus.PENDING: "#d97706",
    PaymentStatus.PAID: "#15803d",
}


def badge(*, label: str, colour: str, css_class: str = ""):
    return format_html(
        '<span class="vani-badge {}" style="background:{}">{}</span>', css_class, colour, label
    )


def status_badge(status: str):
    label = WebhookEventStatus(status).label if status in WebhookEventStatus.values else status
    return badge(label=label, colour=STATUS_COLOURS.get(status, "#6b7280"), css_class=f"status-{status}")


@dataclass(frozen=True)
class BodyDisplay:
    text: str
    is_json: bool


def display_body(*, raw_body: bytes) -> BodyDisplay:
    """Raw bytes as text for a page: pretty JSON when it parses, else the decoded text.

    Escaping is left to the template (autoescape), so a hostile body shows as text.
    """
    text = bytes(raw_body or b"").decode("utf-8", errors="replace")
    try:
        parsed = parse_body_json(text=text)
    except ValueError:
        return BodyDisplay(text=text, is_json=False)
    return BodyDisplay(text=json.dumps(parsed, indent=2, ensure_ascii=False), is_json=True)


class EstimatedCountPaginator(Paginator):
    """Pages without COUNT(*) over the whole table (exact up to 10,000 rows, estimated above).

    Pages past the real end of an overestimated list are simply empty.
    """

    exact_count_limit = 10_000

    @cached_property
    def row_count(self) -> selectors.RowCount:
        return selectors.fast_row_count(queryset=self.object_list, exact_up_to=self.exact_count_limit)

    @cached_property
    def count(self) -> int:
        return self.row_count.value

    @property
    def count_is_exact(self) -> bool:
        return self.row_count.exact


def format_age(age: timedelta) -> str:
    """A short age for a dashboard card: "45 s", "12 min", "5 h 3 min", "2 d 4 h"."""
    seconds = max(int(age.total_seconds()), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{seconds} s"


def meeting_timeline_panel(*, meeting_id: int) -> dict[str, object]:
    """Context for the meeting page's timeline: each entry with its webhook event's status badge."""
    return {
        "timeline": [
            (entry, status_badge(entry.event.status) if entry.event else "")
            for entry in selectors.meeting_timeline(meeting_id=meeting_id)
        ],
        "timeline_limit": selectors.TIMELINE_LIMIT,
    }
