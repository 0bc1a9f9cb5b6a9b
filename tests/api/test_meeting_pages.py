"""Cursor pages of /api/meetings/: a keyset on (start time, id) that holds NULL start times, so
no COUNT and no OFFSET at any number of meetings (issue #17: the exact count grew 2x from 1M to
5M events)."""

from __future__ import annotations

from base64 import b64encode
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from meetings.models import Meeting, MeetingStatus
from tests.support.bodies import at

pytestmark = pytest.mark.django_db

# start minute (None: no start time yet) of each meeting, in creation (id) order
STARTS = [10, None, 30, 30, None, 20, 30, 40, None, 10]


@pytest.fixture
def many(db) -> list[Meeting]:
    return [
        Meeting.objects.create(
            cal_event_id=f"M{index}",
            start_time=at(minute) if minute is not None else None,
            status=MeetingStatus.CANCELLED if index % 3 == 0 else MeetingStatus.SCHEDULED,
        )
        for index, minute in enumerate(STARTS)
    ]


def expected_order(meetings: list[Meeting]) -> list[int]:
    """No start time first (newest id first), then newest start first, ties newest id first."""
    unknown = sorted((m.pk for m in meetings if m.start_time is None), reverse=True)
    known = sorted(
        (m for m in meetings if m.start_time is not None), key=lambda m: (m.start_time, m.pk), reverse=True
    )
    return unknown + [m.pk for m in known]


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def walk(client, url: str, params: dict) -> list[list[int]]:
    pages, response = [], client.get(url, params)
    while True:
        pages.append(ids(response))
        following = response.json()["next"]
        if following is None:
            return pages
        response = client.get(following)


@pytest.mark.parametrize("page_size", [1, 2, 3, 4, 10, 11])
def test_pages_hold_every_meeting_once_in_order_with_nulls_and_ties(staff_client, many, page_size):
    pages = walk(staff_client, "/api/meetings/", {"page_size": page_size})
    assert [pk for page in pages for pk in page] == expected_order(many)
    assert all(len(page) == page_size for page in pages[:-1])


def test_previous_links_walk_back_over_the_same_pages(staff_client, many):
    forward = []
    response = staff_client.get("/api/meetings/", {"page_size": 3})
    assert response.json()["previous"] is None
    while True:
        forward.append(ids(response))
        if response.json()["next"] is None:
            break
        response = staff_client.get(response.json()["next"])
    backward = []
    while response.json()["previous"] is not None:
        response = staff_client.get(response.json()["previous"])
        backward.append(ids(response))
    assert list(reversed(backward)) == forward[:-1]


def test_a_filtered_list_pages_the_same_way(staff_client, many):
    cancelled = [m for m in many if m.status == MeetingStatus.CANCELLED]
    pages = walk(staff_client, "/api/meetings/", {"page_size": 1, "status": "cancelled"})
    assert [pk for page in pages for pk in page] == expected_order(cancelled)


def test_new_meetings_do_not_shift_the_next_page(staff_client, many):
    first = staff_client.get("/api/meetings/", {"page_size": 4})
    Meeting.objects.create(cal_event_id="NEW-NULL")  # sorts first
    Meeting.objects.create(cal_event_id="NEW-LATE", start_time=at(999))
    second = staff_client.get(first.json()["next"])
    assert ids(second) == expected_order(many)[4:8]


def test_a_page_is_one_bounded_query_without_count_or_offset(staff_client, many):
    first = staff_client.get("/api/meetings/", {"page_size": 2})
    with CaptureQueriesContext(connection) as queries:
        staff_client.get(first.json()["next"])
    sql = [q["sql"].upper() for q in queries if '"MEETINGS"' in q["sql"].upper()]
    assert sql and not any("COUNT(" in s or "OFFSET" in s for s in sql)


def cursor(**tokens: str) -> str:
    return b64encode(urlencode(tokens).encode()).decode()


@pytest.mark.parametrize(
    "value",
    [
        "junk²",
        cursor(p="2025"),  # no id
        cursor(p="2025-06-02T09:00:00+00:00|x"),
        cursor(p="nonsense|12"),
        cursor(p="2025-06-02T09:00:00|12"),  # naive
        cursor(p="0001-01-01T00:00:00+23:59|12"),  # before year 1 in UTC
        cursor(p="2025-06-02T09:00:00+00:00|0"),
        cursor(p="2025-06-02T09:00:00+00:00|99999999999999999999"),
        cursor(p="|-5", r="1"),
    ],
)
def test_a_bad_cursor_answers_404(staff_client, many, value):
    response = staff_client.get("/api/meetings/", {"cursor": value})
    assert response.status_code == 404
    assert response.json()["detail"] == "Invalid cursor"


def test_a_backward_cursor_without_a_position_is_the_first_page(staff_client, many):
    response = staff_client.get("/api/meetings/", {"cursor": cursor(r="1"), "page_size": 2})
    assert ids(response) == expected_order(many)[:2]


@pytest.mark.postgres
def test_pages_on_postgres_match_the_order(staff_client, many):
    test_pages_hold_every_meeting_once_in_order_with_nulls_and_ties(staff_client, many, 3)
    test_previous_links_walk_back_over_the_same_pages(staff_client, many)
