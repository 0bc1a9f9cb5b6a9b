"""The Cal.com API client (calcom/api/client.py) and its webhook resource (calcom/api/webhooks.py)
against the local stub server."""

from __future__ import annotations

import logging
import re

import pytest

from calcom.api.client import (
    MAX_RETRY_AFTER_SECONDS,
    CalComAuthError,
    CalComBadResponseError,
    CalComClient,
    CalComConfigurationError,
    CalComConflictError,
    CalComError,
    CalComNotFoundError,
    CalComRateLimitedError,
    CalComUnavailableError,
    CalComValidationError,
    redact,
)
from calcom.api.webhooks import create_webhook, delete_webhook, list_webhooks, update_webhook
from tests.support.fake_calcom import FakeCalCom, StubResponse

URL = "https://hooks.example.com/api/webhooks/cal-com"


def make_client(server: FakeCalCom, **overrides) -> tuple[CalComClient, list[float]]:
    """A client for the stub that records its backoff sleeps instead of sleeping."""
    sleeps: list[float] = []
    options = {
        "api_url": server.url,
        "api_key": server.api_key,
        "timeout_seconds": 5.0,
        "max_retries": 3,
        "backoff_seconds": 0.01,
        "sleep": sleeps.append,
        **overrides,
    }
    return CalComClient(**options), sleeps


# --- credentials ----------------------------------------------------------------------------------


def test_v2_sends_the_key_as_a_bearer_token_and_v1_as_the_apikey_parameter(calcom_server):
    client, _ = make_client(calcom_server)
    list_webhooks(client=client, api_version="v2")
    list_webhooks(client=client, api_version="v1")
    v2, v1 = calcom_server.requests
    assert v2.headers["authorization"] == f"Bearer {calcom_server.api_key}"
    assert "apiKey" not in v2.query
    assert v1.query["apiKey"] == calcom_server.api_key
    assert "authorization" not in v1.headers


def test_from_settings_reads_url_key_and_retry_settings(calcom_settings, calcom_server):
    calcom_settings.CAL_COM_API_MAX_RETRIES = 1
    client = CalComClient.from_settings()
    assert client.api_url == calcom_server.url
    assert client.max_retries == 1
    assert list_webhooks(client=client) == []


def test_a_missing_key_is_a_configuration_error(settings):
    settings.CAL_COM_API_KEY = ""
    with pytest.raises(CalComConfigurationError, match="CAL_COM_API_KEY is not set"):
        CalComClient.from_settings()


def test_the_key_is_not_in_the_client_repr(calcom_server):
    client, _ = make_client(calcom_server)
    assert calcom_server.api_key not in repr(client)


def test_a_bad_key_is_an_auth_error_that_does_not_echo_the_key(calcom_server):
    client, sleeps = make_client(calcom_server, api_key="cal_live_wrong_key_123")
    for version in ("v2", "v1"):
        with pytest.raises(CalComAuthError) as caught:
            list_webhooks(client=client, api_version=version)
        assert caught.value.status == 401
        assert "cal_live_wrong_key_123" not in str(caught.value)
        assert "CAL_COM_API_KEY" in str(caught.value)
    assert "Invalid API Key" in str(CalComAuthError("Invalid API Key", status=401))
    assert sleeps == []  # 401 is final: no retry


# --- webhooks, both API versions ------------------------------------------------------------------


def test_create_update_get_and_delete_on_v2(calcom_server):
    client, _ = make_client(calcom_server)
    created = create_webhook(
        client=client,
        subscriber_url=URL,
        triggers=("BOOKING_CREATED", "MEETING_ENDED"),
        active=True,
        secret="s3cret",
    )
    assert created.api_version == "v2"
    assert created.triggers == ("BOOKING_CREATED", "MEETING_ENDED")
    assert created.active is True and created.secret == "s3cret"
    assert calcom_server.requests[-1].body == {
        "subscriberUrl": URL,
        "triggers": ["BOOKING_CREATED", "MEETING_ENDED"],
        "active": True,
        "payloadTemplate": None,
        "secret": "s3cret",
    }

    updated = update_webhook(
        client=client, webhook_id=created.id, changes={"active": False, "triggers": ("BOOKING_PAID",)}
    )
    assert calcom_server.requests[-1].method == "PATCH"
    assert calcom_server.requests[-1].path == f"/v2/webhooks/{created.id}"
    assert calcom_server.requests[-1].body == {"active": False, "triggers": ["BOOKING_PAID"]}
    assert updated.active is False and updated.triggers == ("BOOKING_PAID",)

    delete_webhook(client=client, webhook_id=created.id)
    assert calcom_server.webhooks == {}


def test_v1_uses_event_triggers_and_reports_no_active_or_secret(calcom_server):
    client, _ = make_client(calcom_server)
    created = create_webhook(
        client=client,
        subscriber_url=URL,
        triggers=["BOOKING_CREATED"],
        active=True,
        secret="s3cret",
        api_version="v1",
    )
    assert calcom_server.requests[-1].body == {
        "subscriberUrl": URL,
        "eventTriggers": ["BOOKING_CREATED"],
        "active": True,
        "secret": "s3cret",
    }
    assert created.api_version == "v1"
    assert created.active is None and created.secret is None
    assert not created.reports_active_and_secret

    update_webhook(
        client=client, webhook_id=created.id, changes={"triggers": ["MEETING_ENDED"]}, api_version="v1"
    )
    assert calcom_server.requests[-1].body == {"eventTriggers": ["MEETING_ENDED"]}
    [listed] = list_webhooks(client=client, api_version="v1")
    assert listed.triggers == ("MEETING_ENDED",)
    delete_webhook(client=client, webhook_id=created.id, api_version="v1")
    assert calcom_server.webhooks == {}


def test_the_webhook_repr_does_not_show_the_secret(calcom_server):
    client, _ = make_client(calcom_server)
    created = create_webhook(
        client=client, subscriber_url=URL, triggers=["BOOKING_CREATED"], active=True, secret="s3cret"
    )
    assert "s3cret" not in repr(created)


def test_update_rejects_fields_it_does_not_know(calcom_server):
    client, _ = make_client(calcom_server)
    with pytest.raises(ValueError, match="unknown webhook fields"):
        update_webhook(client=client, webhook_id="x", changes={"eventTriggers": []})
    assert calcom_server.requests == []


# --- errors say what went wrong -------------------------------------------------------------------


def test_a_duplicate_url_is_a_conflict_with_calcoms_message(calcom_server):
    client, _ = make_client(calcom_server)
    calcom_server.add_webhook(subscriber_url=URL)
    with pytest.raises(CalComConflictError) as caught:
        create_webhook(
            client=client, subscriber_url=URL, triggers=["BOOKING_CREATED"], active=True, secret=None
        )
    assert caught.value.status == 409
    assert caught.value.code == "ConflictException"
    assert "already exists for this user" in str(caught.value)


def test_an_unknown_trigger_is_a_validation_error_listing_the_problem(calcom_server):
    client, _ = make_client(calcom_server)
    with pytest.raises(CalComValidationError) as caught:
        create_webhook(
            client=client, subscriber_url=URL, triggers=["BOOKING_CONFIRMED"], active=True, secret=None
        )
    assert caught.value.status == 400
    assert "each value in triggers must be one of" in caught.value.message


def test_an_unknown_webhook_is_not_found(calcom_server):
    client, _ = make_client(calcom_server)
    with pytest.raises(CalComNotFoundError) as caught:
        delete_webhook(client=client, webhook_id="no-such-id")
    assert caught.value.status == 404
    assert "DELETE /v2/webhooks/no-such-id" in str(caught.value)


def test_v1_error_messages_come_from_the_message_field(calcom_server):
    client, _ = make_client(calcom_server)
    with pytest.raises(CalComValidationError, match="Unrecognized key"):
        client.request(
            "POST", "/v1/webhooks", json={"subscriberUrl": URL, "eventTriggers": [], "triggers": []}
        )


def test_a_non_json_success_is_a_bad_response(calcom_server):
    calcom_server.add_route(
        "GET", r"/v2/html", lambda server, request, match: StubResponse(200, text="<html>")
    )
    client, _ = make_client(calcom_server)
    with pytest.raises(CalComBadResponseError, match="not JSON"):
        client.request("GET", "/v2/html")


def test_redirects_are_not_followed(calcom_server):
    calcom_server.add_route(
        "GET",
        r"/v1/moved",
        lambda server, request, match: StubResponse(
            302, headers={"Location": "https://elsewhere/?apiKey=cal_x"}
        ),
        auth="none",
    )
    client, _ = make_client(calcom_server)
    with pytest.raises(CalComError) as caught:
        client.request("GET", "/v1/moved")
    assert caught.value.status == 302
    assert "cal_x" not in str(caught.value)
    assert len(calcom_server.requests) == 1


# --- retries --------------------------------------------------------------------------------------


def test_5xx_answers_are_retried_with_growing_backoff(calcom_server):
    client, sleeps = make_client(calcom_server, backoff_seconds=1.0)
    calcom_server.add_webhook(subscriber_url=URL)
    calcom_server.fail_next(2, status=502)
    [webhook] = list_webhooks(client=client)
    assert webhook.subscriber_url == URL
    assert [request.status for request in calcom_server.requests] == [502, 502, 200]
    # Exponential with jitter: attempt n waits between 0.5 and 1 times base * 2**n.
    assert 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0


def test_retry_after_is_honoured_and_capped(calcom_server):
    client, sleeps = make_client(calcom_server)
    calcom_server.fail_next(1, status=429, retry_after="7")
    calcom_server.fail_next(1, status=503, retry_after="100000")
    assert list_webhooks(client=client) == []
    assert sleeps == [7.0, MAX_RETRY_AFTER_SECONDS]


def test_retries_stop_after_max_retries(calcom_server):
    client, sleeps = make_client(calcom_server, max_retries=2)
    calcom_server.fail_next(5, status=500)
    with pytest.raises(CalComUnavailableError) as caught:
        list_webhooks(client=client)
    assert caught.value.status == 500
    assert len(calcom_server.requests) == 3 and len(sleeps) == 2


def test_rate_limiting_that_does_not_stop_is_a_rate_limit_error(calcom_server):
    client, _ = make_client(calcom_server, max_retries=1)
    calcom_server.fail_next(2, status=429, retry_after="0")
    with pytest.raises(CalComRateLimitedError):
        list_webhooks(client=client)


def test_a_post_is_not_repeated_after_an_ambiguous_5xx(calcom_server):
    client, _ = make_client(calcom_server)
    calcom_server.fail_next(1, status=500)
    with pytest.raises(CalComUnavailableError):
        create_webhook(
            client=client, subscriber_url=URL, triggers=["BOOKING_CREATED"], active=True, secret=None
        )
    assert len(calcom_server.requests) == 1


def test_a_post_is_repeated_after_503_which_means_not_processed(calcom_server):
    client, _ = make_client(calcom_server)
    calcom_server.fail_next(1, status=503, retry_after="0")
    create_webhook(client=client, subscriber_url=URL, triggers=["BOOKING_CREATED"], active=True, secret=None)
    assert [request.status for request in calcom_server.requests] == [503, 201]


def test_connection_refused_is_retried_then_reported_without_the_key(calcom_unreachable_url):
    sleeps: list[float] = []
    client = CalComClient(
        api_url=calcom_unreachable_url,
        api_key="cal_live_do_not_print",
        backoff_seconds=0.01,
        sleep=sleeps.append,
    )
    with pytest.raises(CalComUnavailableError) as caught:
        list_webhooks(client=client, api_version="v1")  # v1 puts the key in the URL
    message = str(caught.value)
    assert caught.value.status is None
    assert "could not reach Cal.com" in message and "refused" in message
    assert "cal_live_do_not_print" not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert len(sleeps) == 3


def test_a_slow_answer_times_out(calcom_server):
    calcom_server.response_delay_seconds = 0.5
    client, _ = make_client(calcom_server, timeout_seconds=0.1, max_retries=0)
    with pytest.raises(CalComUnavailableError, match=r"timed out after 0\.1s"):
        list_webhooks(client=client)


# --- paging ---------------------------------------------------------------------------------------


def test_paging_reads_every_page_of_at_most_250(calcom_server):
    for number in range(600):
        calcom_server.add_webhook(subscriber_url=f"https://other.example.com/{number}")
    client, _ = make_client(calcom_server)
    webhooks = list_webhooks(client=client)
    assert [hook.subscriber_url for hook in webhooks] == [
        f"https://other.example.com/{number}" for number in range(600)
    ]
    assert [(r.query["take"], r.query["skip"]) for r in calcom_server.requests] == [
        ("250", "0"),
        ("250", "250"),
        ("250", "500"),
    ]


def test_paging_stops_on_an_empty_page_after_a_full_one(calcom_server):
    for number in range(250):
        calcom_server.add_webhook(subscriber_url=f"https://other.example.com/{number}")
    client, _ = make_client(calcom_server)
    assert len(list_webhooks(client=client)) == 250
    assert [r.query["skip"] for r in calcom_server.requests] == ["0", "250"]


def test_page_size_is_capped_at_250(calcom_server):
    client, _ = make_client(calcom_server)
    list(client.paginate("/v2/webhooks", page_size=1000))
    assert calcom_server.requests[0].query["take"] == "250"


# --- the generic request, for other endpoints -----------------------------------------------------


def test_request_passes_json_params_and_headers_through(calcom_server):
    def create_booking(server, request, match):
        return StubResponse(
            201,
            {
                "status": "success",
                "data": {"echo": request.body, "version": request.headers.get("cal-api-version")},
            },
        )

    calcom_server.add_route("POST", r"/v2/bookings", create_booking)
    client, _ = make_client(calcom_server)
    body = client.request(
        "post",
        "v2/bookings",
        json={"start": "2026-06-01T09:00:00Z"},
        params={"x": "1"},
        headers={"cal-api-version": "2024-08-13"},
    )
    assert body["data"] == {"echo": {"start": "2026-06-01T09:00:00Z"}, "version": "2024-08-13"}
    assert calcom_server.requests[-1].query == {"x": "1"}


# --- secrets stay out of logs ---------------------------------------------------------------------


def test_redact_masks_api_keys_in_urls_and_headers():
    assert redact("GET /v1/webhooks?apiKey=cal_live_abc&x=1") == "GET /v1/webhooks?apiKey=***&x=1"
    assert redact("Authorization: Bearer cal_live_abc") == "Authorization: Bearer ***"
    assert redact("key cal_live_abc here", secrets=("cal_live_abc",)) == "key *** here"


def test_urllib3_request_lines_are_logged_without_the_v1_key(calcom_server, caplog):
    client, _ = make_client(calcom_server)
    with caplog.at_level(logging.DEBUG):
        list_webhooks(client=client, api_version="v1")
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "/v1/webhooks" in logged
    assert calcom_server.api_key not in logged
    assert re.search(r"apiKey=\*\*\*", logged)
