"""The Cal.com sync in the console: the "Sync from Cal.com" action and button on meetings, and
the dashboard's sync card. Parsing and messages only; the sync itself is calsync.services."""

from __future__ import annotations

from datetime import datetime

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse

from calsync.models import SyncRunVia
from calsync.selectors import sync_health
from calsync.services import SyncRequest, run_sync
from console.widgets import format_age
from meetings.models import Meeting

# Selecting more than this many meetings would hold the admin request for minutes.
MAX_MEETINGS_PER_ACTION = 50


def sync_meetings(*, request: HttpRequest, meetings: QuerySet[Meeting]) -> None:
    """Sync the selected meetings' current bookings and say what happened."""
    uids = list(meetings.values_list("cal_event_id", flat=True)[: MAX_MEETINGS_PER_ACTION + 1])
    if len(uids) > MAX_MEETINGS_PER_ACTION:
        messages.error(
            request,
            f"Select at most {MAX_MEETINGS_PER_ACTION} meetings, or run "
            "`manage.py sync_calcom_bookings --since …` for more.",
        )
        return
    report = run_sync(request=SyncRequest(uids=tuple(uids)), via=SyncRunVia.ADMIN)
    if report.ok:
        messages.success(request, f"Synced from Cal.com: {report.summary()}.")
    else:
        messages.error(request, f"Sync from Cal.com failed ({report.summary()}): {report.problems()}")


@admin.action(description="Sync from Cal.com", permissions=["change"])
def sync_from_calcom(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Meeting]) -> None:
    sync_meetings(request=request, meetings=queryset)


def sync_one_view(
    request: HttpRequest, object_id: str, *, model_admin: admin.ModelAdmin
) -> HttpResponseRedirect:
    """POST from the meeting page's button: sync that meeting, back to its page."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])  # type: ignore[return-value]
    meeting = get_object_or_404(Meeting, pk=object_id)
    if not model_admin.has_change_permission(request, meeting):
        raise PermissionDenied
    sync_meetings(request=request, meetings=Meeting.objects.filter(pk=meeting.pk))
    # A merge may have folded it into another meeting; its uid still finds the survivor.
    survivor = Meeting.objects.filter(uids__uid=meeting.cal_event_id).first() or meeting
    return HttpResponseRedirect(reverse("admin:meetings_meeting_change", args=[survivor.pk]))


def sync_card(*, now: datetime) -> dict[str, object]:
    """Context of the dashboard's Cal.com sync card."""
    health = sync_health(now=now)
    last = health.last_run
    success = health.last_success
    return {
        "sync_health": health,
        "sync_last_age": format_age(now - last.finished_at) if last and last.finished_at else "",
        "sync_success_age": format_age(now - success.finished_at) if success and success.finished_at else "",
    }
