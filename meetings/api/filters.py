"""Query-string filters of the meetings API (django-filter: invalid values answer 400)."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from meetings.models import Meeting, MeetingStatus, Target
from meetings.selectors import meeting_ids_for_booking


class MeetingFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=MeetingStatus.choices)
    cal_event_id = django_filters.CharFilter(
        method="filter_any_booking_uid",
        label="Any booking uid of the meeting's reschedule chain (current or earlier).",
    )
    target = django_filters.ModelChoiceFilter(
        queryset=Target.objects.all(), label="Id of the meeting's target."
    )
    start_after = django_filters.IsoDateTimeFilter(
        field_name="start_time", lookup_expr="gte", label="Starts at or after (ISO 8601)."
    )
    start_before = django_filters.IsoDateTimeFilter(
        field_name="start_time", lookup_expr="lt", label="Starts before (ISO 8601)."
    )

    class Meta:
        model = Meeting
        fields: list[str] = []

    def filter_any_booking_uid(
        self, queryset: QuerySet[Meeting], name: str, value: str
    ) -> QuerySet[Meeting]:
        # Two indexed lookups (current uid, BookingUid aliases) instead of a join with OR.
        return queryset.filter(id__in=meeting_ids_for_booking(uids=[value]))
