"""The OpenAPI 3 schema: generated without warnings, naming every route we serve, and true to
what the endpoints really answer (openapi-core validates live requests and responses)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import yaml
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.staticfiles import finders
from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator
from openapi_core import OpenAPI
from openapi_core.contrib.django import DjangoOpenAPIRequest, DjangoOpenAPIResponse
from rest_framework.test import APIClient

from api import urls as urls_api
from meetings.models import Meeting, Target
from tests.support.bodies import at, booking_body
from tests.support.fake_calcom import EVENT_TYPE_ID
from tests.support.users import grant
from webhooks.models import WebhookEvent

pytestmark = pytest.mark.django_db

User = get_user_model()
DOC_ROUTES = {"api-schema", "api-docs"}


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


@pytest.fixture(scope="module")
def openapi(schema) -> OpenAPI:
    return OpenAPI.from_dict(schema)


def served_paths() -> dict[str, set[str]]:
    """Each API route as an OpenAPI path, with the HTTP methods its view implements."""
    paths = {}
    for pattern in urls_api.urlpatterns:
        if pattern.name in DOC_ROUTES:
            continue
        path = "/api/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(pattern.pattern))
        view = pattern.callback.view_class
        paths[path] = {
            method for method in ("get", "post", "put", "patch", "delete") if hasattr(view, method)
        }
    return paths


def test_schema_generates_and_validates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    generated = yaml.safe_load(out.read_text())
    assert generated["openapi"].startswith("3.")
    assert set(served_paths()) <= set(generated["paths"])


def test_every_served_route_and_method_is_in_the_schema(schema):
    served = served_paths()
    assert len(served) == 7
    for path, methods in served.items():
        assert path in schema["paths"], path
        assert methods == set(schema["paths"][path]) - {"parameters"}, path
    assert set(schema["paths"]) == set(served)  # and nothing in it that we do not serve


def test_large_lists_page_by_cursor_without_counts_and_small_ones_by_number(schema):
    def described(path: str) -> tuple[set[str], set[str]]:
        operation = schema["paths"][path]["get"]
        page = operation["responses"]["200"]["content"]["application/json"]["schema"]
        page = schema["components"]["schemas"][page["$ref"].rsplit("/", 1)[-1]]
        return {p["name"] for p in operation.get("parameters", [])}, set(page["properties"])

    for path in ("/api/meetings/", "/api/webhook-events/"):  # millions of rows
        parameters, answer = described(path)
        assert {"cursor", "page_size"} <= parameters and "page" not in parameters, path
        assert answer == {"next", "previous", "results"}, path
    parameters, answer = described("/api/targets/")  # a few thousand prospects
    assert {"page", "page_size"} <= parameters and "count" in answer


# --- Live answers against the schema ------------------------------------------------------------


@pytest.fixture
def check(openapi):
    """Validate a test-client answer (and, unless told otherwise, its request) against the
    schema; returns the answer."""

    def _check(response, *, request_is_valid: bool = True):
        request = DjangoOpenAPIRequest(response.wsgi_request)
        if request_is_valid:
            openapi.validate_request(request)
        openapi.validate_response(request, DjangoOpenAPIResponse(response))
        return response

    return _check


def token_client(user) -> APIClient:
    out = StringIO()
    call_command("create_api_token", user.get_username(), stdout=out)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {out.getvalue().strip()}")
    return client


@pytest.fixture
def admin_client() -> APIClient:
    return token_client(User.objects.create_superuser("boss", "boss@vani.example"))


@pytest.fixture
def stored(deliver, django_capture_on_commit_callbacks):
    """Real data: a target, a rescheduled meeting with a paid event, a duplicate, a rejected
    delivery and a body that is not JSON."""
    Target.objects.create(name="Jane", email="jane@prospect.example", company="Acme")
    with django_capture_on_commit_callbacks(execute=True):
        deliver(
            booking_body(
                "BOOKING_CREATED",
                uid="S1",
                created=at(0),
                start=at(100),
                attendee_email="jane@prospect.example",
            )
        )
        deliver(
            booking_body("BOOKING_RESCHEDULED", uid="S2", created=at(1), start=at(200), reschedule_uid="S1")
        )
        deliver(booking_body("BOOKING_PAID", uid="S2", created=at(2)))
        deliver(booking_body("BOOKING_PAID", uid="S2", created=at(2)))
        deliver({"triggerEvent": "BOOKING_CREATED"}, signature="f" * 64)
        deliver(b"<html>not json</html>")
    return {
        "meeting": Meeting.objects.get(),
        "events": list(WebhookEvent.objects.order_by("id")),
    }


def test_meeting_and_target_answers_match_the_schema(check, admin_client, stored):
    meeting = stored["meeting"]
    listed = check(admin_client.get("/api/meetings/", {"page_size": 1}))
    assert listed.json()["results"][0]["target"]["email"] == "jane@prospect.example"
    assert set(listed.json()) == {"next", "previous", "results"}  # cursor pages, no count
    check(
        admin_client.get(
            "/api/meetings/",
            {
                "status": "scheduled",
                "cal_event_id": "S1",
                "target": meeting.target_id,
                "start_after": at(0).isoformat(),
                "start_before": at(999).isoformat(),
                "page_size": 1,
            },
        )
    )
    check(admin_client.get("/api/meetings/", {"status": "nope"}), request_is_valid=False)
    detail = check(admin_client.get(f"/api/meetings/{meeting.pk}/"))
    assert detail.json()["events"] and detail.json()["status_changes"]
    check(admin_client.get("/api/meetings/999999/"))

    check(admin_client.get("/api/targets/"))
    created = check(admin_client.post("/api/targets/", {"email": "new@prospect.example"}, format="json"))
    assert created.status_code == 201
    check(admin_client.post("/api/targets/", {"email": "NEW@prospect.example"}, format="json"))


def test_schedule_answers_match_the_schema(check, admin_client, calcom_server, calcom_settings, stored):
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    body = {
        "start": start.isoformat(),
        "event_type_id": EVENT_TYPE_ID,
        "attendee": {"name": "Ann", "email": "ann@prospect.example", "time_zone": "Asia/Tokyo"},
        "target_id": stored["meeting"].target_id,
    }
    assert check(admin_client.post("/api/meetings/schedule", body, format="json")).status_code == 201
    refused = check(admin_client.post("/api/meetings/schedule", body, format="json"))
    assert refused.status_code == 502  # the slot is taken now
    elsewhere = calcom_server.add_booking(
        start=start + timedelta(hours=3), attendee_email="walk-in@example.org"
    )
    linked = check(
        admin_client.post("/api/meetings/schedule", {"booking_uid": elsewhere["uid"]}, format="json")
    )
    assert linked.status_code == 201 and linked.json()["target"] is None
    known = check(admin_client.post("/api/meetings/schedule", {"booking_uid": "S1"}, format="json"))
    assert known.status_code == 200
    invalid = check(
        admin_client.post("/api/meetings/schedule", {"start": "soon"}, format="json"), request_is_valid=False
    )
    assert invalid.status_code == 400


def test_webhook_event_answers_match_the_schema(check, admin_client, stored):
    events = stored["events"]
    first_page = check(admin_client.get("/api/webhook-events/", {"page_size": 2}))
    check(admin_client.get(first_page.json()["next"]))
    check(
        admin_client.get(
            "/api/webhook-events/",
            {
                "status": "processed",
                "trigger": "BOOKING_PAID",
                "booking_uid": "S1",
                "received_after": at(0).isoformat(),
                "received_before": (datetime.now(UTC) + timedelta(minutes=1)).isoformat(),
            },
        )
    )
    check(admin_client.get("/api/webhook-events/", {"received_after": "x"}), request_is_valid=False)
    for event in events:
        check(admin_client.get(f"/api/webhook-events/{event.pk}/"))
    check(admin_client.get("/api/webhook-events/999999/"))

    by_status = {event.status: event for event in events}
    reprocessed = check(
        admin_client.post(
            f"/api/webhook-events/{by_status['processed'].pk}/reprocess", {"force": True}, format="json"
        )
    )
    assert reprocessed.json()["ran"] is True
    conflict = check(
        admin_client.post(f"/api/webhook-events/{by_status['rejected'].pk}/reprocess", {}, format="json")
    )
    assert conflict.status_code == 409
    check(admin_client.post("/api/webhook-events/999999/reprocess", {}, format="json"))


def test_refusals_match_the_schema(check, settings, stored):
    anonymous = check(APIClient().get("/api/meetings/"), request_is_valid=False)
    assert anonymous.status_code == 401

    # Staff who may read targets, but not reprocess.
    staff = token_client(grant(User.objects.create_user("staff", is_staff=True), "view_target"))
    event = stored["events"][0]
    forbidden = check(staff.post(f"/api/webhook-events/{event.pk}/reprocess", {}, format="json"))
    assert forbidden.status_code == 403
    staff_with_permission = User.objects.create_user("staff2", is_staff=True)
    staff_with_permission.user_permissions.add(Permission.objects.get(codename="reprocess_webhookevent"))
    allowed = token_client(staff_with_permission)
    assert (
        check(allowed.post(f"/api/webhook-events/{event.pk}/reprocess", {}, format="json")).status_code == 200
    )

    settings.API_THROTTLE_RATE = "1/min"
    check(staff.get("/api/targets/"))
    throttled = check(staff.get("/api/targets/"))
    assert throttled.status_code == 429


# --- Interactive docs ---------------------------------------------------------------------------


SWAGGER_UI_ASSETS = [
    "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js",
    "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-standalone-preset.js",
    "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css",
    "drf_spectacular_sidecar/swagger-ui-dist/favicon-32x32.png",
]


def test_swagger_ui_is_served_for_staff_with_local_assets(client):
    assert client.get("/api/docs/").status_code in (401, 403)
    client.force_login(User.objects.create_user("staff", is_staff=True))
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    for asset in SWAGGER_UI_ASSETS:
        assert f"/static/{asset}" in html
        assert finders.find(asset), asset  # shipped by drf-spectacular-sidecar
    assert not re.search(r"""(src|href)=["']https?://""", html)  # nothing from a CDN
    assert "/api/schema/" in html
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200 and schema.json()["info"]["title"] == "VANI API"
