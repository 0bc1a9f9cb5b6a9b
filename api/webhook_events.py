"""REST API over stored webhook deliveries: browse, read one, reprocess one (staff only).

Thin: queries are in webhooks/api_selectors.py, reprocessing is `webhooks.reprocessing.reprocess_event`, the
same path the admin and the worker use.
"""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound
from rest_framework.permissions import BasePermission, IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response

from api.filters import StorableIsoDateTimeFilter
from api.pagination import CappedCursorPagination
from api.responses import error_responses
from api.serializers import StatusChangeSerializer

from api.selectors import (
    DecodedBody,
    decoded_event_body,
    webhook_event_detail,
    webhook_event_attempt_count,
    webhook_event_list,
    webhook_events_for_booking_uid,
)
from webhooks.models import AttemptTrigger, ProcessingAttempt, WebhookEvent, WebhookEventStatus
from webhooks.selectors import event_attempts, event_status_changes
from webhooks.processing import ReprocessNotAllowed
from webhooks.reprocessing import reprocess_event

REPROCESS_PERMISSION = "webhooks.reprocess_webhookevent"

# --- Filters and paging ------------------------------------------------------------------------


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


class WebhookEventCursorPagination(CappedCursorPagination):
    """Newest first along the (-received_at, -id) index."""

    ordering = ("-received_at", "-id")


# --- Serializers -------------------------------------------------------------------------------


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
    started_by = serializers.CharField(
        source="started_by.get_username", allow_null=True, read_only=True
    )

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
    status_changes = serializers.SerializerMethodField(
        help_text="Meeting status changes this event caused."
    )

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


# --- Views -------------------------------------------------------------------------------------


class CanReprocessWebhookEvents(BasePermission):
    message = f"reprocessing needs the permission {REPROCESS_PERMISSION}"

    def has_permission(self, request: Request, view) -> bool:
        return request.user.has_perm(REPROCESS_PERMISSION)


class WebhookEventListApi(generics.ListAPIView):
    """Deliveries, newest first, a cursor page at a time. Filter by status, trigger, booking
    uid (the whole reschedule chain) and received-time range."""

    serializer_class = WebhookEventSerializer
    pagination_class = WebhookEventCursorPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = WebhookEventFilter

    def get_queryset(self):
        return webhook_event_list()

    @extend_schema(responses={200: WebhookEventSerializer(many=True), **error_responses(400)})
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)


class WebhookEventDetailApi(generics.GenericAPIView):
    serializer_class = WebhookEventDetailSerializer
    queryset = WebhookEvent.objects.none()  # names the model for ModelPermissions

    @extend_schema(responses={200: WebhookEventDetailSerializer, **error_responses(404)})
    def get(self, request: Request, event_id: int) -> Response:
        event = webhook_event_detail(event_id=event_id)
        if event is None:
            raise NotFound(f"no webhook event #{event_id}")
        return Response(WebhookEventDetailSerializer(event).data)


class WebhookEventReprocessApi(generics.GenericAPIView):
    """Process a stored event again, like the admin's "Reprocess" (permission
    `webhooks.reprocess_webhookevent`). Rejected deliveries and duplicates answer 409."""

    serializer_class = ReprocessInputSerializer
    permission_classes = [IsAdminUser, CanReprocessWebhookEvents]

    @extend_schema(
        request=ReprocessInputSerializer,
        responses={
            200: OpenApiResponse(ReprocessResultSerializer, description="The run's outcome."),
            **error_responses(400, 404, 409),
        },
    )
    def post(self, request: Request, event_id: int) -> Response:
        serializer = ReprocessInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        attempts_before = webhook_event_attempt_count(event_id=event_id)
        if attempts_before is None:
            raise NotFound(f"no webhook event #{event_id}")
        try:
            event = reprocess_event(
                event_id=event_id,
                user=request.user,
                force=serializer.validated_data["force"],
                via=AttemptTrigger.API,
            )
        except ReprocessNotAllowed as exc:
            return Response({"detail": str(exc)}, status=409)
        return Response(
            ReprocessResultSerializer(
                {"ran": event.attempts > attempts_before, "event": event}
            ).data
        )
