"""The webhook event list and page: browse, search, read one delivery, and reprocess.

Thin by design: filtering and searching are selectors (webhooks/selectors.py), reprocessing is
webhooks/reprocessing.py. What lives here is request handling, written so that every list
page costs a constant, small number of indexed queries on a table of millions of rows.
Presentation pieces are console/widgets.py, the list filters console/filters.py, the
dashboard console/dashboard.py.
"""

from __future__ import annotations

import time
from datetime import datetime

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.views.main import ERROR_FLAG
from django.core.exceptions import PermissionDenied
from django.db.models.functions import Left
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator
from django.views.decorators.http import require_POST

from common.tasks import tasks_run_inline
from console.admin.base import BoundedChangeList, ReadOnlyModelAdmin
from console.dashboard import dashboard_view
from console.filters import (
    ReceivedAtFilter,
    SignatureFilter,
    StatusFilter,
    TriggerFilter,
    canonical_list_params,
    event_filter_from_params,
)
from console.widgets import (
    SIGNATURE_COLOURS,
    EstimatedCountPaginator,
    badge,
    badge_with_reason,
    clipped,
    display_body,
    local_time,
    status_badge,
)
from webhooks import selectors
from webhooks.ingest import mask_headers
from webhooks.models import REPROCESS_PERMISSION, WebhookEvent, WebhookEventStatus
from webhooks.processing import NEVER_PROCESSED
from webhooks.reprocessing import (
    BulkReprocessSummary,
    create_reprocess_job,
    reprocess_events,
    reprocess_one,
    runnable_statuses,
    selection_of_filter,
    selection_of_ids,
)

LIST_DEFERRED_FIELDS = ("raw_body", "headers", "last_traceback", "status_reason")
REASON_HEAD_CHARS = 200
LIST_FILTER_PARAMS = frozenset({"status", "trigger", "signature", *ReceivedAtFilter.parameter_names})


class WebhookEventChangeList(BoundedChangeList):
    def get_queryset(self, request, exclude_parameters=None):
        # Bodies and tracebacks can be a megabyte each; a list page never needs them.
        # The row shows the start of the reason only.
        return (
            super()
            .get_queryset(request, exclude_parameters)
            .defer(*LIST_DEFERRED_FIELDS)
            .annotate(reason_head=Left("status_reason", REASON_HEAD_CHARS))
        )


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyModelAdmin):
    # Fits a 1366-px laptop: long values are cut to one line (full text on hover), the reason
    # of an ignored, failed or rejected event sits under its badge.
    list_display = (
        "event_number",
        "received_column",
        "trigger_column",
        "uid_column",
        "status_with_reason",
        "signature_column",
        "attempts_column",
        "meeting_column",
    )
    list_display_links = ("event_number",)
    list_filter = (StatusFilter, TriggerFilter, SignatureFilter, ReceivedAtFilter)
    list_select_related = ("meeting",)
    list_per_page = 50
    list_max_show_all = 200
    # Sorting by anything but the indexed received time would sort a million rows.
    sortable_by = ("received_column",)
    ordering = ("-received_at", "-id")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = EstimatedCountPaginator
    search_fields = ("booking_uid",)  # shows the search box; the lookup is get_search_results
    search_help_text = (
        "Exact: a booking uid (finds its whole reschedule chain), an attendee e-mail, or an event id (#123)."
    )
    actions = ("reprocess_selected", "force_reprocess_selected")
    # The outcome first: what happened to the delivery, then what arrived.
    fieldsets = (
        (
            "Outcome",
            {
                "fields": (
                    "status_column",
                    "status_reason",
                    "duplicate_of_link",
                    "meeting_column",
                    "attempts",
                    "next_attempt_at",
                    "processed_at",
                    "last_error",
                )
            },
        ),
        (
            "Delivery",
            {
                "fields": (
                    "event_number",
                    "received_at",
                    "trigger_event",
                    "booking_uid",
                    "reschedule_uid",
                    "booking_id",
                    "attendee_email",
                    "event_created_at",
                    "client_ip",
                    "content_type",
                    "webhook_version",
                    "signature_column",
                    "body_size",
                    "body_truncated",
                    "fingerprint",
                )
            },
        ),
    )
    # A delivery is a record: every field on the page is read-only.
    readonly_fields = tuple(name for _, options in fieldsets for name in options["fields"])

    def has_reprocess_permission(self, request) -> bool:
        return request.user.has_perm(REPROCESS_PERMISSION)

    def get_changelist(self, request, **kwargs):
        return WebhookEventChangeList

    def lookup_allowed(self, lookup, value, request=None) -> bool:
        # Only our list filters' own parameters: each is one a bulk job replays. Any other lookup
        # would narrow the list but not the job, so it is refused (400).
        return lookup in LIST_FILTER_PARAMS

    def get_search_results(self, request, queryset, search_term):
        return selectors.search_webhook_events(queryset=queryset, term=search_term), False

    # Columns

    @admin.display(description="event", ordering="id")
    def event_number(self, obj: WebhookEvent) -> str:
        return f"#{obj.pk}"

    @admin.display(description="status")
    def status_column(self, obj: WebhookEvent):
        return status_badge(obj.status)

    @admin.display(description="received", ordering="received_at")
    def received_column(self, obj: WebhookEvent):
        return format_html(
            '<span title="{}">{}</span>',
            local_time(obj.received_at, fmt="Y-m-d H:i:s.u T"),
            local_time(obj.received_at, fmt="Y-m-d H:i T"),
        )

    @admin.display(description="tries")
    def attempts_column(self, obj: WebhookEvent) -> int:
        return obj.attempts

    @admin.display(description="trigger")
    def trigger_column(self, obj: WebhookEvent):
        return clipped(obj.trigger_event or "—", css_class="vani-trigger")

    @admin.display(description="booking uid")
    def uid_column(self, obj: WebhookEvent):
        return clipped(obj.booking_uid or "—", css_class="vani-uid")

    @admin.display(description="status and reason")
    def status_with_reason(self, obj: WebhookEvent):
        reason = getattr(obj, "reason_head", None)
        if reason is None:
            reason = obj.status_reason
        if obj.status in (WebhookEventStatus.FAILED, WebhookEventStatus.DEAD) and obj.last_error:
            reason = obj.last_error
        return badge_with_reason(badge_html=status_badge(obj.status), reason=reason or "")

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
            '<a href="{}" class="vani-clip vani-meeting" title="{}">{}</a><small class="vani-sub">{}</small>',
            reverse("admin:meetings_meeting_change", args=[obj.meeting_id]),
            meeting.title or meeting.cal_event_id,
            Truncator(meeting.title or meeting.cal_event_id).chars(120),
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
            # request.GET is in canonical form here (changelist_view): the job's filter is
            # exactly the one the list showed.
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

        inline = tasks_run_inline()
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
                    "runs_inline": inline,
                    "runnable_statuses": sorted(runnable_statuses(force=force)),
                    "event_filter": selection.event_filter,
                    "changelist_url": request.get_full_path(),
                },
            )

        if not selection.runnable_events(force=force).exists():
            self.message_user(
                request, "Nothing to reprocess: no selected event can be run.", messages.WARNING
            )
            return HttpResponseRedirect(request.get_full_path())
        started = time.monotonic()
        job = create_reprocess_job(selection=selection, user=request.user, force=force)
        if inline:
            # The inline task backend (the development default) ran the job inside this request.
            job.refresh_from_db()
            self.message_user(
                request,
                f"Reprocess job #{job.pk} ran now, in this request (inline task backend): "
                f"{job.done} of {job.total} events in {time.monotonic() - started:.1f} s.",
                messages.SUCCESS,
            )
        else:
            self.message_user(
                request,
                f"Reprocess job #{job.pk} queued for {job.total} events; a worker runs it in the background.",
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
            parts.append(f"{summary.refused} cannot be reprocessed (rejected deliveries and duplicates)")
        level = messages.WARNING if summary.failed or summary.refused else messages.SUCCESS
        self.message_user(request, "; ".join(parts) + ".", level)

    # Dashboard

    def dashboard_view(self, request: HttpRequest):
        return dashboard_view(request, model_admin=self)

    def changelist_view(self, request, extra_context=None):
        # Django's own filter form (?status__exact=…) and ours (?status=…) select the same
        # events; the list and its bulk actions only ever see ours (console/filters.py).
        try:
            canonical = canonical_list_params(request.GET)
        except ValueError:
            return HttpResponseRedirect(f"{request.path}?{ERROR_FLAG}=1")
        if canonical != request.GET:
            if request.method == "GET":
                return HttpResponseRedirect(f"{request.path}?{canonical.urlencode()}")
            request.GET = canonical
        extra = {
            "dashboard_url": reverse("admin:webhooks_webhookevent_dashboard"),
            "jobs_url": reverse("admin:webhooks_reprocessjob_changelist"),
        }
        return super().changelist_view(request, extra_context={**extra, **(extra_context or {})})


def _parse_as_of(value: str | None) -> datetime | None:
    try:
        return selectors.parse_moment(value or "")
    except ValueError:
        return None


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None
