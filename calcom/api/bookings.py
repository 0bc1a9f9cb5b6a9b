"""Cal.com bookings through API v2: book a slot, or read a booking made elsewhere.

Built on `calcom.api.client.CalComClient` (credentials, timeouts, retries, typed errors). The
bookings endpoints need their own `cal-api-version`; `2024-08-13` is the version whose shapes
are used here (`start`/`end`, `attendees`, `hosts`, lower-case `status`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from calcom.api.client import CalComBadResponseError, CalComClient, path_segment, v2_data
from calcom.dates import parse_datetime

BOOKINGS_API_VERSION = "2024-08-13"
_VERSION_HEADER = {"cal-api-version": BOOKINGS_API_VERSION}


@dataclass(frozen=True)
class BookingPerson:
    name: str
    email: str


@dataclass(frozen=True)
class CalComBooking:
    """What Cal.com's API says about one booking (API v2, version 2024-08-13)."""

    uid: str
    booking_id: int | None
    status: str  # accepted | pending | cancelled | rejected
    title: str
    start: datetime | None
    end: datetime | None
    attendees: tuple[BookingPerson, ...]
    hosts: tuple[BookingPerson, ...]
    location: str
    meeting_url: str
    cancellation_reason: str

    @classmethod
    def from_v2(cls, *, data: Any, method: str, path: str) -> CalComBooking:
        # A recurring event type answers with one booking per occurrence; the first one is the
        # booking that was asked for (the others arrive as their own BOOKING_CREATED webhooks).
        if isinstance(data, list) and data:
            data = data[0]
        if not isinstance(data, Mapping) or not isinstance(data.get("uid"), str) or not data["uid"]:
            raise CalComBadResponseError(
                "expected a booking with a `uid` in `data`", status=200, method=method, path=path
            )
        booking_id = data.get("id")
        return cls(
            uid=data["uid"],
            booking_id=booking_id if isinstance(booking_id, int) else None,
            status=str(data.get("status") or "").lower(),
            title=_text(data.get("title")),
            start=parse_datetime(data.get("start")),
            end=parse_datetime(data.get("end")),
            attendees=_people(data.get("attendees")),
            hosts=_people(data.get("hosts")),
            location=_text(data.get("location")),
            meeting_url=_text(data.get("meetingUrl")),
            cancellation_reason=_text(data.get("cancellationReason")),
        )


def create_booking(
    *,
    start: datetime,
    event_type_id: int,
    attendee_name: str,
    attendee_email: str,
    attendee_time_zone: str,
    client: CalComClient | None = None,
) -> CalComBooking:
    """Book `start` on the event type for the attendee (`POST /v2/bookings`).

    Raises a `CalComError` subclass (with Cal.com's own message) when Cal.com refuses or fails.
    """
    client = client or CalComClient.from_settings()
    path = "/v2/bookings"
    body = client.request(
        "POST",
        path,
        json={
            "start": start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventTypeId": event_type_id,
            "attendee": {
                "name": attendee_name,
                "email": attendee_email,
                "timeZone": attendee_time_zone,
            },
        },
        headers=_VERSION_HEADER,
    )
    data = v2_data(body=body, method="POST", path=path)
    return CalComBooking.from_v2(data=data, method="POST", path=path)


def fetch_booking(*, uid: str, client: CalComClient | None = None) -> CalComBooking:
    """The booking with this uid (`GET /v2/bookings/{uid}`).

    Raises InvalidPathSegment, before any request, for a uid that is not a Cal.com id.
    """
    path = f"/v2/bookings/{path_segment(value=uid)}"
    client = client or CalComClient.from_settings()
    body = client.request("GET", path, headers=_VERSION_HEADER)
    data = v2_data(body=body, method="GET", path=path)
    return CalComBooking.from_v2(data=data, method="GET", path=path)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _people(value: Any) -> tuple[BookingPerson, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(
        BookingPerson(name=_text(person.get("name")), email=_text(person.get("email")))
        for person in value
        if isinstance(person, Mapping)
    )
