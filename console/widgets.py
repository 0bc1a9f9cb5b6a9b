"""Presentation pieces the console pages share: badges and their colours, a raw body shown as
text, a paginator that never counts a million rows, short ages, and the meeting timeline panel.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.paginator import Paginator
from django.utils import timezone
from django.utils.dateformat import format as format_date
from django.utils.functional import cached_property, lazy
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from meetings.models import MeetingStatus, PaymentStatus
from notifications.content import format_amount
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
MEETING_STATUS_COLOURS: dict[str, str] = {
    MeetingStatus.SCHEDULED: "#2563eb",
    MeetingStatus.CANCELLED: "#6b7280",
    MeetingStatus.COMPLETED: "#15803d",
    MeetingStatus.NO_SHOW: "#b91c1c",
}
# Keyed by value so that statuses added later (e.g. "withdrawn") fall back to grey.
NOTIFICATION_COLOURS = {
    "pending": "#2563eb",
    "sending": "#0891b2",
    "sent": "#15803d",
    "failed": "#b91c1c",
}
PAYMENT_COLOURS: dict[str, str] = {
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


def clipped(text: str, *, css_class: str = "", limit: int = 200):
    """Text cut to one line by the stylesheet (ellipsis), in full on hover."""
    text = text or ""
    return format_html(
        '<span class="vani-clip {}" title="{}">{}</span>', css_class, text, Truncator(text).chars(limit)
    )


def badge_with_reason(*, badge_html, reason: str):
    """A status badge with the reason for it beneath, cut to one line."""
    if not reason:
        return badge_html
    return format_html("{}{}", badge_html, clipped(reason.splitlines()[0], css_class="vani-reason"))


def money(*, minor_units: int | None, currency: str) -> str:
    """15000 USD → "$150.00" (Cal.com amounts are in the currency's minor units); "—" if none."""
    if minor_units is None:
        return "—"
    return format_amount(minor_units=minor_units, currency=currency)


def local_time(moment: datetime | None, *, fmt: str = "Y-m-d H:i T") -> str:
    """A moment in the active time zone (TIME_ZONE), the zone named: "2025-06-02 11:15 CEST"."""
    if moment is None:
        return "—"
    return format_date(timezone.localtime(moment), fmt)


def _zone_heading(label: str) -> str:
    return f"{label} ({timezone.get_current_timezone_name()})"


# A column heading naming the zone its times are shown in, worked out per request.
zone_heading = lazy(_zone_heading, str)


def readable_list(items) -> str:
    """A JSON list of strings (e-mails) as a list, one per line; "—" when empty."""
    values = [str(item) for item in (items or []) if str(item)]
    if not values:
        return "—"
    return format_html(
        '<ul class="vani-plain-list">{}</ul>', format_html_join("", "<li>{}</li>", ((v,) for v in values))
    )


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
