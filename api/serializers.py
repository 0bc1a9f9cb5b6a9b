"""Shapes of the API: what comes in (validated input) and what goes out."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib.auth import get_user_model
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.selectors import DecodedBody, decoded_event_body
from meetings.models import Meeting, MeetingStatus, MeetingStatusChange, Target
from webhooks.models import ProcessingAttempt, WebhookEvent
from webhooks.selectors import event_attempts, event_status_changes

# --- Output ------------------------------------------------------------------------------------


class TargetSerializer(serializers.ModelSerializer):
    class Meta:
        model = Target
        fields = ("id", "name", "email", "company", "owner", "created_at", "updated_at")
        read_only_fields = fields


class MeetingSerializer(serializers.ModelSerializer):
    target = TargetSerializer(read_only=True, allow_null=True)
    transcript_urls = serializers.ListField(child=serializers.CharField(), read_only=True)
    no_show_emails = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Meeting
        fields = (
            "id",
            "cal_event_id",
            "cal_booking_id",
            "status",
            "cal_status",
            "start_time",
            "end_time",
            "title",
            "attendee_name",
            "attendee_email",
            "organizer_name",
            "organizer_email",
            "location",
            "video_url",
            "recording_url",
            "transcript_urls",
            "target",
            "payment_status",
            "payment_id",
            "payment_amount",
            "payment_currency",
            "paid_at",
            "cancellation_reason",
            "reschedule_requested",
            "no_show_emails",
            "last_event_at",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class TimelineEventSerializer(serializers.ModelSerializer):
    """A webhook event in a meeting's timeline: what it was and what became of it (no body)."""

    class Meta:
        model = WebhookEvent
        fields = (
            "id",
            "received_at",
            "trigger_event",
            "booking_uid",
            "event_created_at",
            "status",
            "status_reason",
            "attempts",
            "last_error",
        )
        read_only_fields = fields


class StatusChangeSerializer(serializers.ModelSerializer):
    # Declared: DRF drops `allow_blank` from read-only model fields, and the first change of a
    # meeting has no previous status.
    from_status = serializers.ChoiceField(
        choices=MeetingStatus.choices,
        allow_blank=True,
        read_only=True,
        help_text="Empty for the meeting's first status.",
    )

    class Meta:
        model = MeetingStatusChange
        fields = ("id", "from_status", "to_status", "event", "reason", "changed_at")
        read_only_fields = fields


class MeetingDetailSerializer(MeetingSerializer):
    """A meeting with its reschedule chain and timeline; the view passes the timeline entries
    (webhooks.selectors.meeting_timeline) in the context as `timeline`."""

    uids = serializers.SerializerMethodField(help_text="Every booking uid the meeting has had.")
    events = serializers.SerializerMethodField(
        help_text="Webhook events of the meeting, oldest first (bodies: /api/webhook-events/{id}/)."
    )
    status_changes = serializers.SerializerMethodField(help_text="Status changes, oldest first.")

    class Meta(MeetingSerializer.Meta):
        fields = (*MeetingSerializer.Meta.fields, "uids", "events", "status_changes")
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_uids(self, meeting: Meeting) -> list[str]:
        return [booking_uid.uid for booking_uid in meeting.uids.all()]

    @extend_schema_field(TimelineEventSerializer(many=True))
    def get_events(self, meeting: Meeting) -> list[dict]:
        events = [entry.event for entry in self.context["timeline"] if entry.event is not None]
        return TimelineEventSerializer(events, many=True).data

    @extend_schema_field(StatusChangeSerializer(many=True))
    def get_status_changes(self, meeting: Meeting) -> list[dict]:
        changes = [
            entry.status_change for entry in self.context["timeline"] if entry.status_change is not None
        ]
        return StatusChangeSerializer(changes, many=True).data


# --- Input -------------------------------------------------------------------------------------


class TargetInputSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    name = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    company = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    owner = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.filter(is_active=True),
        required=False,
        allow_null=True,
        default=None,
        help_text="Id of the staff user who owns the prospect (gets its HIT notifications).",
    )


class AttendeeInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255)
    email = serializers.EmailField(max_length=254)
    time_zone = serializers.CharField(
        max_length=64, help_text="IANA time zone of the attendee, e.g. `Europe/London`."
    )

    def validate_time_zone(self, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise serializers.ValidationError(f"{value!r} is not an IANA time zone") from None
        return value


_BOOKING_FIELDS = ("start", "event_type_id", "attendee")


class ScheduleMeetingInputSerializer(serializers.Serializer):
    """Either book a new slot (`start`, `event_type_id`, `attendee`) or link an existing
    Cal.com booking (`booking_uid`); `target_id` links the meeting to a prospect in both cases."""

    start = serializers.DateTimeField(
        required=False, help_text="Start of the slot (ISO 8601; sent to Cal.com in UTC)."
    )
    event_type_id = serializers.IntegerField(
        required=False, min_value=1, help_text="Cal.com event type to book."
    )
    attendee = AttendeeInputSerializer(required=False)
    booking_uid = serializers.CharField(
        required=False,
        max_length=255,
        help_text="Link this existing Cal.com booking instead of booking a new one.",
    )
    target_id = serializers.PrimaryKeyRelatedField(
        queryset=Target.objects.all(), required=False, allow_null=True, default=None
    )

    def validate(self, data: dict) -> dict:
        if data.get("booking_uid"):
            extra = [name for name in _BOOKING_FIELDS if name in data]
            if extra:
                raise serializers.ValidationError(
                    {
                        name: "give either booking_uid (link a booking) or start, event_type_id "
                        "and attendee (book one), not both"
                        for name in extra
                    }
                )
            return data
        missing = {name: "This field is required." for name in _BOOKING_FIELDS if name not in data}
        if missing:
            raise serializers.ValidationError(missing)
        start: datetime = data["start"]
        if start <= timezone.now():
            raise serializers.ValidationError({"start": "must be in the future"})
        return data


# --- Webhook events ----------------------------------------------------------------------------


class WebhookEventSerializer(serializers.ModelSerializer):
    """A delivery as listed: what it was and what became of it, never its body or headers."""

    class Meta:
        model = WebhookEvent
        fields = (
            "id",
            "received_at",
            "trigger_event",
            "booking_uid",
            "booking_id",
            "attendee_email",
            "event_created_at",
            "status",
            "status_reason",
            "signature_result",
            "attempts",
            "next_attempt_at",
            "last_error",
            "processed_at",
            "meeting",
            "duplicate_of",
            "body_size",
        )
        read_only_fields = fields


class ProcessingAttemptSerializer(serializers.ModelSerializer):
    started_by = serializers.CharField(source="started_by.get_username", allow_null=True, read_only=True)

    class Meta:
        model = ProcessingAttempt
        fields = (
            "number",
            "started_at",
            "finished_at",
            "outcome",
            "error",
            "started_via",
            "started_by",
        )
        read_only_fields = fields


class WebhookEventDetailSerializer(WebhookEventSerializer):
    """One delivery in full: masked headers, the decoded body, attempts and status changes."""

    headers = serializers.DictField(
        child=serializers.CharField(), read_only=True, help_text="As received; secrets as ***."
    )
    body = serializers.SerializerMethodField(
        help_text="The body parsed as JSON; null when it is empty or not JSON (see body_text)."
    )
    body_text = serializers.SerializerMethodField(
        help_text="The body as text when it is not JSON (invalid UTF-8 replaced); else null."
    )
    processing_attempts = serializers.SerializerMethodField()
    status_changes = serializers.SerializerMethodField(help_text="Meeting status changes this event caused.")

    class Meta(WebhookEventSerializer.Meta):
        fields = (
            *WebhookEventSerializer.Meta.fields,
            "reschedule_uid",
            "headers",
            "client_ip",
            "content_type",
            "webhook_version",
            "fingerprint",
            "body_truncated",
            "last_traceback",
            "body",
            "body_text",
            "processing_attempts",
            "status_changes",
        )
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.ANY)  # any JSON value, null included
    def get_body(self, event: WebhookEvent):
        return self._decoded_body(event=event).json

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_body_text(self, event: WebhookEvent) -> str | None:
        return self._decoded_body(event=event).text

    def _decoded_body(self, *, event: WebhookEvent) -> DecodedBody:
        # Bodies can be a megabyte: decode each one once for both fields.
        cache = self.__dict__.setdefault("_decoded_bodies", {})
        if event.pk not in cache:
            cache[event.pk] = decoded_event_body(event=event)
        return cache[event.pk]

    @extend_schema_field(ProcessingAttemptSerializer(many=True))
    def get_processing_attempts(self, event: WebhookEvent) -> list[dict]:
        return ProcessingAttemptSerializer(event_attempts(event_id=event.pk), many=True).data

    @extend_schema_field(StatusChangeSerializer(many=True))
    def get_status_changes(self, event: WebhookEvent) -> list[dict]:
        return StatusChangeSerializer(event_status_changes(event_id=event.pk), many=True).data


class ReprocessInputSerializer(serializers.Serializer):
    force = serializers.BooleanField(
        required=False, default=False, help_text="Also run an event that was already processed."
    )


class ReprocessResultSerializer(serializers.Serializer):
    ran = serializers.BooleanField(
        help_text="False when the event was not runnable (e.g. processed, and `force` not given)."
    )
    event = WebhookEventSerializer()
