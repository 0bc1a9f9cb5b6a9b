"""The REST API under /api/: authentication, permissions, throttling, lists, filters, details,
reprocessing and targets."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from meetings.models import Meeting, Target
from tests.support.bodies import at, booking_body
from tests.support.users import grant
from webhooks.ingest import record_delivery
from webhooks.models import ProcessingAttempt, SignatureResult, WebhookEvent

pytestmark = pytest.mark.django_db

User = get_user_model()


def token_for(user) -> str:
    out = StringIO()
    call_command("create_api_token", user.get_username(), stdout=out)
    return out.getvalue().strip()


def ids(response) -> list[int]:
    return [row["id"] for row in response.json()["results"]]


# --- Authentication, permissions, throttling ------------------------------------------------------


def test_token_from_the_command_authenticates_a_staff_user(staff_user):
    token = token_for(staff_user)
    assert token == token_for(staff_user)  # the same token until rotated
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/meetings/").status_code == 200

    out = StringIO()
    call_command("create_api_token", "staff", "--rotate", stdout=out)
    rotated = out.getvalue().strip()
    assert rotated and rotated != token
    assert client.get("/api/meetings/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Token {rotated}")
    assert client.get("/api/meetings/").status_code == 200


def test_create_api_token_refuses_non_staff_inactive_and_unknown_users():
    User.objects.create_user("sales")
    User.objects.create_user("gone", is_staff=True, is_active=False)
    with pytest.raises(CommandError, match="not an active staff user"):
        call_command("create_api_token", "sales")
    with pytest.raises(CommandError, match="not an active staff user"):
        call_command("create_api_token", "gone")
    with pytest.raises(CommandError, match="no user 'nobody'"):
        call_command("create_api_token", "nobody")


@pytest.mark.parametrize(
    "url",
    [
        "/api/meetings/",
        "/api/meetings/1/",
        "/api/targets/",
        "/api/webhook-events/",
        "/api/webhook-events/1/",
        "/api/schema/",
    ],
)
def test_anonymous_gets_401_and_non_staff_gets_403(url):
    from rest_framework.authtoken.models import Token

    anonymous = APIClient().get(url)
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"] == "Token"

    # A token made for a user who is (no longer) staff gets no further than anonymous.
    sales = User.objects.create_user("sales")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=sales).key}")
    assert client.get(url).status_code == 403

    session = APIClient()
    session.force_login(sales)
    assert session.get(url).status_code == 403


def test_admin_session_works_and_needs_csrf_for_writes(staff_user):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(staff_user)
    assert client.get("/api/targets/").status_code == 200
    refused = client.post("/api/targets/", {"email": "a@b.example"}, format="json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]


def test_requests_are_throttled_per_user_at_api_throttle_rate(settings, staff_client):
    assert settings.REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] == ["api.throttling.ApiUserRateThrottle"]
    assert settings.API_THROTTLE_RATE == "600/min"  # the default
    settings.API_THROTTLE_RATE = "3/min"

    codes = [staff_client.get("/api/meetings/").status_code for _ in range(4)]

    assert codes == [200, 200, 200, 429]
    other = APIClient()
    other.force_authenticate(user=grant(User.objects.create_user("other", is_staff=True), "view_meeting"))
    assert other.get("/api/meetings/").status_code == 200  # counted per user


# --- Model permissions, as in the admin ----------------------------------------------------------


@pytest.fixture
def every_endpoint(events):
    """(method, url, body, permissions it needs) for every data endpoint of the API."""
    meeting = Meeting.objects.get(cal_event_id="EB")
    event = events[0]
    return [
        ("get", "/api/meetings/", None, {"view_meeting"}),
        ("get", f"/api/meetings/{meeting.pk}/", None, {"view_meeting"}),
        ("post", "/api/meetings/schedule", {"booking_uid": "EA"}, {"add_meeting", "change_meeting"}),
        ("get", "/api/targets/", None, {"view_target"}),
        ("post", "/api/targets/", {"email": "new@prospect.example"}, {"add_target"}),
        ("get", "/api/webhook-events/", None, {"view_webhookevent"}),
        ("get", f"/api/webhook-events/{event.pk}/", None, {"view_webhookevent"}),
        ("post", f"/api/webhook-events/{event.pk}/reprocess", {"force": True}, {"reprocess_webhookevent"}),
    ]


def call(client, method: str, url: str, body):
    return getattr(client, method)(url, body, format="json") if body else client.get(url)


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=user)
    return client


def test_staff_without_permissions_gets_403_everywhere_and_changes_nothing(every_endpoint):
    client = client_for(User.objects.create_user("bare", is_staff=True))

    for method, url, body, _needs in every_endpoint:
        assert call(client, method, url, body).status_code == 403, (method, url)

    assert not Target.objects.exists()
    assert Meeting.objects.get(cal_event_id="EB").target is None
    assert ProcessingAttempt.objects.filter(started_via="api").count() == 0


def test_view_permissions_allow_reads_only(every_endpoint):
    viewer = grant(
        User.objects.create_user("viewer", is_staff=True), "view_meeting", "view_target", "view_webhookevent"
    )
    client = client_for(viewer)

    for method, url, body, _needs in every_endpoint:
        expected = 200 if method == "get" else 403
        assert call(client, method, url, body).status_code == expected, (method, url)
    assert not Target.objects.exists()


def test_each_endpoint_needs_exactly_its_own_permissions(every_endpoint):
    for index, (method, url, body, needs) in enumerate(every_endpoint):
        others = {perm for *_rest, perms in every_endpoint for perm in perms} - needs
        without = client_for(grant(User.objects.create_user(f"o{index}", is_staff=True), *others))
        assert call(without, method, url, body).status_code == 403, (method, url)
        with_them = client_for(grant(User.objects.create_user(f"w{index}", is_staff=True), *needs))
        assert call(with_them, method, url, body).status_code in (200, 201), (method, url)


def test_superuser_can_do_everything(every_endpoint):
    client = client_for(User.objects.create_superuser("boss", "boss@vani.example"))

    for method, url, body, _needs in every_endpoint:
        assert call(client, method, url, body).status_code in (200, 201), (method, url)
    assert Target.objects.filter(email="new@prospect.example").exists()


# --- Meetings -------------------------------------------------------------------------------------


@pytest.fixture
def meetings(deliver_now):
    """Three meetings through real deliveries: one rescheduled (R1→R2), one cancelled, one with
    a target."""
    target = Target.objects.create(name="Jane", email="jane@prospect.example")
    deliver_now(booking_body("BOOKING_CREATED", uid="R1", created=at(0), start=at(100)))
    deliver_now(
        booking_body("BOOKING_RESCHEDULED", uid="R2", created=at(1), start=at(300), reschedule_uid="R1")
    )
    deliver_now(booking_body("BOOKING_CREATED", uid="C1", created=at(2), start=at(200)))
    deliver_now(booking_body("BOOKING_CANCELLED", uid="C1", created=at(3)))
    deliver_now(
        booking_body(
            "BOOKING_CREATED", uid="T1", created=at(4), start=at(400), attendee_email="jane@prospect.example"
        )
    )
    by_uid = {m.cal_event_id: m for m in Meeting.objects.all()}
    assert set(by_uid) == {"R2", "C1", "T1"} and by_uid["T1"].target == target
    return by_uid


def test_meeting_list_is_newest_start_first_and_paged_by_cursor_with_a_cap(staff_client, meetings):
    with CaptureQueriesContext(connection) as queries:
        response = staff_client.get("/api/meetings/")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"next", "previous", "results"}  # no count
    assert not any("COUNT(" in q["sql"].upper() for q in queries)
    assert ids(response) == [meetings["T1"].pk, meetings["R2"].pk, meetings["C1"].pk]
    assert body["results"][0]["target"]["email"] == "jane@prospect.example"

    first = staff_client.get("/api/meetings/", {"page_size": 2})
    assert len(first.json()["results"]) == 2 and first.json()["next"]
    second = staff_client.get(first.json()["next"])
    assert ids(second) == [meetings["C1"].pk] and second.json()["next"] is None
    back = staff_client.get(second.json()["previous"])
    assert ids(back) == [meetings["T1"].pk, meetings["R2"].pk] and back.json()["previous"] is None

    from api.pagination import MeetingCursorPagination

    assert MeetingCursorPagination.max_page_size == 200
    huge = staff_client.get("/api/meetings/", {"page_size": 100_000})
    assert huge.status_code == 200 and len(huge.json()["results"]) == 3


def test_meeting_filters(staff_client, meetings):
    def filtered(**params):
        response = staff_client.get("/api/meetings/", params)
        assert response.status_code == 200, response.content
        return set(ids(response))

    assert filtered(status="cancelled") == {meetings["C1"].pk}
    assert filtered(status="scheduled") == {meetings["R2"].pk, meetings["T1"].pk}
    # any uid of the reschedule chain finds the meeting
    assert filtered(cal_event_id="R1") == {meetings["R2"].pk}
    assert filtered(cal_event_id="R2") == {meetings["R2"].pk}
    assert filtered(cal_event_id="unknown") == set()
    assert filtered(target=meetings["T1"].target_id) == {meetings["T1"].pk}
    assert filtered(start_after=at(200).isoformat()) == {
        meetings["C1"].pk,
        meetings["R2"].pk,
        meetings["T1"].pk,
    }
    assert filtered(start_after=at(201).isoformat(), start_before=at(400).isoformat()) == {meetings["R2"].pk}
    assert filtered(start_before="2025-06-02T12:21:00Z") == {meetings["C1"].pk}


def test_invalid_meeting_filters_answer_400_naming_them(staff_client, meetings):
    response = staff_client.get(
        "/api/meetings/", {"status": "maybe", "start_after": "soon", "target": 999_999}
    )
    assert response.status_code == 400
    assert set(response.json()) == {"status", "start_after", "target"}


def test_meeting_detail_has_uids_timeline_and_status_changes_without_bodies(staff_client, meetings):
    meeting = meetings["R2"]
    response = staff_client.get(f"/api/meetings/{meeting.pk}/")
    assert response.status_code == 200
    body = response.json()
    assert body["cal_event_id"] == "R2" and sorted(body["uids"]) == ["R1", "R2"]
    triggers = [e["trigger_event"] for e in body["events"]]
    assert triggers == ["BOOKING_CREATED", "BOOKING_RESCHEDULED"]
    assert [e["booking_uid"] for e in body["events"]] == ["R1", "R2"]
    assert all(e["status"] == "processed" for e in body["events"])
    assert not any({"raw_body", "body", "headers"} & set(e) for e in body["events"])
    changes = [(c["from_status"], c["to_status"]) for c in body["status_changes"]]
    assert changes == [("", "scheduled")]
    assert body["status_changes"][0]["event"] == body["events"][0]["id"]

    cancelled = staff_client.get(f"/api/meetings/{meetings['C1'].pk}/").json()
    assert [(c["from_status"], c["to_status"]) for c in cancelled["status_changes"]] == [
        ("", "scheduled"),
        ("scheduled", "cancelled"),
    ]

    assert staff_client.get("/api/meetings/999999/").status_code == 404


# --- Webhook events -------------------------------------------------------------------------------


@pytest.fixture
def events(deliver_now):
    """A processed chain (A→B), a duplicate, a rejected delivery and an unknown trigger."""
    deliver_now(booking_body("BOOKING_CREATED", uid="EA", created=at(0), start=at(100)))
    deliver_now(
        booking_body("BOOKING_RESCHEDULED", uid="EB", created=at(1), start=at(200), reschedule_uid="EA")
    )
    deliver_now(booking_body("BOOKING_CREATED", uid="EA", created=at(0), start=at(100)))  # again
    deliver_now({"triggerEvent": "BOOKING_CREATED", "payload": {}}, signature="0" * 64)  # forged
    deliver_now({"triggerEvent": "SOMETHING_NEW", "createdAt": "2025-06-02T09:00:00Z", "payload": {}})
    rows = list(WebhookEvent.objects.order_by("id"))
    assert [row.status for row in rows] == ["processed", "processed", "duplicate", "rejected", "ignored"]
    return rows


def test_webhook_event_list_pages_by_cursor_newest_first_without_bodies_or_counts(staff_client, events):
    with CaptureQueriesContext(connection) as queries:
        first = staff_client.get("/api/webhook-events/", {"page_size": 2})
    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"next", "previous", "results"}  # no count
    assert ids(first) == [events[4].pk, events[3].pk]
    assert not any({"raw_body", "headers", "body"} & set(row) for row in body["results"])
    event_queries = [q["sql"] for q in queries if "webhook_events" in q["sql"]]
    assert len(event_queries) == 1 and "raw_body" not in event_queries[0]
    assert not any("COUNT(" in q["sql"].upper() for q in queries)

    second = staff_client.get(body["next"])
    third = staff_client.get(second.json()["next"])
    assert ids(second) == [events[2].pk, events[1].pk]
    assert ids(third) == [events[0].pk] and third.json()["next"] is None


def test_webhook_event_filters(staff_client, events):
    def filtered(**params):
        response = staff_client.get("/api/webhook-events/", params)
        assert response.status_code == 200, response.content
        return set(ids(response))

    assert filtered(status="rejected") == {events[3].pk}
    assert filtered(status="duplicate") == {events[2].pk}
    assert filtered(trigger="BOOKING_RESCHEDULED") == {events[1].pk}
    assert filtered(trigger="SOMETHING_NEW") == {events[4].pk}
    # a uid of the chain finds the whole chain's events (the duplicate names EA too)
    assert filtered(booking_uid="EA") == {events[0].pk, events[1].pk, events[2].pk}
    assert filtered(booking_uid="never") == set()
    received = [event.received_at for event in events]
    assert filtered(received_after=received[3].isoformat()) == {events[3].pk, events[4].pk}
    assert filtered(received_before=received[1].isoformat()) == {events[0].pk}
    assert filtered(status="processed", booking_uid="EB") == {events[0].pk, events[1].pk}

    bad = staff_client.get("/api/webhook-events/", {"status": "odd", "received_after": "x"})
    assert bad.status_code == 400 and set(bad.json()) == {"status", "received_after"}


def test_webhook_event_detail_has_decoded_body_masked_headers_and_attempts(staff_client, events):
    response = staff_client.get(f"/api/webhook-events/{events[0].pk}/")
    assert response.status_code == 200
    body = response.json()
    assert body["body"]["triggerEvent"] == "BOOKING_CREATED"
    assert body["body"]["payload"]["uid"] == "EA"
    assert body["body_text"] is None
    assert body["headers"]["X-Cal-Signature-256"] == "***"
    assert [(a["number"], a["outcome"], a["started_via"]) for a in body["processing_attempts"]] == [
        (1, "processed", "delivery")
    ]
    assert [c["to_status"] for c in body["status_changes"]] == ["scheduled"]
    assert body["meeting"] == Meeting.objects.get(cal_event_id="EB").pk

    rejected = staff_client.get(f"/api/webhook-events/{events[3].pk}/").json()
    assert rejected["status"] == "rejected" and rejected["signature_result"] == "invalid"
    assert staff_client.get("/api/webhook-events/999999/").status_code == 404


def test_webhook_event_detail_shows_a_non_json_body_as_text(staff_client, deliver_now):
    deliver_now(b"\xffnot json", content_type="application/json")
    event = WebhookEvent.objects.get()
    body = staff_client.get(f"/api/webhook-events/{event.pk}/").json()
    assert body["body"] is None and body["body_text"] == "\ufffdnot json"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"triggerEvent":"BOOKING_CREATED","payload":{"price":NaN,"big":1e400,"low":-Infinity}}',
        b"[1e400]",
        b"[" * 10_000 + b"]" * 10_000,
        b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
        b"[" * 200 + b"]" * 200,
    ],
    ids=["nan-and-1e400", "1e400", "10k-arrays", "10k-objects", "200-deep"],
)
def test_webhook_event_detail_of_a_stored_junk_body_is_strict_json_with_the_raw_text(staff_client, raw):
    event = record_delivery(
        raw_body=raw,
        headers={"Content-Type": "application/json"},
        client_ip="3.121.45.10",
        content_type="application/json",
        signature_result=SignatureResult.VALID,
    ).event

    response = staff_client.get(f"/api/webhook-events/{event.pk}/")

    assert response.status_code == 200
    # Strict JSON: a reader that refuses NaN/Infinity reads it.
    body = json.loads(response.content, parse_constant=_refuse_constant)
    assert body["body"] is None and body["body_text"] == raw.decode()


def _refuse_constant(name):
    raise AssertionError(f"non-strict JSON constant {name} in the answer")


# --- Crafted parameters and bodies ----------------------------------------------------------------

EARLY = "0001-01-01T00:00:00+23:59"  # before year 1 in UTC
LATE = "9999-12-31T23:59:59-23:59"  # after year 9999 in UTC
API_LISTS = ["/api/meetings/", "/api/targets/", "/api/webhook-events/"]
# Filters of each list, and crafted values for them: each answers 400 or an empty page.
LIST_FILTERS = {
    "/api/meetings/": {"cal_event_id", "status", "target", "start_after", "start_before"},
    "/api/webhook-events/": {"status", "trigger", "booking_uid", "received_after", "received_before"},
    "/api/targets/": set(),
}
CRAFTED_FILTERS = [
    {"received_after": EARLY},
    {"received_before": LATE},
    {"received_after": LATE},
    {"received_before": EARLY},
    {"start_after": EARLY},
    {"start_before": LATE},
    {"start_after": LATE},
    {"start_before": EARLY},
    {"cal_event_id": "\x00"},
    {"cal_event_id": "²"},
    {"booking_uid": "\x00"},
    {"booking_uid": "²"},
    {"trigger": "\x00"},
    {"trigger": "²"},
    {"status": "\x00"},
    {"status": "²"},
    {"target": "²"},
    {"target": "\x00"},
    {"target": "99999999999999999999"},
    {"\x00": "1"},
]
# Paging junk and odd but real moments: any answer but a 500.
CRAFTED_OTHER = [
    {"page": "²"},
    {"page": "\x00"},
    {"page": "99999999999999999999"},
    {"page_size": "²"},
    {"page_size": "\x00"},
    {"cursor": "²"},
    {"cursor": "\x00"},
    {"cursor": "cD0yMDI1"},  # p=2025: a position that is no datetime
    {"cursor": "cD0wMDAxLTAxLTAxVDAwJTNBMDAlM0EwMCUyQjIzJTNBNTk="},  # p=EARLY
    {"cursor": "cD05OTk5LTEyLTMxVDIzJTNBNTklM0E1OS0yMyUzQTU5JnI9MQ=="},  # p=LATE, reversed
    {"received_after": "2025-06-02T09:00:00+20:00"},
    {"start_before": "2025-06-02T09:00:00-20:00"},
]


@pytest.mark.parametrize("params", CRAFTED_FILTERS + CRAFTED_OTHER, ids=repr)
def test_crafted_parameters_answer_400_or_nothing_on_every_list(staff_client, events, params):
    for url in API_LISTS:
        response = staff_client.get(url, params)
        assert response.status_code in (200, 400, 404), (url, response.status_code)
        assert response["Content-Type"] == "application/json", url
        applies = set(params) & LIST_FILTERS[url] or "\x00" in params
        if response.status_code == 200 and params in CRAFTED_FILTERS and applies:
            assert response.json()["results"] == [], (url, params)


@pytest.mark.postgres
@pytest.mark.parametrize("params", CRAFTED_FILTERS + CRAFTED_OTHER, ids=repr)
def test_crafted_parameters_answer_400_or_nothing_on_postgres(staff_client, events, params):
    test_crafted_parameters_answer_400_or_nothing_on_every_list(staff_client, events, params)


DEEP_JSON = b"[" * 100_000 + b"]" * 100_000


def test_deeply_nested_json_bodies_answer_400(staff_user, events):
    client = client_for(User.objects.create_superuser("boss", "boss@vani.example"))
    for url in ("/api/targets/", "/api/meetings/schedule", f"/api/webhook-events/{events[0].pk}/reprocess"):
        response = client.generic("POST", url, DEEP_JSON, content_type="application/json")
        assert response.status_code == 400, url
        assert "JSON" in response.json()["detail"], url
    assert not Target.objects.exists()


# --- Reprocessing ---------------------------------------------------------------------------------


def test_reprocess_needs_the_reprocess_permission(staff_user, staff_client, events):
    url = f"/api/webhook-events/{events[0].pk}/reprocess"
    refused = staff_client.post(url, {"force": True}, format="json")
    assert refused.status_code == 403
    assert "webhooks.reprocess_webhookevent" in refused.json()["detail"]
    assert events[0].processing_attempts.count() == 1

    staff_user.user_permissions.add(Permission.objects.get(codename="reprocess_webhookevent"))
    client = APIClient()
    client.force_authenticate(user=User.objects.get(pk=staff_user.pk))  # fresh permission cache
    assert client.post(url, {"force": True}, format="json").status_code == 200


def test_reprocess_runs_like_the_admin_and_records_the_api_user(events):
    admin = User.objects.create_superuser("boss", "boss@vani.example")
    client = APIClient()
    client.force_authenticate(user=admin)
    url = f"/api/webhook-events/{events[0].pk}/reprocess"

    not_forced = client.post(url, {}, format="json")
    assert not_forced.status_code == 200
    assert not_forced.json()["ran"] is False and not_forced.json()["event"]["status"] == "processed"

    forced = client.post(url, {"force": True}, format="json")
    assert forced.status_code == 200
    assert forced.json()["ran"] is True and forced.json()["event"]["attempts"] == 2
    attempt = events[0].processing_attempts.order_by("-number").first()
    assert (attempt.started_via, attempt.started_by) == ("api", admin)

    ignored = client.post(f"/api/webhook-events/{events[4].pk}/reprocess", {}, format="json")
    assert ignored.json()["ran"] is True and ignored.json()["event"]["status"] == "ignored"


@pytest.mark.parametrize(("index", "word"), [(2, "duplicates"), (3, "rejected deliveries")])
def test_reprocess_of_rejected_or_duplicate_answers_409_with_the_reason(events, index, word):
    client = APIClient()
    client.force_authenticate(user=User.objects.create_superuser("boss", "boss@vani.example"))
    response = client.post(
        f"/api/webhook-events/{events[index].pk}/reprocess", {"force": True}, format="json"
    )
    assert response.status_code == 409
    assert f"{word} are never processed" in response.json()["detail"]
    assert not events[index].processing_attempts.exists()


def test_reprocess_of_a_missing_event_or_with_bad_input_is_refused(events):
    client = APIClient()
    client.force_authenticate(user=User.objects.create_superuser("boss", "boss@vani.example"))
    assert client.post("/api/webhook-events/999999/reprocess", {}, format="json").status_code == 404
    bad = client.post(f"/api/webhook-events/{events[0].pk}/reprocess", {"force": "often"}, format="json")
    assert bad.status_code == 400 and set(bad.json()) == {"force"}


# --- Targets --------------------------------------------------------------------------------------


def test_targets_are_created_and_listed(staff_user, staff_client):
    created = staff_client.post(
        "/api/targets/",
        {"name": "Jane", "email": "Jane@Prospect.example", "company": "Acme", "owner": staff_user.pk},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["owner"] == staff_user.pk
    no_owner = staff_client.post("/api/targets/", {"email": "solo@prospect.example"}, format="json")
    assert no_owner.status_code == 201 and no_owner.json()["owner"] is None

    listed = staff_client.get("/api/targets/")
    assert listed.status_code == 200 and listed.json()["count"] == 2
    assert {row["email"] for row in listed.json()["results"]} == {
        "Jane@Prospect.example",
        "solo@prospect.example",
    }


def test_target_email_clash_in_any_letter_case_answers_400(staff_client):
    Target.objects.create(email="jane@prospect.example")
    response = staff_client.post("/api/targets/", {"email": "JANE@prospect.EXAMPLE"}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"email"} and "exists already" in response.json()["email"][0]
    assert Target.objects.count() == 1


def test_invalid_target_input_answers_400_naming_the_fields(staff_client):
    response = staff_client.post(
        "/api/targets/", {"email": "not-an-address", "owner": 999_999}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()) == {"email", "owner"}
    assert staff_client.post("/api/targets/", {}, format="json").json() == {
        "email": ["This field is required."]
    }


def test_the_webhook_endpoint_under_api_stays_open_to_signed_deliveries(deliver_now):
    body = booking_body("BOOKING_CREATED", uid="OPEN", created=at(0), start=at(100))
    # no API credentials: the webhook route is matched before the API's
    assert deliver_now(body).status_code == 200
    assert deliver_now(body, path="/api/webhooks/cal-com/").status_code == 200
    assert WebhookEvent.objects.count() == 2
