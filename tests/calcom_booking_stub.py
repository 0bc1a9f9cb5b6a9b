"""Cal.com API v2 bookings on the local stand-in server (tests/calcom_stub_server.py).

`CalComBookingStub(server)` registers `POST /v2/bookings` and `GET /v2/bookings/{uid}` on a
`CalComStubServer`, answering with the shapes of `cal-api-version: 2024-08-13` (`start`/`end`,
`attendees`, `hosts`, lower-case `status`) and Nest-style errors: a missing or other version
header, a body that fails validation, an unknown event type, or a slot already taken.

`before_answer` (a callable taking the stored booking) runs after the booking is stored and
before the answer is sent: tests use it to deliver the booking's webhook first, as Cal.com can.

The `calcom_bookings` fixture gives a stub on the per-test `calcom_server` with `calcom_settings`
applied.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import pytest
from django.utils.crypto import get_random_string

from calcom.dates import parse_datetime
from tests.calcom_stub_server import CalComStubServer, StubRequest, StubResponse, v2_error

__all__ = ["CalComBookingStub", "calcom_bookings", "EVENT_TYPE_ID"]

BOOKINGS_API_VERSION = "2024-08-13"
EVENT_TYPE_ID = 1180342
HOST = {
    "id": 4821,
    "name": "Alex Rivera",
    "email": "alex.rivera@example.com",
    "username": "alexrivera",
    "timeZone": "America/New_York",
}


class CalComBookingStub:
    def __init__(
        self, server: CalComStubServer, *, event_types: dict[int, int] | None = None
    ) -> None:
        self.server = server
        # event type id → length in minutes
        self.event_types = dict(event_types or {EVENT_TYPE_ID: 30})
        self.bookings: dict[str, dict[str, Any]] = {}  # uid → booking as the API shows it
        self.before_answer: Callable[[dict[str, Any]], None] | None = None
        self._lock = threading.Lock()
        server.add_route("POST", r"/v2/bookings", self._create)
        server.add_route("GET", r"/v2/bookings/(?P<uid>[^/]+)", self._get)

    # -- seeding and inspection ----------------------------------------------------------------

    def add_booking(
        self,
        *,
        start: datetime,
        attendee_name: str = "Jane Prospect",
        attendee_email: str = "jane@prospect.example",
        status: str = "accepted",
        uid: str = "",
    ) -> dict[str, Any]:
        """A booking made elsewhere (Cal.com's booking page): stored without a request."""
        booking = self._booking(
            uid=uid or get_random_string(22),
            start=start,
            length=self.event_types[EVENT_TYPE_ID],
            event_type_id=EVENT_TYPE_ID,
            attendee={"name": attendee_name, "email": attendee_email, "timeZone": "Europe/London"},
            status=status,
        )
        with self._lock:
            self.bookings[booking["uid"]] = booking
        return booking

    @property
    def requests(self):
        return [r for r in self.server.requests if r.path.startswith("/v2/bookings")]

    # -- routes --------------------------------------------------------------------------------

    def _create(
        self, server: CalComStubServer, request: StubRequest, match: re.Match
    ) -> StubResponse:
        version_problem = _check_version(request=request)
        if version_problem:
            return version_problem
        problems = _validate_create(body=request.body)
        if problems:
            return v2_error(
                status=400, code="BadRequestException", message=problems, path=request.path
            )
        body = request.body
        length = self.event_types.get(body["eventTypeId"])
        if length is None:
            return v2_error(
                status=404,
                code="NotFoundException",
                message=f"Event type with id={body['eventTypeId']} was not found.",
                path=request.path,
            )
        start = parse_datetime(body["start"])
        with self._lock:
            taken = any(
                b["start"] == _iso(start) and b["eventTypeId"] == body["eventTypeId"]
                and b["status"] != "cancelled"
                for b in self.bookings.values()
            )
            if taken:
                return v2_error(
                    status=400,
                    code="BadRequestException",
                    message="User either already has booking at this time or is not available",
                    path=request.path,
                )
            booking = self._booking(
                uid=get_random_string(22),
                start=start,
                length=length,
                event_type_id=body["eventTypeId"],
                attendee=body["attendee"],
                status="accepted",
            )
            self.bookings[booking["uid"]] = booking
        if self.before_answer is not None:
            self.before_answer(booking)
        return StubResponse(201, {"status": "success", "data": booking})

    def _get(self, server: CalComStubServer, request: StubRequest, match: re.Match) -> StubResponse:
        version_problem = _check_version(request=request)
        if version_problem:
            return version_problem
        uid = unquote(match["uid"])  # Nest decodes path parameters
        booking = self.bookings.get(uid)
        if booking is None:
            return v2_error(
                status=404,
                code="NotFoundException",
                message=f"Booking with uid={uid} was not found in the database",
                path=request.path,
            )
        return StubResponse(200, {"status": "success", "data": booking})

    # -- shapes --------------------------------------------------------------------------------

    def _booking(
        self,
        *,
        uid: str,
        start: datetime,
        length: int,
        event_type_id: int,
        attendee: dict[str, Any],
        status: str,
    ) -> dict[str, Any]:
        now = _iso(datetime.now(UTC))
        video = f"https://app.cal.com/video/{uid}"
        return {
            "id": 100_000 + len(self.bookings) + 1,
            "uid": uid,
            "title": f"30 Min Meeting between {HOST['name']} and {attendee['name']}",
            "description": "",
            "hosts": [HOST],
            "status": status,
            "cancellationReason": None,
            "start": _iso(start),
            "end": _iso(start + timedelta(minutes=length)),
            "duration": length,
            "eventTypeId": event_type_id,
            "eventType": {"id": event_type_id, "slug": f"{length}min"},
            "meetingUrl": video,
            "location": video,
            "absentHost": False,
            "createdAt": now,
            "updatedAt": now,
            "metadata": {},
            "rating": None,
            "icsUid": f"{uid}@Cal.com",
            "attendees": [
                {
                    "name": attendee["name"],
                    "email": attendee["email"],
                    "timeZone": attendee["timeZone"],
                    "language": "en",
                    "absent": False,
                }
            ],
            "guests": [],
            "bookingFieldsResponses": {"name": attendee["name"], "email": attendee["email"]},
        }


def _check_version(*, request: StubRequest) -> StubResponse | None:
    # Bookings shapes differ per version; ours are 2024-08-13's, so insist on it.
    if request.headers.get("cal-api-version") != BOOKINGS_API_VERSION:
        return v2_error(
            status=400,
            code="BadRequestException",
            message=f"cal-api-version must be {BOOKINGS_API_VERSION} for these shapes",
            path=request.path,
        )
    return None


def _validate_create(*, body: Any) -> list[str]:
    """class-validator on CreateBookingInput_2024_08_13 (the fields we use)."""
    if not isinstance(body, dict):
        return ["body must be a JSON object"]
    problems = []
    if not isinstance(body.get("start"), str) or parse_datetime(body["start"]) is None:
        problems.append("start must be a valid ISO 8601 date string")
    elif not body["start"].endswith("Z"):
        problems.append("start must be in UTC (end with Z)")
    if not isinstance(body.get("eventTypeId"), int):
        problems.append("eventTypeId must be an integer number")
    attendee = body.get("attendee")
    if not isinstance(attendee, dict):
        problems.append("attendee must be an object")
    else:
        for name in ("name", "email", "timeZone"):
            if not isinstance(attendee.get(name), str) or not attendee[name]:
                problems.append(f"attendee.{name} should not be empty")
    return problems


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.fixture
def calcom_bookings(calcom_server, calcom_settings) -> CalComBookingStub:
    return CalComBookingStub(calcom_server)
