"""Cal.com bookings through API v2: book a slot, read one booking, or list them page by page.

Built on `calcom.api.client.CalComClient` (credentials, timeouts, retries, typed errors). The
bookings endpoints need their own `cal-api-version`; `2024-08-13` is the version whose shapes
are used here (`start`/`end`, `attendees`, `hosts`, lower-case `status`). The list endpoint
pages with `take` (at most 100 here) and `skip` and says when to stop with
`pagination.hasNextPage`, unlike the webhook lists `CalComClient.paginate` walks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from calcom.api.client import MAX_PAGES, CalComBadResponseError, CalComClient, path_segment, v2_data
from calcom.dates import parse_datetime

BOOKINGS_API_VERSION = "2024-08-13"
_VERSION_HEADER = {"cal-api-version": BOOKINGS_API_VERSION}
# The bookings list refuses larger pages.
MAX_BOOKINGS_PAGE_SIZE = 100


@dataclass(frozen=True)
class BookingPerson:
    name: str
    email: str
    absent: bool = False  # attendees only: marked as a no-show


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
    rescheduled_from_uid: str = ""  # this booking replaced that one (a reschedule)
    rescheduled_to_uid: str = ""  # this booking was replaced by that one (the old half)
    absent_host: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None  # Cal.com's time of the booking's latest change
    event_type_id: int | None = None

    @property
    def all_attendees_absent(self) -> bool:
        return bool(self.attendees) and all(person.absent for person in self.attendees)

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
            rescheduled_from_uid=_text(data.get("rescheduledFromUid")),
            rescheduled_to_uid=_text(data.get("rescheduledToUid")),
            absent_host=data.get("absentHost") is True,
            created_at=parse_datetime(data.get("createdAt")),
            updated_at=parse_datetime(data.get("updatedAt")),
            event_type_id=_int(data.get("eventTypeId")),
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


@dataclass(frozen=True)
class BookingQuery:
    """Filters of `GET /v2/bookings`; None leaves a filter out. Always sorted by updatedAt."""

    updated_after: datetime | None = None  # afterUpdatedAt
    start_after: datetime | None = None  # afterStart
    end_before: datetime | None = None  # beforeEnd
    statuses: Sequence[str] = ()  # upcoming, recurring, past, cancelled, unconfirmed

    def params(self) -> dict[str, str]:
        params = {"sortUpdatedAt": "asc"}
        for name, moment in (
            ("afterUpdatedAt", self.updated_after),
            ("afterStart", self.start_after),
            ("beforeEnd", self.end_before),
        ):
            if moment is not None:
                params[name] = _iso(moment)
        if self.statuses:
            params["status"] = ",".join(self.statuses)
        return params


def list_bookings(
    *,
    query: BookingQuery,
    client: CalComClient | None = None,
    page_size: int = MAX_BOOKINGS_PAGE_SIZE,
    on_total: Callable[[int], None] | None = None,
) -> Iterator[CalComBooking]:
    """Every booking `query` matches, oldest update first, fetched one page at a time.

    Pages (`take` ≤ 100, `skip`) until `pagination.hasNextPage` is false. `on_total` is told
    the server's `pagination.totalItems` once the first page is in (for a progress bar).
    Raises a `CalComError` subclass when a page cannot be had.
    """
    client = client or CalComClient.from_settings()
    path = "/v2/bookings"
    take = max(1, min(page_size, MAX_BOOKINGS_PAGE_SIZE))
    base_params = query.params()
    skip = 0
    for page in range(MAX_PAGES):
        body = client.request(
            "GET", path, params={**base_params, "take": take, "skip": skip}, headers=_VERSION_HEADER
        )
        items = v2_data(body=body, method="GET", path=path)
        if not isinstance(items, list):
            raise CalComBadResponseError("expected a list in `data`", status=200, method="GET", path=path)
        pagination = body.get("pagination") if isinstance(body.get("pagination"), Mapping) else {}
        if page == 0 and on_total is not None:
            total = _int(pagination.get("totalItems"))
            on_total(total if total is not None else len(items))
        for item in items:
            yield CalComBooking.from_v2(data=item, method="GET", path=path)
        if pagination.get("hasNextPage") is not True or not items:
            return
        skip += len(items)
    raise CalComBadResponseError(
        f"more than {MAX_PAGES} pages; the server seems to ignore `skip`", method="GET", path=path
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _people(value: Any) -> tuple[BookingPerson, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(
        BookingPerson(
            name=_text(person.get("name")),
            email=_text(person.get("email")),
            absent=person.get("absent") is True,
        )
        for person in value
        if isinstance(person, Mapping)
    )
