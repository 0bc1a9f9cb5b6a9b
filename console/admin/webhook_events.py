"""The webhook console: browse, search and reprocess events; bulk jobs; a health dashboard.

Thin by design: filtering and searching are selectors (webhooks/selectors.py), reprocessing is
webhooks/reprocessing.py. What lives here is request handling and
presentation, written so that every list page costs a constant, small number of indexed
queries on a table of millions of rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from meetings.status_mapping import STATUS_TABLE
from console.admin.base import BoundedChangeList, ReadOnlyModelAdmin

from webhooks import selectors
from webhooks.body_json import parse_body_json
from webhooks.models import (
    ReprocessJob,
    ReprocessJobStatus,
    SignatureResult,
    WebhookEvent,
    WebhookEventStatus,
)
from webhooks.reprocessing import (
    BulkReprocessSummary,
    cancel_reprocess_job,
    create_reprocess_job,
    reprocess_events,
    reprocess_one,
    runnable_statuses,
    selection_of_filter,
    selection_of_ids,
)
from webhooks.ingest import mask_headers
from webhooks.processing import NEVER_PROCESSED

REPROCESS_PERMISSION = "webhooks.reprocess_webhookevent"
DASHBOARD_CACHE_KEY = "webhooks:admin-dashboard:daily-counts"

# --- Presentation helpers ----------------------------------------------------------------------

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


def badge(*, label: str, colour: str, css_class: str = ""):
    return format_html(
        '<span class="vani-badge {}" style="background:{}">{}</span>', css_class, colour, label
    )


def status_badge(status: str):
    label = WebhookEventStatus(status).label if status in WebhookEventStatus.values else status
    return badge(
        label=label, colour=STATUS_COLOURS.get(status, "#6b7280"), css_class=f"status-{status}"
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
        return selectors.fast_row_count(
            queryset=self.object_list, exact_up_to=self.exact_count_limit
        )

    @cached_property
    def count(self) -> int:
        return self.row_count.value

    @property
    def count_is_exact(self) -> bool:
        return self.row_count.exact


# --- List filters (fixed choices: no DISTINCT queries; the work is in selectors) ---------------


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return WebhookEventStatus.choices

    def queryset(self, request, queryset):
        return selectors.filter_webhook_events(
            queryset=queryset, event_filter=selectors.EventFilter(status=self.value() or "")
        )


class TriggerFilter(admin.SimpleListFilter):
    title = "trigger"
    parameter_name = "trigger"

    def lookups(self, request, model_admin):
        return [(trigger, trigger) for trigger in sorted(STATUS_TABLE)]

    def queryset(self, request, queryset):
        return selectors.filter_webhook_events(
            queryset=queryset, event_filter=selectors.EventFilter(trigger=self.value() or "")
        )


class SignatureFilter(admin.SimpleListFilter):
    title = "signature"
    parameter_name = "signature"

    def lookups(self, request, model_admin):
        return SignatureResult.choices

    def queryset(self, request, queryset):
        return selectors.filter_webhook_events(
            queryset=queryset,
            event_filter=selectors.EventFilter(signature_result=self.value() or ""),
        )


class ReceivedAtFilter(admin.ListFilter):
    """Presets (last hour, 24 h, 7 days) and a custom from/to range on the received time."""

    title = "received"
    template = "admin/webhooks/received_filter.html"
    parameter_names = ("received", "received_from", "received_to")

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        for name in self.parameter_names:
            if name in params:
                self.used_parameters[name] = params.pop(name)[-1]
        try:
            self.event_filter = event_filter_from_params(self.used_parameters)
        except ValueError as exc:
            raise IncorrectLookupParameters(exc) from exc

    def has_output(self) -> bool:
        return True

    def expected_parameters(self):
        return list(self.parameter_names)

    def queryset(self, request, queryset):
        return selectors.filter_webhook_events(queryset=queryset, event_filter=self.event_filter)

    def choices(self, changelist):
        # Other filters and the search travel along as hidden fields of the custom-range form.
        self.carried_params = [
            (name, value)
            for name, value in changelist.params.items()
            if name not in self.parameter_names
        ]
        self.range_from = self.used_parameters.get("received_from", "")
        self.range_to = self.used_parameters.get("received_to", "")
        current = self.used_parameters.get("received")
        custom = bool(self.range_from or self.range_to)
        yield {
            "selected": current is None and not custom,
            "query_string": changelist.get_query_string(remove=["received"]),
            "display": "Any time",
        }
        for key, (label, _window) in selectors.RECEIVED_WINDOWS.items():
            yield {
                "selected": current == key,
                "query_string": changelist.get_query_string({"received": key}, remove=["received"]),
                "display": label,
            }


def event_filter_from_params(params) -> selectors.EventFilter:
    """The admin's query-string parameters (filters and search) as a selector filter.

    Raises ValueError for an unreadable custom date range.
    """
    return selectors.EventFilter(
        status=params.get("status", ""),
        trigger=params.get("trigger", ""),
        signature_result=params.get("signature", ""),
        received_within=params.get("received", ""),
        received_from=selectors.parse_moment(params.get("received_from", "")),
        received_to=selectors.parse_moment(params.get("received_to", ""), end_of_day=True),
        search=params.get("q", ""),
    )


def event_list_url(**params) -> str:
    url = reverse("admin:webhooks_webhookevent_changelist")
    params = {key: value for key, value in params.items() if value not in ("", None)}
    return f"{url}?{urlencode(params)}" if params else url


def event_filter_url(event_filter: selectors.EventFilter) -> str:
    return event_list_url(
        status=event_filter.status,
        trigger=event_filter.trigger,
        signature=event_filter.signature_result,
        received=event_filter.received_within,
        received_from=event_filter.received_from.isoformat() if event_filter.received_from else "",
        received_to=event_filter.received_to.isoformat() if event_filter.received_to else "",
        q=event_filter.search,
    )


# --- Webhook events ----------------------------------------------------------------------------

LIST_DEFERRED_FIELDS = ("raw_body", "headers", "last_traceback", "status_reason")


class WebhookEventChangeList(BoundedChangeList):
    def get_queryset(self, request, exclude_parameters=None):
        # Bodies and tracebacks can be a megabyte each; a list page never needs them.
        return super().get_queryset(request, exclude_parameters).defer(*LIST_DEFERRED_FIELDS)


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyModelAdmin):
    list_display = (
        "event_number",
        "received_at",
        "trigger_event",
        "booking_uid",
        "status_column",
        "signature_column",
        "attempts",
        "meeting_column",
    )
    list_display_links = ("event_number",)
    list_filter = (StatusFilter, TriggerFilter, SignatureFilter, ReceivedAtFilter)
    list_select_related = ("meeting",)
    list_per_page = 50
    list_max_show_all = 200
    # Sorting by anything but the indexed received time would sort a million rows.
    sortable_by = ("received_at",)
    ordering = ("-received_at", "-id")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = EstimatedCountPaginator
    search_fields = ("booking_uid",)  # shows the search box; the lookup is get_search_results
    search_help_text = "Exact: a booking uid (finds its whole reschedule chain), an attendee e-mail, or an event id (#123)."
    actions = ("reprocess_selected", "force_reprocess_selected")
    readonly_fields = (
        "event_number", "received_at", "trigger_event", "booking_uid", "reschedule_uid",
        "booking_id", "attendee_email", "event_created_at", "status_column", "status_reason",
        "signature_column", "client_ip", "content_type", "webhook_version", "body_size",
        "body_truncated", "fingerprint", "duplicate_of_link", "meeting_column", "attempts",
        "next_attempt_at", "processed_at", "last_error",
    )
    fieldsets = (
        ("Delivery", {"fields": (
            "event_number", "received_at", "trigger_event", "booking_uid", "reschedule_uid",
            "booking_id", "attendee_email", "event_created_at", "client_ip", "content_type", "webhook_version",
            "signature_column", "body_size", "body_truncated", "fingerprint",
        )}),
        ("Outcome", {"fields": (
            "status_column", "status_reason", "duplicate_of_link", "meeting_column", "attempts",
            "next_attempt_at", "processed_at", "last_error",
        )}),
    )

    class Media:
        css = {"all": ("webhooks/admin.css",)}

    def has_reprocess_permission(self, request) -> bool:
        return request.user.has_perm(REPROCESS_PERMISSION)

    def get_changelist(self, request, **kwargs):
        return WebhookEventChangeList

    def get_search_results(self, request, queryset, search_term):
        return selectors.search_webhook_events(queryset=queryset, term=search_term), False

    # Columns

    @admin.display(description="event", ordering="id")
    def event_number(self, obj: WebhookEvent) -> str:
        return f"#{obj.pk}"

    @admin.display(description="status")
    def status_column(self, obj: WebhookEvent):
        return status_badge(obj.status)

    @admin.display(description="signature")
    def signature_column(self, obj: WebhookEvent):
        return badge(
            label=obj.get_signature_result_display(),
            colour=SIGNATURE_COLOURS.get(obj.signature_result, "#b91c1c"),
        )

    @admin.display(description="meeting")
    def meeting_column(self, obj: WebhookEvent):
        if obj.meeting_id is None:
            return "—"
        meeting = obj.meeting
        return format_html(
            '<a href="{}">{}</a> <small>{}</small>',
            reverse("admin:meetings_meeting_change", args=[obj.meeting_id]),
            meeting.title[:40] or meeting.cal_event_id,
            meeting.get_status_display(),
        )

    @admin.display(description="duplicate of")
    def duplicate_of_link(self, obj: WebhookEvent):
        if obj.duplicate_of_id is None:
            return "—"
        return format_html(
            '<a href="{}">#{}</a>',
            reverse("admin:webhooks_webhookevent_change", args=[obj.duplicate_of_id]),
            obj.duplicate_of_id,
        )

    # Pages

    def get_urls(self):
        own = [
            path(
                "dashboard/",
                self.admin_site.admin_view(self.dashboard_view),
                name="webhooks_webhookevent_dashboard",
            ),
            path(
                "<int:event_id>/reprocess/",
                self.admin_site.admin_view(require_POST(self.reprocess_view)),
                name="webhooks_webhookevent_reprocess",
            ),
        ]
        return own + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        event = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if event is not None:
            extra.update(
                body=display_body(raw_body=event.raw_body),
                headers=sorted(mask_headers(headers=event.headers or {}).items()),
                attempts=selectors.event_attempts(event_id=event.pk),
                duplicates=selectors.event_duplicates(event_id=event.pk)[:200],
                status_changes=selectors.event_status_changes(event_id=event.pk),
                last_traceback=event.last_traceback,
                can_reprocess=self.has_reprocess_permission(request),
                reprocessable=event.status not in NEVER_PROCESSED,
                reprocess_url=reverse("admin:webhooks_webhookevent_reprocess", args=[event.pk]),
            )
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def reprocess_view(self, request: HttpRequest, event_id: int):
        if not self.has_reprocess_permission(request):
            raise PermissionDenied
        get_object_or_404(WebhookEvent.objects.only("id"), pk=event_id)
        force = request.POST.get("force") == "1"
        outcome = reprocess_one(event_id=event_id, user=request.user, force=force)
        if outcome.refusal:
            self.message_user(request, f"Not reprocessed: {outcome.refusal}.", messages.ERROR)
        elif not outcome.ran:
            self.message_user(
                request,
                f"Event #{event_id} is {outcome.status}; nothing to reprocess. "
                "Use “Force reprocess” to run a processed event again.",
                messages.WARNING,
            )
        else:
            level = messages.ERROR if outcome.status == WebhookEventStatus.FAILED else messages.SUCCESS
            self.message_user(request, f"Event #{event_id} reprocessed: {outcome.status}.", level)
        return HttpResponseRedirect(reverse("admin:webhooks_webhookevent_change", args=[event_id]))

    # Bulk actions

    @admin.action(
        description="Reprocess selected events (failed, dead, ignored, received)",
        permissions=["reprocess"],
    )
    def reprocess_selected(self, request, queryset):
        return self._bulk_reprocess(request, queryset, force=False)

    @admin.action(
        description="Force reprocess selected events (processed ones too)",
        permissions=["reprocess"],
    )
    def force_reprocess_selected(self, request, queryset):
        return self._bulk_reprocess(request, queryset, force=True)

    def _bulk_reprocess(self, request, queryset, *, force: bool):
        select_across = request.POST.get("select_across") == "1"
        selected_ids = [int(v) for v in request.POST.getlist(ACTION_CHECKBOX_NAME) if v.isdigit()]
        if not select_across and len(selected_ids) <= self.list_per_page:
            summary = reprocess_events(
                event_ids=sorted(queryset.values_list("id", flat=True)),
                user=request.user,
                force=force,
            )
            self._report_summary(request, summary, force=force)
            return None

        if select_across:
            as_of = _parse_as_of(request.POST.get("as_of")) or timezone.now()
            max_event_id = _int_or_none(request.POST.get("max_event_id"))
            selection = selection_of_filter(
                event_filter=event_filter_from_params(request.GET),
                now=as_of,
                max_event_id=max_event_id,
            )
        else:
            as_of = timezone.now()
            selection = selection_of_ids(event_ids=selected_ids)

        if request.POST.get("confirm") != "yes":
            by_status = selectors.count_by_status(queryset=selection.runnable_events(force=force))
            return TemplateResponse(
                request,
                "admin/webhooks/webhookevent/reprocess_confirmation.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Force reprocess events?" if force else "Reprocess events?",
                    "opts": self.model._meta,
                    "force": force,
                    "action": request.POST.get("action", ""),
                    "select_across": select_across,
                    "selected_ids": selected_ids,
                    "as_of": as_of.isoformat(),
                    "max_event_id": selection.max_event_id,
                    "by_status": sorted(by_status.items()),
                    "total": sum(by_status.values()),
                    "runnable_statuses": sorted(runnable_statuses(force=force)),
                    "event_filter": selection.event_filter,
                    "changelist_url": request.get_full_path(),
                },
            )

        job = create_reprocess_job(selection=selection, user=request.user, force=force)
        self.message_user(
            request,
            f"Reprocess job #{job.pk} started for {job.total} events; it runs in the background.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:webhooks_reprocessjob_change", args=[job.pk]))

    def _report_summary(self, request, summary: BulkReprocessSummary, *, force: bool) -> None:
        parts = [
            f"{summary.ran} reprocessed ({summary.processed} processed, "
            f"{summary.ignored} ignored, {summary.failed} failed)"
        ]
        if summary.not_runnable:
            hint = "" if force else " — use “Force reprocess” for processed events"
            parts.append(f"{summary.not_runnable} left alone{hint}")
        if summary.refused:
            parts.append(
                f"{summary.refused} cannot be reprocessed (rejected deliveries and duplicates)"
            )
        level = messages.WARNING if summary.failed or summary.refused else messages.SUCCESS
        self.message_user(request, "; ".join(parts) + ".", level)

    # Dashboard

    def dashboard_view(self, request: HttpRequest):
        if not self.has_view_permission(request):
            raise PermissionDenied
        now = timezone.now()
        # The 14-day aggregate reads half a million index entries at a million events; it is
        # shared for a minute. The attention cards below are always live.
        days, counted_at = cache.get_or_set(
            DASHBOARD_CACHE_KEY, lambda: (selectors.daily_event_counts(days=14), now), 60
        )
        health = selectors.event_health()
        oldest = health.oldest_unprocessed
        context = {
            **self.admin_site.each_context(request),
            "title": "Webhook dashboard",
            "opts": self.model._meta,
            "chart": build_daily_chart(days=days),
            "counted_at": counted_at,
            "health": health,
            "oldest_age": format_age(now - oldest.received_at) if oldest else "",
            "oldest_url": (
                reverse("admin:webhooks_webhookevent_change", args=[oldest.pk]) if oldest else ""
            ),
            "failed_url": event_list_url(status=WebhookEventStatus.FAILED),
            "dead_url": event_list_url(status=WebhookEventStatus.DEAD),
            "received_url": event_list_url(status=WebhookEventStatus.RECEIVED),
            "last_24h_url": event_list_url(received="24h"),
            "jobs_url": reverse("admin:webhooks_reprocessjob_changelist"),
            "active_jobs": selectors.active_reprocess_jobs()[:5],
        }
        return TemplateResponse(request, "admin/webhooks/dashboard.html", context)

    def changelist_view(self, request, extra_context=None):
        extra = {
            "dashboard_url": reverse("admin:webhooks_webhookevent_dashboard"),
            "jobs_url": reverse("admin:webhooks_reprocessjob_changelist"),
        }
        return super().changelist_view(request, extra_context={**extra, **(extra_context or {})})


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


def _parse_as_of(value: str | None) -> datetime | None:
    try:
        return selectors.parse_moment(value or "")
    except ValueError:
        return None


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


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
                    x=round(x, 1), y=round(y, 1), width=round(bar_width, 1),
                    height=round(segment, 1), colour=STATUS_COLOURS[status],
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
        width=width, height=height, plot_left=left, plot_right=right, plot_top=top,
        plot_bottom=bottom, bars=bars, day_labels=labels, grid=grid, legend=legend,
        total=sum(day.total for day in days),
    )


# --- Reprocess jobs ----------------------------------------------------------------------------


@admin.register(ReprocessJob)
class ReprocessJobAdmin(ReadOnlyModelAdmin):
    list_display = (
        "job_number", "status_column", "progress_column", "total", "done", "failed", "skipped",
        "force", "created_by", "created_at", "finished_at",
    )
    list_display_links = ("job_number",)
    list_filter = ("status", "force")
    list_select_related = ("created_by",)
    show_facets = admin.ShowFacets.NEVER
    readonly_fields = (
        "job_number", "status_column", "progress_column", "force", "selection_column", "total",
        "done", "failed", "skipped", "last_event_id", "max_event_id", "error", "created_by",
        "created_at", "started_at", "finished_at",
    )
    fields = readonly_fields

    class Media:
        css = {"all": ("webhooks/admin.css",)}

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) or request.user.has_perm(
            REPROCESS_PERMISSION
        )

    @admin.display(description="job", ordering="id")
    def job_number(self, obj: ReprocessJob) -> str:
        return f"#{obj.pk}"

    @admin.display(description="status")
    def status_column(self, obj: ReprocessJob):
        return badge(
            label=obj.get_status_display(), colour=JOB_COLOURS.get(obj.status, "#6b7280"),
            css_class=f"job-{obj.status}",
        )

    @admin.display(description="progress")
    def progress_column(self, obj: ReprocessJob):
        return format_html(
            '<span class="vani-progress" title="{}%"><span style="width:{}%"></span></span> {}%',
            obj.percent_done, obj.percent_done, obj.percent_done,
        )

    @admin.display(description="selection")
    def selection_column(self, obj: ReprocessJob):
        if obj.event_ids:
            shown = ", ".join(f"#{event_id}" for event_id in obj.event_ids[:20])
            more = f" and {len(obj.event_ids) - 20} more" if len(obj.event_ids) > 20 else ""
            return f"{len(obj.event_ids)} selected events: {shown}{more}"
        event_filter = selectors.EventFilter.from_json(obj.event_filter or {})
        described = ", ".join(f"{key}={value}" for key, value in event_filter.as_json().items())
        return format_html(
            'All events up to #{} matching <a href="{}">{}</a>',
            obj.max_event_id, event_filter_url(event_filter), described or "no filter",
        )

    def get_urls(self):
        return [
            path(
                "<int:job_id>/cancel/",
                self.admin_site.admin_view(require_POST(self.cancel_view)),
                name="webhooks_reprocessjob_cancel",
            ),
        ] + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if job is not None:
            extra.update(
                job=job,
                can_cancel=job.is_active and request.user.has_perm(REPROCESS_PERMISSION),
                cancel_url=reverse("admin:webhooks_reprocessjob_cancel", args=[job.pk]),
            )
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def changelist_view(self, request, extra_context=None):
        extra = {"has_active_jobs": selectors.active_reprocess_jobs().exists()}
        return super().changelist_view(request, extra_context={**extra, **(extra_context or {})})

    def cancel_view(self, request: HttpRequest, job_id: int):
        if not request.user.has_perm(REPROCESS_PERMISSION):
            raise PermissionDenied
        get_object_or_404(ReprocessJob.objects.only("id"), pk=job_id)
        job = cancel_reprocess_job(job_id=job_id)
        self.message_user(request, f"Reprocess job #{job.pk} is {job.status}.", messages.INFO)
        return HttpResponseRedirect(reverse("admin:webhooks_reprocessjob_change", args=[job.pk]))
