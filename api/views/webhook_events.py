"""Webhook deliveries over REST: browse, read one, reprocess one (staff only).

Thin: queries are api/selectors.py, reprocessing is `reprocess_event`, the same path the admin
and the worker use.
"""

from __future__ import annotations

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response

from api.filters import WebhookEventFilter
from api.pagination import WebhookEventCursorPagination
from api.permissions import CanReprocessWebhookEvents
from api.responses import error_responses
from api.selectors import webhook_event_attempt_count, webhook_event_detail, webhook_event_list
from api.serializers import (
    ReprocessInputSerializer,
    ReprocessResultSerializer,
    WebhookEventDetailSerializer,
    WebhookEventSerializer,
)
from webhooks.models import AttemptTrigger, WebhookEvent
from webhooks.processing import ReprocessNotAllowed
from webhooks.reprocessing import reprocess_event


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
            ReprocessResultSerializer({"ran": event.attempts > attempts_before, "event": event}).data
        )
