"""The webhook dashboard: a 14-day chart of deliveries by status and what needs attention now.

The attention cards are a list of `DashboardCard`s, each built by one function of
`DASHBOARD_CARDS`; a feature adds its card by appending a function. The chart is laid out here
and drawn as server-side SVG by the template (no JavaScript).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from console.calcom_sync import sync_card
from console.filters import event_list_url
from console.widgets import STATUS_COLOURS, format_age, local_time
from webhooks import daily_counts, selectors
from webhooks.models import WebhookEventStatus
from webhooks.ops_selectors import refused_deliveries


@dataclass(frozen=True)
class DashboardCard:
    """One attention card: a big number (or short text), what it means, where to act.

    With a `url` the whole card is the link, so its `note` must hold none.
    """

    id: str  # the element id, "card-…"
    title: str
    number: str
    note: SafeString | str = ""
    url: str = ""
    alert: bool = False


def _capped_note(count: selectors.BoundedCount, note: str) -> str:
    # Counted up to the cap only (bounded work per view); the list behind the card has them all.
    return f"{note} (counted up to {count.value:,}: the list has them all)" if count.capped else note


def failed_card(*, health: selectors.EventHealth, now) -> DashboardCard:
    return DashboardCard(
        id="card-failed",
        title="Failed",
        number=str(health.failed),
        note=_capped_note(health.failed, "waiting for an automatic retry or a reprocess"),
        url=event_list_url(status=WebhookEventStatus.FAILED),
        alert=bool(health.failed),
    )


def dead_card(*, health: selectors.EventHealth, now) -> DashboardCard:
    return DashboardCard(
        id="card-dead",
        title="Dead",
        number=str(health.dead),
        note=_capped_note(health.dead, "out of retries: reprocess after a fix"),
        url=event_list_url(status=WebhookEventStatus.DEAD),
        alert=bool(health.dead),
    )


def oldest_card(*, health: selectors.EventHealth, now) -> DashboardCard:
    oldest = health.oldest_unprocessed
    if oldest is None:
        return DashboardCard(id="card-oldest", title="Oldest unprocessed", number="—", note="nothing waiting")
    note = format_html(
        '<a href="{}">#{}</a> {}, received {}<br>{} received, processing or failed',
        reverse("admin:webhooks_webhookevent_change", args=[oldest.pk]),
        oldest.pk,
        oldest.status,
        local_time(oldest.received_at, fmt="Y-m-d H:i T"),
        str(health.unprocessed),
    )
    return DashboardCard(
        id="card-oldest",
        title="Oldest unprocessed",
        number=format_age(now - oldest.received_at),
        note=note,  # holds the link to the event: the card itself is no link
    )


# Each builds one card from the live health figures; appended to by features with a card.
DASHBOARD_CARDS = [failed_card, dead_card, oldest_card]


def dashboard_view(request: HttpRequest, *, model_admin: admin.ModelAdmin) -> TemplateResponse:
    """The dashboard page: daily counts by status (cached a minute) and live attention cards."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    now = timezone.now()
    # Stored per-day counts (at most 14 rows), recounted by a task when stale: no view counts
    # the millions of events of 14 days (webhooks/daily_counts.py). The cards below are live.
    days = daily_counts.chart_days(days=14, now=now)
    health = selectors.event_health()
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Webhook dashboard",
        "opts": model_admin.model._meta,
        "cards": [build(health=health, now=now) for build in DASHBOARD_CARDS],
        "chart": build_daily_chart(days=days),
        **chart_freshness(days=days, now=now),
        "last_24h_url": event_list_url(received="24h"),
        "jobs_url": reverse("admin:webhooks_reprocessjob_changelist"),
        "active_jobs": selectors.active_reprocess_jobs()[:5],
        **sync_card(now=now),
        # Refused deliveries are lost (Cal.com does not retry a 4xx): cause and fix, live.
        "refused": refused_deliveries(since=now - timedelta(hours=24)),
        "refused_url": event_list_url(status=WebhookEventStatus.REJECTED, received="24h"),
    }
    context["refused_total"] = sum(cause.count for cause in context["refused"])
    return TemplateResponse(request, "admin/webhooks/dashboard.html", context)


def chart_freshness(*, days: list[selectors.DayCounts], now: datetime) -> dict:
    """When the chart's parts were counted, for its heading: the page never claims fresher."""
    today = timezone.localtime(now).date()
    finished = [day.counted_at for day in days if day.day < today and day.counted_at is not None]
    current = [day.counted_at for day in days if day.day >= today and day.counted_at is not None]
    return {
        "today_counted_at": current[0] if current else None,
        "finished_counted_at": min(finished) if finished else None,
        "days_not_counted": sum(1 for day in days if day.counted_at is None),
    }


# --- Server-side SVG chart ---------------------------------------------------------------------

CHART_STATUS_ORDER = (
    WebhookEventStatus.PROCESSED,
    WebhookEventStatus.IGNORED,
    WebhookEventStatus.DUPLICATE,
    WebhookEventStatus.RECEIVED,
    WebhookEventStatus.PROCESSING,
    WebhookEventStatus.FAILED,
    WebhookEventStatus.DEAD,
    WebhookEventStatus.REJECTED,
)


@dataclass(frozen=True)
class ChartBar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    tooltip: str
    url: str


@dataclass(frozen=True)
class ChartAxisLabel:
    x: float
    y: float
    text: str


@dataclass(frozen=True)
class DailyChart:
    width: int
    height: int
    plot_left: int
    plot_right: int
    plot_top: int
    plot_bottom: int
    bars: list[ChartBar]
    day_labels: list[ChartAxisLabel]
    grid: list[ChartAxisLabel]
    legend: list[tuple[str, str, str]]  # (label, colour, url)
    total: int


def _nice_step(value: int) -> int:
    """The smallest 1/2/5×10ⁿ at or above value/4: four grid steps with round numbers."""
    target = max(value, 1) / 4
    magnitude = 1
    while magnitude * 10 <= target:
        magnitude *= 10
    return next(step * magnitude for step in (1, 2, 5, 10) if step * magnitude >= target)


def build_daily_chart(*, days: list[selectors.DayCounts], width: int = 760, height: int = 280) -> DailyChart:
    """A stacked bar per day (one segment per status), laid out here and drawn as SVG."""
    left, right, top, bottom = 56, width - 12, 12, height - 34
    plot_height = bottom - top
    step = _nice_step(max((day.total for day in days), default=0))
    top_value = step * 4
    slot = (right - left) / max(len(days), 1)
    bar_width = slot * 0.7
    bars: list[ChartBar] = []
    labels: list[ChartAxisLabel] = []
    for index, day in enumerate(days):
        x = left + index * slot + (slot - bar_width) / 2
        y = float(bottom)
        day_start = timezone.make_aware(datetime.combine(day.day, datetime.min.time()))
        day_end = day_start + timedelta(days=1)
        for status in CHART_STATUS_ORDER:
            count = day.by_status.get(status, 0)
            if not count:
                continue
            segment = plot_height * count / top_value
            y -= segment
            bars.append(
                ChartBar(
                    x=round(x, 1),
                    y=round(y, 1),
                    width=round(bar_width, 1),
                    height=round(segment, 1),
                    colour=STATUS_COLOURS[status],
                    tooltip=f"{day.day:%a %d %b}: {count} {WebhookEventStatus(status).label.lower()}",
                    url=event_list_url(
                        status=status,
                        received_from=day_start.isoformat(),
                        received_to=day_end.isoformat(),
                    ),
                )
            )
        labels.append(ChartAxisLabel(x=round(x + bar_width / 2, 1), y=bottom + 16, text=f"{day.day:%d %b}"))
    grid = [
        ChartAxisLabel(x=left - 6, y=round(bottom - plot_height * i / 4, 1), text=f"{step * i:,}")
        for i in range(5)
    ]
    legend = [
        (WebhookEventStatus(status).label, STATUS_COLOURS[status], event_list_url(status=status))
        for status in CHART_STATUS_ORDER
    ]
    return DailyChart(
        width=width,
        height=height,
        plot_left=left,
        plot_right=right,
        plot_top=top,
        plot_bottom=bottom,
        bars=bars,
        day_labels=labels,
        grid=grid,
        legend=legend,
        total=sum(day.total for day in days),
    )
