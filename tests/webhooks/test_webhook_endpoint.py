"""The endpoint through real HTTP requests with raw signed bytes."""

import json

import pytest
from django.core import checks

from calcom.samples import PAYLOADS_DIR
from meetings.models import Meeting
from tests.support.bodies import compact, load_payload
from tests.support.delivery import TEST_SECRET, WEBHOOK_URL
from tests.support.signing import VECTOR_BODY, VECTOR_SECRET, VECTOR_SIGNATURE
from webhooks.models import ProcessingAttempt, SignatureResult, WebhookEvent

pytestmark = pytest.mark.django_db(transaction=True)


def test_valid_delivery_is_stored_exactly_and_processed(deliver):
    body = compact(load_payload("BOOKING_CREATED"))
    response = deliver(body, X_Cal_Webhook_Version="2021-10-20")
    assert response.status_code == 200
    data = response.json()
    event = WebhookEvent.objects.get(pk=data["event_id"])
    assert data == {"event_id": event.pk, "duplicate": False, "status": "processed"}
    assert bytes(event.raw_body) == body
    assert event.trigger_event == "BOOKING_CREATED"
    assert event.booking_uid == "mVBk3uCc8wqXYh4oJ1vVEp"
    assert event.signature_result == SignatureResult.VALID
    assert event.headers["X-Cal-Signature-256"] == "***"
    assert event.webhook_version == "2021-10-20"
    assert event.client_ip == "127.0.0.1"
    assert event.content_type == "application/json"
    assert event.event_created_at.isoformat() == "2025-06-02T09:15:42.318000+00:00"
    assert event.meeting.cal_event_id == "mVBk3uCc8wqXYh4oJ1vVEp"
    assert event.processing_attempts.get().outcome == "processed"


def test_protocol_vector_through_the_endpoint(deliver, settings):
    settings.CAL_COM_WEBHOOK_SECRET = VECTOR_SECRET
    response = deliver(VECTOR_BODY, signature=VECTOR_SIGNATURE)
    assert response.status_code == 200
    assert WebhookEvent.objects.get().status == "processed"  # PING: stored, nothing else
    assert not Meeting.objects.exists()


def test_second_secret_is_accepted_for_rotation(deliver, settings):
    settings.CAL_COM_WEBHOOK_SECRET_PROD = "whsec_rotated"
    assert deliver(load_payload("BOOKING_CREATED"), secret="whsec_rotated").status_code == 200


def test_non_ascii_names_are_verified_over_the_raw_bytes(deliver):
    body = load_payload("BOOKING_CREATED")
    body["payload"]["attendees"][0]["name"] = "Zoë Ñúñez 山田"
    raw = compact(body)
    assert b"\xc3\xab" in raw  # raw UTF-8, as JSON.stringify sends it
    response = deliver(raw)
    assert response.status_code == 200
    assert Meeting.objects.get().attendee_name == "Zoë Ñúñez 山田"


@pytest.mark.parametrize("path", [WEBHOOK_URL, WEBHOOK_URL + "/"])
def test_both_paths_answer_without_redirect(deliver, path):
    assert deliver(load_payload("PING"), path=path).status_code == 200


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_other_methods_are_405(client, method):
    assert getattr(client, method)(WEBHOOK_URL).status_code == 405


@pytest.mark.parametrize(
    "signature,cause",
    [
        (None, "missing"),
        ("0" * 64, "invalid"),
        ("no-secret-provided", "no_secret_provided"),
    ],
)
def test_bad_signatures_are_401_and_recorded_as_rejected(deliver, signature, cause):
    kwargs = {"secret": None} if signature is None else {"signature": signature}
    response = deliver(load_payload("BOOKING_CREATED"), **kwargs)
    assert response.status_code == 401
    assert "X-Cal-Signature-256" in response.json()["error"]
    event = WebhookEvent.objects.get()
    assert event.status == "rejected" and event.signature_result == cause
    assert event.status_reason
    assert not Meeting.objects.exists() and not ProcessingAttempt.objects.exists()


def test_signed_with_another_secret_is_rejected(deliver):
    assert deliver(load_payload("BOOKING_CREATED"), secret="whsec_wrong").status_code == 401


def test_body_over_the_limit_is_413_and_stored_without_body(deliver, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 1000
    body = load_payload("BOOKING_CREATED")
    body["payload"]["description"] = "x" * 2000
    response = deliver(body)
    assert response.status_code == 413
    event = WebhookEvent.objects.get()
    assert event.status == "rejected" and bytes(event.raw_body) == b""
    assert event.body_size > 1000 and "limit" in event.status_reason


@pytest.mark.parametrize(
    "raw,content_type,problem",
    [
        (b"{not json", "application/json", "not valid JSON"),
        (b"false", "application/json", "false"),
        (b'[{"triggerEvent":"BOOKING_CREATED"}]', "application/json", "list"),
        (b"title=Hello&name=O%27Brien", "application/x-www-form-urlencoded", "form-encoded"),
        (b'{"payload":{"uid":"x"}}', "application/json", "triggerEvent"),
    ],
)
def test_signed_but_unusable_bodies_are_400_and_ignored(deliver, raw, content_type, problem):
    response = deliver(raw, content_type=content_type)
    assert response.status_code == 400
    assert problem in response.json()["error"]
    event = WebhookEvent.objects.get()
    assert event.status == "ignored" and problem in event.status_reason
    assert bytes(event.raw_body) == raw


def test_identical_body_is_a_duplicate_with_no_effect(deliver):
    body = compact(load_payload("BOOKING_CREATED"))
    first = deliver(body).json()
    second = deliver(body).json()
    assert second["duplicate"] is True and second["duplicate_of"] == first["event_id"]
    duplicate = WebhookEvent.objects.get(pk=second["event_id"])
    assert duplicate.status == "duplicate" and duplicate.duplicate_of_id == first["event_id"]
    assert not duplicate.processing_attempts.exists()
    assert Meeting.objects.count() == 1
    assert Meeting.objects.get().status_changes.count() == 1


def test_unknown_trigger_is_200_and_ignored(deliver):
    response = deliver(
        {"triggerEvent": "BOOKING_TELEPORTED", "createdAt": "2025-06-01T00:00:00Z", "payload": {"uid": "abc"}}
    )
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert event.status == "ignored" and "unknown trigger" in event.status_reason
    assert not Meeting.objects.exists()


@pytest.mark.parametrize("name", sorted(p.stem for p in PAYLOADS_DIR.glob("*.json")))
def test_every_sample_payload_is_accepted(deliver, name):
    response = deliver(load_payload(name))
    assert response.status_code == 200, response.content
    event = WebhookEvent.objects.get(pk=response.json()["event_id"])
    assert event.status in ("processed", "ignored"), event.last_error
    assert not event.last_error


def test_processing_failure_is_stored_and_answered_200(deliver, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("meeting store exploded")

    monkeypatch.setattr("webhooks.processing.apply_calcom_event", broken)
    response = deliver(load_payload("BOOKING_CREATED"))
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert event.status in ("failed", "dead")
    assert "meeting store exploded" in event.last_error
    assert "Traceback" in event.last_traceback
    attempt = event.processing_attempts.get()
    assert attempt.outcome == "failed" and "meeting store exploded" in attempt.traceback
    assert not Meeting.objects.exists()


def test_no_secret_in_development_accepts_and_says_so(client, settings, caplog):
    settings.CAL_COM_WEBHOOK_SECRET = settings.CAL_COM_WEBHOOK_SECRET_PROD = ""
    response = client.post(
        WEBHOOK_URL, compact(load_payload("BOOKING_CREATED")), content_type="application/json"
    )
    assert response.status_code == 200
    assert WebhookEvent.objects.get().signature_result == "unverified"
    assert "NOT VERIFIED" in caplog.text


def test_production_without_secret_is_a_system_check_error(settings):
    settings.IS_PRODUCTION = True
    settings.CAL_COM_WEBHOOK_SECRET = settings.CAL_COM_WEBHOOK_SECRET_PROD = ""
    ids = {message.id for message in checks.run_checks() if message.is_serious()}
    assert "vani.E001" in ids
    settings.CAL_COM_WEBHOOK_SECRET = TEST_SECRET
    ids = {message.id for message in checks.run_checks() if message.is_serious()}
    assert "vani.E001" not in ids


def test_response_is_json_with_event_id(deliver):
    response = deliver(load_payload("PING"))
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content)["event_id"] == WebhookEvent.objects.get().pk


def test_an_original_with_duplicates_can_be_deleted_and_its_body_arrives_anew(deliver):
    body = compact(load_payload("BOOKING_CREATED"))
    original = deliver(body).json()["event_id"]
    deliver(body)
    WebhookEvent.objects.filter(pk=original).delete()  # e.g. retention pruning
    orphan = WebhookEvent.objects.get()
    assert orphan.status == "duplicate" and orphan.duplicate_of_id is None
    again = deliver(body).json()
    assert again["duplicate"] is False  # a new original: the orphaned duplicate does not count


def test_production_backend_answers_before_processing_with_a_drain_task_queued(deliver, settings):
    from django_tasks_db.models import DBTaskResult

    settings.TASKS_BACKEND = "django_tasks_db.DatabaseBackend"
    settings.TASKS = {"default": {"BACKEND": settings.TASKS_BACKEND}}
    # Long enough that the duplicate arrives in the first half of the delay, when deliveries
    # rely on the pending task (in its second half one renews: test_draining.py).
    settings.WEBHOOK_DRAIN_DELAY_SECONDS = 30
    response = deliver(load_payload("BOOKING_CREATED"))
    assert response.status_code == 200 and response.json()["status"] == "received"
    event = WebhookEvent.objects.get()
    task = DBTaskResult.objects.get()  # committed together with the event
    assert task.status == "READY" and task.task_path == "webhooks.draining.drain_webhook_events"
    assert task.run_after > event.received_at  # due a moment later, shared with what follows
    assert event.status == "received" and not Meeting.objects.exists()
    deliver(load_payload("BOOKING_CREATED"))  # a duplicate queues nothing
    assert DBTaskResult.objects.count() == 1
