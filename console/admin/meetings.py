"""Meetings and targets in the admin: find a meeting by any uid of its chain, read its timeline.

Meetings are written by Cal.com webhooks (meetings/services/apply.py); here staff only link a target.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib import admin
from django.contrib.auth import admin as auth_admin
from django.contrib.auth.models import Group, User
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode

from console.admin.base import BoundedChangeListMixin, VaniModelAdmin
from console.calcom_sync import sync_from_calcom, sync_one_view
from console.filters import event_list_url
from console.meeting_page import meeting_page_context, payment_badge
from console.widgets import (
    MEETING_STATUS_COLOURS,
    EstimatedCountPaginator,
    badge,
    clipped,
    local_time,
    money,
    readable_list,
    zone_heading,
)
from meetings import selectors as meeting_selectors
from meetings.models import Meeting, Target
from meetings.services.targets import link_target
from webhooks import selectors as webhook_selectors


class StartTimeFilter(admin.SimpleListFilter):
    """Fixed windows around today, all ranges on the indexed start time."""

    title = "start time"
    parameter_name = "start"

    def lookups(self, request, model_admin):
        return (
            ("upcoming", "Upcoming"),
            ("today", "Today"),
            ("next7", "Next 7 days"),
            ("past7", "Past 7 days"),
            ("past30", "Past 30 days"),
            ("past", "In the past"),
            ("none", "No start time"),
        )

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        now = timezone.now()
        today = timezone.make_aware(datetime.combine(timezone.localdate(), datetime.min.time()))
        ranges = {
            "upcoming": (now, None),
            "today": (today, today + timedelta(days=1)),
            "next7": (now, now + timedelta(days=7)),
            "past7": (now - timedelta(days=7), now),
            "past30": (now - timedelta(days=30), now),
            "past": (None, now),
        }
        if value == "none":
            return queryset.filter(start_time__isnull=True)
        if value not in ranges:
            return queryset.none()
        start, end = ranges[value]
        if start is not None:
            queryset = queryset.filter(start_time__gte=start)
        if end is not None:
            queryset = queryset.filter(start_time__lt=end)
        return queryset


@admin.register(Meeting)
class MeetingAdmin(VaniModelAdmin):
    # Fits a 1366-px laptop: title, attendee and target cut to one line (full text on hover).
    list_display = (
        "meeting_title",
        "status_column",
        "start_column",
        "attendee_column",
        "target_column",
        "payment_column",
    )
    list_display_links = ("meeting_title",)
    list_filter = ("status", StartTimeFilter, "payment_status", "host_no_show")
    list_select_related = ("target",)
    list_per_page = 50
    sortable_by = ("start_column",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = EstimatedCountPaginator
    search_fields = ("cal_event_id",)  # shows the box; the lookup is get_search_results
    search_help_text = (
        "Any booking uid of the reschedule chain, a Cal.com booking id, an attendee or target "
        "e-mail (exact), or a target's name or company."
    )
    autocomplete_fields = ("target",)
    actions = (sync_from_calcom,)
    # The page leads with the meeting's story (change_form.html: summary and timeline); these
    # are the raw fields beneath it.
    fieldsets = (
        ("Linked target", {"fields": ("target",)}),
        (
            "Booking",
            {
                "fields": (
                    "cal_event_id",
                    "booking_uids",
                    "cal_booking_id",
                    "title",
                    "status_column",
                    "cal_status",
                    "start_time",
                    "end_time",
                    "location",
                    "video_url",
                )
            },
        ),
        (
            "People",
            {
                "fields": (
                    "attendee_name",
                    "attendee_email",
                    "organizer_name",
                    "organizer_email",
                    "no_show_list",
                    "host_no_show",
                )
            },
        ),
        (
            "Payment",
            {
                "fields": (
                    "payment_column",
                    "payment_id",
                    "amount_column",
                    "paid_at",
                )
            },
        ),
        (
            "History",
            {
                "fields": (
                    "cancellation_reason",
                    "reschedule_requested",
                    "recording_url",
                    "transcript_urls",
                    "last_event_at",
                    "created_at",
                    "updated_at",
                    "events_link",
                )
            },
        ),
    )
    # Everything but the linked target comes from Cal.com and is shown, never edited.
    readonly_fields = tuple(
        name for _, options in fieldsets for name in options["fields"] if name != "target"
    )

    # Meetings come from Cal.com; they are never added or deleted by hand.
    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        sync_url = path(
            "<path:object_id>/sync/",
            self.admin_site.admin_view(
                lambda request, object_id: sync_one_view(request, object_id, model_admin=self)
            ),
            name="meetings_meeting_sync",
        )
        return [sync_url, *super().get_urls()]

    def get_search_results(self, request, queryset, search_term):
        return meeting_selectors.search_meetings(queryset=queryset, term=search_term), False

    def save_model(self, request, obj, form, change):
        link_target(meeting=obj, target=form.cleaned_data.get("target"))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = dict(extra_context or {})
        meeting = self.get_object(request, object_id)
        if meeting is not None:
            extra.update(meeting_page_context(meeting=meeting))
        return super().change_view(request, object_id, form_url, extra_context=extra)

    @admin.display(description="meeting", ordering="start_time")
    def meeting_title(self, obj: Meeting):
        return clipped(obj.title or obj.cal_event_id, css_class="vani-title")

    @admin.display(description=zone_heading("starts"), ordering="start_time")
    def start_column(self, obj: Meeting) -> str:
        return local_time(obj.start_time, fmt="Y-m-d H:i")

    @admin.display(description="target", ordering="target")
    def target_column(self, obj: Meeting):
        if obj.target is None:
            return "—"
        return clipped(str(obj.target), css_class="vani-email")

    @admin.display(description="amount")
    def amount_column(self, obj: Meeting) -> str:
        return money(minor_units=obj.payment_amount, currency=obj.payment_currency)

    @admin.display(description="no-show attendees")
    def no_show_list(self, obj: Meeting):
        return readable_list(obj.no_show_emails)

    @admin.display(description="status")
    def status_column(self, obj: Meeting):
        status = badge(
            label=obj.get_status_display(),
            colour=MEETING_STATUS_COLOURS.get(obj.status, "#6b7280"),
            css_class=f"meeting-{obj.status}",
        )
        if not obj.host_no_show:
            return status
        # Cal Video saw the host miss the call; the status alone would not say so.
        return format_html(
            "{} {}", status, badge(label="Host no-show", colour="#b45309", css_class="host-no-show")
        )

    @admin.display(description="attendee")
    def attendee_column(self, obj: Meeting):
        if not obj.attendee_email:
            return "—"
        return format_html(
            "{}{}",
            clipped(obj.attendee_name or obj.attendee_email, css_class="vani-email"),
            clipped(obj.attendee_email, css_class="vani-email vani-sub") if obj.attendee_name else "",
        )

    @admin.display(description="payment")
    def payment_column(self, obj: Meeting):
        return payment_badge(meeting=obj)

    @admin.display(description="every booking uid")
    def booking_uids(self, obj: Meeting) -> str:
        uids = sorted(webhook_selectors.chain_uids(meeting_ids=[obj.pk]))
        return ", ".join(uids) or "—"

    @admin.display(description="webhook events")
    def events_link(self, obj: Meeting):
        return format_html('<a href="{}">All events of this booking</a>', event_list_url(q=obj.cal_event_id))


@admin.register(Target)
class TargetAdmin(VaniModelAdmin):
    list_display = (
        "name_column",
        "email_column",
        "company_column",
        "owner",
        "created_column",
        "meetings_link",
    )
    list_display_links = ("name_column",)
    list_filter = (("owner", admin.RelatedOnlyFieldListFilter),)
    list_select_related = ("owner",)
    search_fields = ("name", "email", "company", "owner__username", "owner__email")
    autocomplete_fields = ("owner",)
    show_facets = admin.ShowFacets.NEVER

    @admin.display(description="name", ordering="name")
    def name_column(self, obj: Target):
        return clipped(obj.name or "(no name)", css_class="vani-email")

    @admin.display(description="e-mail", ordering="email")
    def email_column(self, obj: Target):
        return clipped(obj.email, css_class="vani-email")

    @admin.display(description="company", ordering="company")
    def company_column(self, obj: Target):
        return clipped(obj.company or "—", css_class="vani-email")

    @admin.display(description="added", ordering="created_at")
    def created_column(self, obj: Target) -> str:
        return local_time(obj.created_at, fmt="Y-m-d H:i T")

    @admin.display(description="meetings")
    def meetings_link(self, obj: Target):
        url = reverse("admin:meetings_meeting_changelist")
        return format_html('<a href="{}?{}">meetings</a>', url, urlencode({"q": obj.email}))


admin.site.unregister(User)
admin.site.unregister(Group)


# Django's own user and group lists, with the same 400-not-500 changelist as ours.
@admin.register(User)
class UserAdmin(BoundedChangeListMixin, auth_admin.UserAdmin):
    pass


@admin.register(Group)
class GroupAdmin(BoundedChangeListMixin, auth_admin.GroupAdmin):
    pass
