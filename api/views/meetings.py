"""Meetings, targets and scheduling endpoints. Thin: validate, call a service/selector, answer."""

from __future__ import annotations

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response

from api.filters import MeetingFilter
from api.pagination import CappedPageNumberPagination, MeetingCursorPagination
from api.permissions import CanScheduleMeetings
from api.responses import error_responses
from api.serializers import (
    MeetingDetailSerializer,
    MeetingSerializer,
    ScheduleMeetingInputSerializer,
    TargetInputSerializer,
    TargetSerializer,
)
from calcom.api.client import CalComError, InvalidPathSegment
from meetings.models import Meeting
from meetings.selectors import meeting_detail, meeting_list, target_list
from meetings.services.bookings import link_booking, schedule_meeting
from meetings.services.targets import TargetEmailTaken, create_target
from webhooks.selectors import meeting_timeline

CalComFailureSerializer = inline_serializer(
    name="CalComFailure",
    fields={
        "detail": serializers.CharField(help_text="Cal.com's own message."),
        "calcom_status": serializers.IntegerField(
            allow_null=True, help_text="Cal.com's HTTP status; null when it could not be reached."
        ),
    },
)


class MeetingListApi(generics.ListAPIView):
    """Meetings, newest start first (those with no start time yet first). Filter by status,
    any booking uid of the chain (`cal_event_id`), target id, and start-time range. Cursor
    pages (`next`/`previous`), no count: the same cost at any number of meetings."""

    serializer_class = MeetingSerializer
    pagination_class = MeetingCursorPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = MeetingFilter

    def get_queryset(self):
        return meeting_list()

    @extend_schema(responses={200: MeetingSerializer(many=True), **error_responses(400)})
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)


class MeetingDetailApi(generics.GenericAPIView):
    """One meeting with its booking uids, webhook-event timeline and status changes."""

    serializer_class = MeetingDetailSerializer
    queryset = Meeting.objects.none()  # names the model for ModelPermissions (view_meeting)

    @extend_schema(responses={200: MeetingDetailSerializer, **error_responses(404)})
    def get(self, request: Request, meeting_id: int) -> Response:
        meeting = meeting_detail(meeting_id=meeting_id)
        if meeting is None:
            raise NotFound(f"no meeting #{meeting_id}")
        timeline = meeting_timeline(meeting_id=meeting.id)
        return Response(MeetingDetailSerializer(meeting, context={"timeline": timeline}).data)


class MeetingScheduleApi(generics.GenericAPIView):
    """Book a meeting through Cal.com (`start`, `event_type_id`, `attendee`), or link a booking
    made elsewhere (`booking_uid`); optionally link it to a target (`target_id`).

    The meeting is stored under the Cal.com booking uid, so the booking's webhooks (before or
    after this answer) update the same meeting. When Cal.com refuses or fails, the answer is 502
    with Cal.com's message and nothing is stored.
    """

    serializer_class = ScheduleMeetingInputSerializer
    permission_classes = [IsAdminUser, CanScheduleMeetings]

    @extend_schema(
        request=ScheduleMeetingInputSerializer,
        responses={
            201: OpenApiResponse(MeetingSerializer, description="Booked, or linked and stored."),
            200: OpenApiResponse(
                MeetingSerializer, description="Linked to a meeting that was already stored."
            ),
            502: OpenApiResponse(CalComFailureSerializer, description="Cal.com refused or failed."),
            **error_responses(400),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = ScheduleMeetingInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            if data.get("booking_uid"):
                stored = link_booking(booking_uid=data["booking_uid"], target=data["target_id"])
                answer_status = status.HTTP_201_CREATED if stored.created else status.HTTP_200_OK
            else:
                stored = schedule_meeting(
                    start=data["start"],
                    event_type_id=data["event_type_id"],
                    attendee_name=data["attendee"]["name"],
                    attendee_email=data["attendee"]["email"],
                    attendee_time_zone=data["attendee"]["time_zone"],
                    target=data["target_id"],
                )
                # A new Cal.com booking, whether or not its webhook stored the meeting first.
                answer_status = status.HTTP_201_CREATED
        except InvalidPathSegment as exc:
            # Checked where the uid meets the URL, so a booking we already know under an
            # unusual uid can still be linked.
            raise serializers.ValidationError({"booking_uid": [str(exc)]}) from None
        except CalComError as exc:
            return Response(
                {"detail": exc.message, "calcom_status": exc.status},
                status=status.HTTP_502_BAD_GATEWAY,
            )
        return Response(MeetingSerializer(stored.meeting).data, status=answer_status)


class TargetListCreateApi(generics.GenericAPIView):
    """Prospects. E-mail addresses are unique whatever their letter case."""

    serializer_class = TargetSerializer
    pagination_class = CappedPageNumberPagination

    def get_queryset(self):
        return target_list()

    @extend_schema(responses={200: TargetSerializer(many=True), **error_responses()})
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(TargetSerializer(page, many=True).data)

    @extend_schema(
        request=TargetInputSerializer,
        responses={201: TargetSerializer, **error_responses(400)},
    )
    def post(self, request: Request) -> Response:
        serializer = TargetInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            target = create_target(**serializer.validated_data)
        except TargetEmailTaken as exc:
            raise serializers.ValidationError({"email": [str(exc)]}) from None
        return Response(TargetSerializer(target).data, status=status.HTTP_201_CREATED)
