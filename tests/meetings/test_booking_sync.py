"""The pure mapping from a booking snapshot (bookings API) to webhook-equivalent events: every row."""

from __future__ import annotations

from datetime import timedelta

import pytest

from calcom.api.bookings import CalComBooking
from meetings.booking_sync import BOOKING_TABLE, plan_booking_sync
from tests.support.bodies import at
from tests.support.booking_api import VIDEO_URL, api_booking

NOW = at(1000)


def _booking(**options) -> CalComBooking:
    options.setdefault("uid", "B1")
    options.setdefault("booking_id", 11)
    options.setdefault("created", at(0))
    return CalComBooking.from_v2(data=api_booking(**options), method="GET", path="/v2/bookings")


UPCOMING, ENDED = at(2000), at(100)  # starts; 30 minutes long

ROWS = [
    # (booking, [(trigger, occurred_at)], successor, cal_status of the events)
    (dict(start=UPCOMING, updated=at(5)), [("BOOKING_CREATED", at(5))], "", "ACCEPTED"),
    (
        dict(start=UPCOMING, updated=at(5), rescheduled_from="A0"),
        [("BOOKING_RESCHEDULED", at(5))],
        "",
        "ACCEPTED",
    ),
    (
        dict(start=ENDED, updated=at(5)),
        [("BOOKING_CREATED", at(5)), ("MEETING_ENDED", at(130))],
        "",
        "ACCEPTED",
    ),
    (  # updated after its end (a mark, metadata): accepted as of its end
        dict(start=ENDED, updated=at(500)),
        [("BOOKING_CREATED", at(130)), ("MEETING_ENDED", at(130))],
        "",
        "ACCEPTED",
    ),
    (
        dict(start=ENDED, updated=at(500), absent=True),
        [("BOOKING_CREATED", at(130)), ("BOOKING_NO_SHOW_UPDATED", at(130))],
        "",
        "ACCEPTED",
    ),
    (dict(start=UPCOMING, updated=at(5), status="pending"), [("BOOKING_REQUESTED", at(5))], "", "PENDING"),
    (dict(start=UPCOMING, updated=at(5), status="rejected"), [("BOOKING_REJECTED", at(5))], "", "REJECTED"),
    (
        dict(start=UPCOMING, updated=at(5), status="cancelled"),
        [("BOOKING_CANCELLED", at(5))],
        "",
        "CANCELLED",
    ),
    (  # the old half of a reschedule: linked at its booking time, the new booking followed
        dict(start=UPCOMING, updated=at(9), status="cancelled", rescheduled_to="B2"),
        [("BOOKING_CREATED", at(0))],
        "B2",
        "CANCELLED",
    ),
    (  # a middle link A0→B1→B2
        dict(start=UPCOMING, updated=at(9), status="cancelled", rescheduled_from="A0", rescheduled_to="B2"),
        [("BOOKING_RESCHEDULED", at(0))],
        "B2",
        "CANCELLED",
    ),
]


def test_every_table_row_is_exercised():
    rows = {(row.status, row.condition) for row in BOOKING_TABLE}
    seen = set()
    from meetings.booking_sync import row_for

    for options, *_ in ROWS:
        row = row_for(booking=_booking(**options), now=NOW)
        seen.add((row.status, row.condition))
    assert seen == rows


@pytest.mark.parametrize(("options", "expected", "successor", "cal_status"), ROWS)
def test_row(options, expected, successor, cal_status):
    plan = plan_booking_sync(booking=_booking(**options), now=NOW)

    assert [(event.trigger, event.occurred_at) for event in plan.events] == expected
    assert plan.successor_uid == successor
    for event in plan.events:
        assert event.uid == "B1" and event.booking_id == 11
        assert event.reschedule_uid == (options.get("rescheduled_from") or "")
        assert event.cal_status == cal_status
        assert event.start_time == options["start"] and event.end_time == options["start"] + timedelta(
            minutes=30
        )
        assert event.organizer_email == "alex@rivera-consulting.com"
        assert event.attendee.email == "priya.shah@example.org"
        assert event.location == "integrations:daily"
        assert event.video_url == VIDEO_URL


def test_no_show_marks_every_attendee_and_cancellation_carries_the_reason():
    no_show = plan_booking_sync(booking=_booking(start=ENDED, absent=True), now=NOW).events[-1]
    assert no_show.no_show_marks == (("priya.shah@example.org", True), ("tom.becker@example.org", True))
    cancelled = plan_booking_sync(
        booking=_booking(start=UPCOMING, status="cancelled", cancellation_reason="busy"), now=NOW
    ).events[0]
    assert cancelled.cancellation_reason == "busy"
    old_half = plan_booking_sync(
        booking=_booking(
            start=UPCOMING, status="cancelled", rescheduled_to="B2", cancellation_reason="moved"
        ),
        now=NOW,
    ).events[0]
    assert old_half.cancellation_reason == ""


def test_an_unknown_status_changes_nothing():
    plan = plan_booking_sync(booking=_booking(start=UPCOMING, status="awaiting_host"), now=NOW)
    assert plan.events == () and "awaiting_host" in plan.unknown_reason
