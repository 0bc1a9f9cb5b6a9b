"""The bookings list client (`calcom.api.bookings.list_bookings`) against the fake Cal.com API."""

from __future__ import annotations

from datetime import timedelta

import pytest

from calcom.api.bookings import BOOKINGS_API_VERSION, BookingQuery, fetch_booking, list_bookings
from calcom.api.client import CalComAuthError, CalComClient, CalComNotFoundError, CalComUnavailableError
from tests.support.bodies import at
from tests.support.booking_api import api_booking


def _client(server, *, key=None):
    return CalComClient(
        api_url=server.url, api_key=key or server.api_key, backoff_seconds=0.001, max_retries=2
    )


def _seed(server, count):
    for n in range(count):
        server.put_booking(
            api_booking(uid=f"B{n:03d}", booking_id=n + 1, start=at(60), created=at(0), updated=at(n))
        )


def test_pages_past_100_with_take_at_most_100_the_version_header_and_has_next_page(calcom_server):
    _seed(calcom_server, 230)
    totals = []

    bookings = list(
        list_bookings(
            query=BookingQuery(updated_after=at(5)), client=_client(calcom_server), on_total=totals.append
        )
    )

    assert [b.uid for b in bookings] == [f"B{n:03d}" for n in range(5, 230)]  # oldest update first
    assert totals == [225]
    requests = calcom_server.booking_requests
    assert [(r.query["take"], r.query["skip"]) for r in requests] == [
        ("100", "0"),
        ("100", "100"),
        ("100", "200"),
    ]
    for request in requests:
        assert request.headers["cal-api-version"] == BOOKINGS_API_VERSION
        assert request.headers["authorization"] == f"Bearer {calcom_server.api_key}"
        assert request.query["sortUpdatedAt"] == "asc"
        assert request.query["afterUpdatedAt"] == "2025-06-02T09:05:00.000Z"


def test_a_full_last_page_ends_on_has_next_page_not_on_its_length(calcom_server):
    _seed(calcom_server, 200)
    assert len(list(list_bookings(query=BookingQuery(), client=_client(calcom_server)))) == 200
    assert len(calcom_server.booking_requests) == 2


def test_the_fake_refuses_take_over_100_and_a_missing_version_header(calcom_server):
    client = _client(calcom_server)
    with pytest.raises(Exception, match="take must not be greater than 100"):
        client.request("GET", "/v2/bookings", params={"take": 101}, headers={"cal-api-version": "2024-08-13"})
    with pytest.raises(Exception, match="cal-api-version"):
        client.request("GET", "/v2/bookings")


def test_end_and_status_filters(calcom_server):
    calcom_server.now = lambda: at(200)
    calcom_server.put_booking(api_booking(uid="PAST", booking_id=1, start=at(100), created=at(0)))
    calcom_server.put_booking(api_booking(uid="LATER", booking_id=2, start=at(300), created=at(0)))
    calcom_server.put_booking(
        api_booking(uid="GONE", booking_id=3, start=at(100), created=at(0), status="cancelled")
    )
    query = BookingQuery(start_after=at(50), end_before=at(200), statuses=("past",))

    assert [b.uid for b in list_bookings(query=query, client=_client(calcom_server))] == ["PAST"]
    sent = calcom_server.booking_requests[-1].query
    assert (sent["afterStart"], sent["beforeEnd"], sent["status"]) == (
        "2025-06-02T09:50:00.000Z",
        "2025-06-02T12:20:00.000Z",
        "past",
    )


def test_booking_fields_of_the_2024_08_13_shape(calcom_server):
    calcom_server.put_booking(
        api_booking(
            uid="NEW",
            booking_id=7,
            start=at(60),
            created=at(1),
            updated=at(2),
            rescheduled_from="OLD",
            absent=True,
        )
    )
    booking = fetch_booking(uid="NEW", client=_client(calcom_server))
    assert booking.rescheduled_from_uid == "OLD" and booking.rescheduled_to_uid == ""
    assert (booking.created_at, booking.updated_at, booking.end) == (at(1), at(2), at(90))
    assert booking.all_attendees_absent and booking.attendees[0].absent
    assert booking.event_type_id == 1180342 and booking.hosts[0].email == "alex@rivera-consulting.com"


def test_unknown_uid_bad_key_and_5xx(calcom_server):
    with pytest.raises(CalComNotFoundError):
        fetch_booking(uid="NOPE", client=_client(calcom_server))
    with pytest.raises(CalComAuthError):
        list(list_bookings(query=BookingQuery(), client=_client(calcom_server, key="cal_wrong")))
    calcom_server.failing_status = 502
    with pytest.raises(CalComUnavailableError):
        list(list_bookings(query=BookingQuery(), client=_client(calcom_server)))
    assert len(calcom_server.requests) == 1 + 1 + 3  # the 5xx was retried twice
    calcom_server.failing_status = None
    assert (
        list(
            list_bookings(
                query=BookingQuery(updated_after=at(0) + timedelta(days=1)), client=_client(calcom_server)
            )
        )
        == []
    )
