"""POST /api/meetings/schedule: booking through Cal.com (the local stand-in), linking bookings
made elsewhere, and racing the booking's own webhooks (one meeting, whatever the order)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import requests
from django.contrib.auth import get_user_model
from django.db import connections, transaction
from rest_framework.test import APIClient

from calcom.api.bookings import BOOKINGS_API_VERSION, CalComBooking, fetch_booking
from calcom.api.client import CalComClient, InvalidPathSegment
from calcom.api.webhooks import delete_webhook, update_webhook
from calcom.dates import parse_datetime
from calcom.parsing import parse_event
from calcom.signatures import sign_body
from meetings.models import Meeting, MeetingStatusChange, Target
from meetings.services.apply import apply_calcom_event
from meetings.services.bookings import store_calcom_booking
from tests.support.bodies import booking_body, compact
from tests.support.db import race
from tests.support.delivery import WEBHOOK_URL
from tests.support.fake_calcom import EVENT_TYPE_ID
from tests.support.users import STAFF_API_PERMISSIONS, grant
from webhooks.models import WebhookEvent

SCHEDULE_URL = "/api/meetings/schedule"


@pytest.fixture
def target(db) -> Target:
    return Target.objects.create(name="Jane Prospect", email="Jane@Prospect.example", company="Acme")


def future(hours: int = 48) -> datetime:
    moment = datetime.now(UTC) + timedelta(hours=hours)
    return moment.replace(minute=0, second=0, microsecond=0)


def schedule_body(*, start: datetime | str | None = None, target: Target | None = None, **overrides) -> dict:
    body = {
        "start": start if isinstance(start, str) else (start or future()).isoformat(),
        "event_type_id": EVENT_TYPE_ID,
        "attendee": {
            "name": "Jane Prospect",
            "email": "jane@prospect.example",
            "time_zone": "Europe/London",
        },
    }
    if target is not None:
        body["target_id"] = target.pk
    body.update(overrides)
    return body


def created_webhook_body(*, booking: dict, created: datetime) -> dict:
    """The BOOKING_CREATED delivery Cal.com sends for a booking the stub made."""
    return booking_body(
        "BOOKING_CREATED",
        uid=booking["uid"],
        booking_id=booking["id"],
        created=created,
        start=parse_datetime(booking["start"]),
        attendee_email=booking["attendees"][0]["email"],
        attendee_name=booking["attendees"][0]["name"],
    )


# --- Booking -----------------------------------------------------------------------------------


def test_schedule_books_through_calcom_and_stores_the_meeting_under_the_booking_uid(
    staff_client, calcom_server, calcom_settings, target
):
    start = future(72)
    body = schedule_body(start=start, target=target)
    response = staff_client.post(SCHEDULE_URL, body, format="json")

    assert response.status_code == 201, response.content
    [call] = calcom_server.booking_requests
    assert (call.method, call.path) == ("POST", "/v2/bookings")
    assert call.headers["cal-api-version"] == BOOKINGS_API_VERSION == "2024-08-13"
    assert call.headers["authorization"] == f"Bearer {calcom_server.api_key}"
    assert call.body == {
        "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventTypeId": EVENT_TYPE_ID,
        "attendee": {"name": "Jane Prospect", "email": "jane@prospect.example", "timeZone": "Europe/London"},
    }
    [booking] = calcom_server.bookings.values()
    meeting = Meeting.objects.get()
    assert meeting.cal_event_id == booking["uid"] == response.json()["cal_event_id"]
    assert meeting.cal_booking_id == booking["id"]
    assert meeting.target == target and response.json()["target"]["id"] == target.pk
    assert (meeting.status, meeting.cal_status) == ("scheduled", "ACCEPTED")
    assert meeting.start_time == start and meeting.end_time == start + timedelta(minutes=30)
    assert meeting.attendee_email == "jane@prospect.example"
    assert meeting.organizer_email == "alex.rivera@example.com"
    assert meeting.video_url == f"https://app.cal.com/video/{booking['uid']}"
    assert list(meeting.uids.values_list("uid", flat=True)) == [booking["uid"]]
    assert meeting.last_event_at is None  # no webhook applied yet: any webhook may apply
    change = MeetingStatusChange.objects.get(meeting=meeting)
    assert (change.from_status, change.to_status, change.event) == ("", "scheduled", None)


def test_schedule_without_target_links_the_target_with_the_attendee_email(
    staff_client, calcom_server, calcom_settings, target
):
    response = staff_client.post(SCHEDULE_URL, schedule_body(), format="json")
    assert response.status_code == 201
    # target's e-mail differs only in letter case
    assert Meeting.objects.get().target == target


@pytest.mark.parametrize(
    ("prepare", "calcom_status", "message"),
    [
        ("taken", 400, "User either already has booking at this time or is not available"),
        ("unknown_event_type", 404, "Event type with id=999 was not found."),
        ("server_error", 500, "Service temporarily unavailable"),
    ],
)
def test_calcom_refusal_or_failure_answers_502_with_calcoms_message_and_stores_nothing(
    staff_client, calcom_server, calcom_settings, target, prepare, calcom_status, message
):
    start = future(24)
    body = schedule_body(start=start, target=target)
    if prepare == "taken":
        calcom_server.add_booking(start=start)
    elif prepare == "unknown_event_type":
        body["event_type_id"] = 999
    else:
        calcom_server.fail_next(1, status=500)  # a POST is not repeated after a 500

    response = staff_client.post(SCHEDULE_URL, body, format="json")

    assert response.status_code == 502
    assert response.json() == {"detail": message, "calcom_status": calcom_status}
    assert not Meeting.objects.exists() and not MeetingStatusChange.objects.exists()
    assert len(calcom_server.booking_requests) == 1


def test_unreachable_calcom_answers_502_without_a_status(
    staff_client, calcom_settings, calcom_unreachable_url
):
    calcom_settings.CAL_COM_API_URL = calcom_unreachable_url
    response = staff_client.post(SCHEDULE_URL, schedule_body(), format="json")
    assert response.status_code == 502
    assert response.json()["calcom_status"] is None
    assert "could not reach Cal.com" in response.json()["detail"]
    assert not Meeting.objects.exists()


def test_missing_api_key_answers_502_naming_the_setting(staff_client, calcom_settings):
    calcom_settings.CAL_COM_API_KEY = ""
    response = staff_client.post(SCHEDULE_URL, schedule_body(), format="json")
    assert response.status_code == 502
    assert response.json() == {"detail": "CAL_COM_API_KEY is not set", "calcom_status": None}
    assert not Meeting.objects.exists()


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"start", "event_type_id", "attendee"}),
        (schedule_body(event_type_id="thirty"), {"event_type_id"}),
        (schedule_body(start="next tuesday"), {"start"}),
        (schedule_body(start=(datetime.now(UTC) - timedelta(hours=1)).isoformat()), {"start"}),
        (schedule_body(target_id=987654), {"target_id"}),
        (schedule_body(booking_uid="abc"), {"start", "event_type_id", "attendee"}),
        ({"booking_uid": ""}, {"booking_uid"}),
    ],
)
def test_invalid_input_answers_400_naming_the_fields_and_calls_nobody(
    staff_client, calcom_server, calcom_settings, body, fields
):
    response = staff_client.post(SCHEDULE_URL, body, format="json")
    assert response.status_code == 400
    assert set(response.json()) == fields
    assert calcom_server.booking_requests == []
    assert not Meeting.objects.exists()


def test_invalid_attendee_answers_400_naming_the_nested_fields(staff_client, calcom_server, calcom_settings):
    body = schedule_body(attendee={"name": "", "email": "not-an-address", "time_zone": "Mars/Olympus"})
    response = staff_client.post(SCHEDULE_URL, body, format="json")
    assert response.status_code == 400
    assert set(response.json()["attendee"]) == {"name", "email", "time_zone"}
    assert calcom_server.booking_requests == []


# --- Linking a booking made elsewhere ------------------------------------------------------------


def test_link_fetches_an_unknown_booking_by_uid_and_stores_it(
    staff_client, calcom_server, calcom_settings, target
):
    booking = calcom_server.add_booking(start=future(30), attendee_email="other@person.example")

    response = staff_client.post(
        SCHEDULE_URL, {"booking_uid": booking["uid"], "target_id": target.pk}, format="json"
    )

    assert response.status_code == 201, response.content
    [call] = calcom_server.booking_requests
    assert (call.method, call.path) == ("GET", f"/v2/bookings/{booking['uid']}")
    assert call.headers["cal-api-version"] == "2024-08-13"
    meeting = Meeting.objects.get()
    assert meeting.cal_event_id == booking["uid"] and meeting.target == target
    assert meeting.attendee_email == "other@person.example"


def test_link_of_a_known_booking_does_not_ask_calcom(
    staff_client, calcom_server, calcom_settings, deliver_now, target
):
    # Known through its webhooks only: created as A, rescheduled to B.
    deliver_now(booking_body("BOOKING_CREATED", uid="LINK-A", created=future(-5), start=future(30)))
    deliver_now(
        booking_body(
            "BOOKING_RESCHEDULED", uid="LINK-B", created=future(-4), start=future(40), reschedule_uid="LINK-A"
        )
    )
    meeting = Meeting.objects.get()

    for uid in ("LINK-A", "LINK-B"):
        response = staff_client.post(
            SCHEDULE_URL, {"booking_uid": uid, "target_id": target.pk}, format="json"
        )
        assert response.status_code == 200
        assert response.json()["id"] == meeting.pk and response.json()["cal_event_id"] == "LINK-B"
    assert calcom_server.booking_requests == []
    meeting.refresh_from_db()
    assert meeting.target == target and meeting.status == "scheduled"


def test_link_of_a_booking_calcom_does_not_know_answers_502(staff_client, calcom_server, calcom_settings):
    response = staff_client.post(SCHEDULE_URL, {"booking_uid": "nope"}, format="json")
    assert response.status_code == 502
    assert response.json() == {
        "detail": "Booking with uid=nope was not found in the database",
        "calcom_status": 404,
    }
    assert not Meeting.objects.exists()


@pytest.mark.parametrize("uid", [".", "..", "odd uid/with?chars", "a/../b", "%2e%2e", "x\x00y"])
def test_fetch_booking_refuses_a_uid_that_is_not_one_path_segment(calcom_server, calcom_settings, uid):
    calcom_server.add_booking(start=future())
    with pytest.raises(InvalidPathSegment):
        fetch_booking(uid=uid)
    assert calcom_server.requests == []


def test_fetch_booking_accepts_calcom_uid_shapes(calcom_server, calcom_settings):
    for uid in ("bFJeNb2uX8ANpT3JL5EsXm", "7f0c2b0e-3c1d-4a55-9e0b-2f6f3b1c9a10", "a.b_c~d"):
        booking = calcom_server.add_booking(start=future(), uid=uid)
        assert fetch_booking(uid=booking["uid"]).uid == uid
    assert [call.path for call in calcom_server.booking_requests] == [
        "/v2/bookings/bFJeNb2uX8ANpT3JL5EsXm",
        "/v2/bookings/7f0c2b0e-3c1d-4a55-9e0b-2f6f3b1c9a10",
        "/v2/bookings/a.b_c~d",
    ]


@pytest.mark.parametrize("uid", [".", "..", "../bookings", "a/b", "a?b=c"])
def test_link_of_a_dot_or_path_like_uid_answers_400_and_asks_calcom_nothing(
    staff_client, calcom_server, calcom_settings, uid
):
    calcom_server.add_booking(start=future())

    response = staff_client.post(SCHEDULE_URL, {"booking_uid": uid}, format="json")

    assert response.status_code == 400, response.content
    assert set(response.json()) == {"booking_uid"}
    # Above all, never the account's booking list (`/v2/bookings` after URL normalisation).
    assert calcom_server.requests == []
    assert not Meeting.objects.exists()


def test_webhook_ids_are_checked_before_they_go_into_a_path(calcom_settings, calcom_server):
    client = CalComClient.from_settings()
    for webhook_id in (".", "..", "1/../2"):
        with pytest.raises(InvalidPathSegment):
            delete_webhook(client=client, webhook_id=webhook_id)
        with pytest.raises(InvalidPathSegment):
            update_webhook(client=client, webhook_id=webhook_id, changes={"active": False})
    assert calcom_server.requests == []


# --- The booking's own webhooks ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_webhook_delivered_before_the_schedule_answer_updates_the_same_meeting(
    calcom_server, calcom_settings, live_server, webhook_secret
):
    """Cal.com may deliver BOOKING_CREATED before it answers the booking request."""
    target = Target.objects.create(email="jane@prospect.example")
    user = grant(get_user_model().objects.create_user("staff", is_staff=True), *STAFF_API_PERMISSIONS)
    client = APIClient()
    client.force_authenticate(user=user)
    webhook_created = datetime.now(UTC).replace(microsecond=0)
    answers: list[int] = []

    def deliver_webhook_first(booking: dict) -> None:
        raw = compact(created_webhook_body(booking=booking, created=webhook_created))
        answer = requests.post(
            live_server.url + WEBHOOK_URL,
            data=raw,
            headers={
                "Content-Type": "application/json",
                "X-Cal-Signature-256": sign_body(body=raw, secret=webhook_secret),
            },
            timeout=30,
        )
        answers.append(answer.status_code)

    calcom_server.before_answer = deliver_webhook_first
    response = client.post(SCHEDULE_URL, schedule_body(target=target), format="json")

    assert answers == [200]
    assert response.status_code == 201, response.content
    meeting = Meeting.objects.get()
    assert response.json()["id"] == meeting.pk
    assert meeting.target == target
    event = WebhookEvent.objects.get()
    assert event.status == "processed" and event.meeting_id == meeting.pk
    # The webhook's state stands: the API answer did not reset its clock or status.
    assert meeting.last_event_at == webhook_created
    assert (meeting.status, meeting.cal_status) == ("scheduled", "ACCEPTED")
    assert MeetingStatusChange.objects.filter(meeting=meeting).count() == 1


def test_webhook_delivered_after_the_schedule_answer_updates_the_same_meeting(
    staff_client, calcom_server, calcom_settings, deliver_now, target
):
    response = staff_client.post(SCHEDULE_URL, schedule_body(target=target), format="json")
    assert response.status_code == 201
    [booking] = calcom_server.bookings.values()
    created = datetime.now(UTC).replace(microsecond=0)

    answer = deliver_now(created_webhook_body(booking=booking, created=created))

    assert answer.status_code == 200
    assert WebhookEvent.objects.get().status == "processed"
    meeting = Meeting.objects.get()
    assert meeting.pk == response.json()["id"] and meeting.target == target
    assert meeting.last_event_at == created
    assert WebhookEvent.objects.get().meeting_id == meeting.pk
    # scheduled → scheduled: the webhook adds no status change of its own
    assert MeetingStatusChange.objects.filter(meeting=meeting).count() == 1

    cancelled = booking_body(
        "BOOKING_CANCELLED",
        uid=booking["uid"],
        booking_id=booking["id"],
        created=created + timedelta(minutes=5),
    )
    assert deliver_now(cancelled).status_code == 200
    assert Meeting.objects.get().status == "cancelled"


def test_a_schedule_answer_never_moves_a_meeting_backwards(db, target):
    """The API's view of a booking is older news than the webhooks already applied."""
    body = booking_body("BOOKING_CREATED", uid="BACK", created=future(-3), start=future(30))
    with transaction.atomic():
        apply_calcom_event(event=parse_event(body))
    cancel = booking_body("BOOKING_CANCELLED", uid="BACK", created=future(-2))
    with transaction.atomic():
        apply_calcom_event(event=parse_event(cancel))
    before = Meeting.objects.get()
    answer = CalComBooking(
        uid="BACK",
        booking_id=before.cal_booking_id,
        status="accepted",
        title="Changed title",
        start=future(99),
        end=future(100),
        attendees=(),
        hosts=(),
        location="",
        meeting_url="",
        cancellation_reason="",
    )

    stored = store_calcom_booking(booking=answer, target=target, reason="test")

    assert not stored.created
    meeting = Meeting.objects.get()
    assert meeting.target == target
    assert (meeting.status, meeting.cal_status) == ("cancelled", "CANCELLED")
    assert meeting.last_event_at == before.last_event_at
    # details the meeting already has are kept, too
    assert (meeting.start_time, meeting.title) == (before.start_time, before.title)


# --- Concurrent races (PostgreSQL row locks and unique indexes) ----------------------------------


def _booking_answer(uid: str) -> CalComBooking:
    return CalComBooking(
        uid=uid,
        booking_id=4242,
        status="accepted",
        title="From the API",
        start=future(30),
        end=future(31),
        attendees=(),
        hosts=(),
        location="",
        meeting_url="",
        cancellation_reason="",
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_webhook_committing_first_while_the_api_inserts_gives_one_meeting():
    """The API's insert waits on the webhook's uncommitted meeting, then adopts it."""
    target = Target.objects.create(email="race@prospect.example")
    webhook = parse_event(booking_body("BOOKING_CREATED", uid="RACE1", created=future(-1), start=future(30)))
    inserted, release = threading.Event(), threading.Event()
    results, errors = [], []

    def webhook_transaction() -> None:
        try:
            with transaction.atomic():
                apply_calcom_event(event=webhook)
                inserted.set()
                release.wait(10)
        except Exception as exc:  # surfaced by the assertions below
            errors.append(exc)
        finally:
            connections.close_all()

    def api_store() -> None:
        try:
            results.append(
                store_calcom_booking(booking=_booking_answer("RACE1"), target=target, reason="api")
            )
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    race(holder=webhook_transaction, holder_ready=inserted, waiter=api_store, release=release)

    assert errors == []
    [stored] = results
    assert not stored.created
    meeting = Meeting.objects.get()
    assert meeting.target == target
    assert meeting.last_event_at == webhook.occurred_at and meeting.cal_status == "ACCEPTED"
    assert MeetingStatusChange.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_api_committing_first_while_the_webhook_inserts_gives_one_meeting(webhook_secret):
    """The webhook's insert waits on the API's uncommitted meeting, then applies to it."""
    target = Target.objects.create(email="race2@prospect.example")
    stored_event, release = threading.Event(), threading.Event()
    errors = []

    def api_transaction() -> None:
        try:
            with transaction.atomic():
                store_calcom_booking(booking=_booking_answer("RACE2"), target=target, reason="api")
                stored_event.set()
                release.wait(10)
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    answers = []

    def deliver_webhook() -> None:
        from django.test import Client

        try:
            raw = compact(booking_body("BOOKING_CREATED", uid="RACE2", created=future(-1), start=future(30)))
            answers.append(
                Client()
                .generic(
                    "POST",
                    WEBHOOK_URL,
                    raw,
                    content_type="application/json",
                    HTTP_X_CAL_SIGNATURE_256=sign_body(body=raw, secret=webhook_secret),
                )
                .json()
            )
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    race(holder=api_transaction, holder_ready=stored_event, waiter=deliver_webhook, release=release)

    assert errors == []
    assert [answer["status"] for answer in answers] == ["processed"]
    meeting = Meeting.objects.get()
    assert meeting.target == target
    assert meeting.cal_status == "ACCEPTED" and meeting.last_event_at is not None
    assert WebhookEvent.objects.get().meeting_id == meeting.pk
