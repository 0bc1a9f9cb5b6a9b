"""Query-string filters of the API's lists (django-filter: invalid values answer 400)."""

from __future__ import annotations

from datetime import UTC

import django_filters
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django_filters.fields import IsoDateTimeField

from api.selectors import webhook_events_for_booking_uid
from common.datetimes import storable_moment
from meetings.models import Meeting, MeetingStatus, Target
from meetings.selectors import meeting_ids_for_booking
from webhooks.models import WebhookEvent, WebhookEventStatus


class StorableIsoDateTimeField(IsoDateTimeField):
    def to_python(self, value):
        moment = super().to_python(value)
        if moment is None:
            return None
        if not storable_moment(moment):
            raise ValidationError(
                "Enter a date and time in years 1-9999 (UTC) and an offset within ±15:59.", code="invalid"
            )
        # Sent to the database in UTC: the offset given is only how the moment was written.
        return moment.astimezone(UTC)


class StorableIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 moment the database can compare with; others answer 400, not 500."""

    field_class = StorableIsoDateTimeField


class MeetingFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=MeetingStatus.choices)
    cal_event_id = django_filters.CharFilter(
        method="filter_any_booking_uid",
        label="Any booking uid of the meeting's reschedule chain (current or earlier).",
    )
    target = django_filters.ModelChoiceFilter(
        queryset=Target.objects.all(), label="Id of the meeting's target."
    )
    start_after = StorableIsoDateTimeFilter(
        field_name="start_time", lookup_expr="gte", label="Starts at or after (ISO 8601)."
    )
    start_before = StorableIsoDateTimeFilter(
        field_name="start_time", lookup_expr="lt", label="Starts before (ISO 8601)."
    )

    class Meta:
        model = Meeting
        fields: list[str] = []

    def filter_any_booking_uid(self, queryset: QuerySet[Meeting], name: str, value: str) -> QuerySet[Meeting]:
        # Two indexed lookups (current uid, BookingUid aliases) instead of a join with OR.
        return queryset.filter(id__in=meeting_ids_for_booking(uids=[value]))


class WebhookEventFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=WebhookEventStatus.choices)
    trigger = django_filters.CharFilter(field_name="trigger_event", label="Cal.com trigger.")
    booking_uid = django_filters.CharFilter(
        method="filter_booking_uid",
        label="A booking uid: events of that booking's whole reschedule chain.",
    )
    received_after = StorableIsoDateTimeFilter(
        field_name="received_at", lookup_expr="gte", label="Received at or after (ISO 8601)."
    )
    received_before = StorableIsoDateTimeFilter(
        field_name="received_at", lookup_expr="lt", label="Received before (ISO 8601)."
    )

    class Meta:
        model = WebhookEvent
        fields: list[str] = []

    def filter_booking_uid(
        self, queryset: QuerySet[WebhookEvent], name: str, value: str
    ) -> QuerySet[WebhookEvent]:
        return webhook_events_for_booking_uid(queryset=queryset, uid=value)
