"""Bulk reprocess jobs in the console: their progress, what they selected, and cancelling one."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from console.admin.base import ReadOnlyModelAdmin
from console.filters import event_filter_url
from console.widgets import JOB_COLOURS, badge
from webhooks import selectors
from webhooks.models import REPROCESS_PERMISSION, ReprocessJob
from webhooks.reprocessing import cancel_reprocess_job


@admin.register(ReprocessJob)
class ReprocessJobAdmin(ReadOnlyModelAdmin):
    list_display = (
        "job_number",
        "status_column",
        "progress_column",
        "total",
        "done",
        "failed",
        "skipped",
        "force",
        "created_by",
        "created_at",
        "finished_at",
    )
    list_display_links = ("job_number",)
    list_filter = ("status", "force")
    list_select_related = ("created_by",)
    show_facets = admin.ShowFacets.NEVER
    readonly_fields = (
        "job_number",
        "status_column",
        "progress_column",
        "force",
        "selection_column",
        "total",
        "done",
        "failed",
        "skipped",
        "last_event_id",
        "max_event_id",
        "error",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
    )
    fields = readonly_fields

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) or request.user.has_perm(REPROCESS_PERMISSION)

    @admin.display(description="job", ordering="id")
    def job_number(self, obj: ReprocessJob) -> str:
        return f"#{obj.pk}"

    @admin.display(description="status")
    def status_column(self, obj: ReprocessJob):
        return badge(
            label=obj.get_status_display(),
            colour=JOB_COLOURS.get(obj.status, "#6b7280"),
            css_class=f"job-{obj.status}",
        )

    @admin.display(description="progress")
    def progress_column(self, obj: ReprocessJob):
        return format_html(
            '<span class="vani-progress" title="{}%"><span style="width:{}%"></span></span> {}%',
            obj.percent_done,
            obj.percent_done,
            obj.percent_done,
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
            obj.max_event_id,
            event_filter_url(event_filter),
            described or "no filter",
        )

    def get_urls(self):
        return [
            path(
                "<int:job_id>/cancel/",
                self.admin_site.admin_view(require_POST(self.cancel_view)),
                name="webhooks_reprocessjob_cancel",
            ),
            *super().get_urls(),
        ]

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
