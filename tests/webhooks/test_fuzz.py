"""Property-based fuzzing of the parser and the endpoint (hypothesis).

Whatever arrives, the endpoint never answers 5xx and nothing raises: bad data ends up stored
as an `ignored` event with the reason, or refused with its cause. With no fault injected,
no input may leave an event `failed` either: that would be a crash in our own code.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from calcom.parsing import CalComEvent, UnusableBody, decode_body, parse_event
from calcom.signatures import sign_body
from calcom.triggers import DELIVERABLE_TRIGGERS
from tests.support.delivery import TEST_SECRET, WEBHOOK_URL
from webhooks.models import WebhookEvent, WebhookEventStatus

FUZZ = hypothesis_settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Text with the characters that break things: NUL, surrogate-free astral, RTL, whitespace.
nasty_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40) | st.sampled_from(
    ["", " ", "\x00", "null", "2025-06-12T14:00:00Z", "-1", "9" * 30, "é" * 300]
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | nasty_text
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(nasty_text, children, max_size=4),
    max_leaves=12,
)
BOOKING_KEYS = [
    "uid",
    "bookingUid",
    "bookingId",
    "id",
    "rescheduleUid",
    "fromReschedule",
    "rescheduleId",
    "startTime",
    "endTime",
    "title",
    "status",
    "attendees",
    "organizer",
    "user",
    "location",
    "metadata",
    "videoCallData",
    "cancellationReason",
    "rejectionReason",
    "requestReschedule",
    "paymentId",
    "price",
    "currency",
    "responses",
    "downloadLink",
    "downloadLinks",
    "createdAt",
]
emails = st.sampled_from(["priya.shah@example.org", "PRIYA.SHAH@EXAMPLE.ORG ", "x@y", "@", "a@b.c"])
attendee = st.fixed_dictionaries(
    {}, optional={"email": json_values | emails, "name": json_values, "noShow": json_values}
)
booking_fields = st.dictionaries(
    st.sampled_from(BOOKING_KEYS),
    json_values | st.lists(attendee, max_size=3) | emails | st.datetimes().map(str),
    max_size=10,
)
triggers = st.sampled_from(sorted(DELIVERABLE_TRIGGERS)) | nasty_text
calcom_shaped = st.one_of(
    st.fixed_dictionaries(  # the envelope
        {"triggerEvent": triggers},
        optional={
            "createdAt": json_values | st.datetimes().map(lambda d: d.isoformat() + "Z"),
            "payload": booking_fields | json_values,
        },
    ),
    st.builds(  # the flat MEETING_* body
        lambda trigger, fields: {"triggerEvent": trigger, **fields},
        st.sampled_from(["MEETING_STARTED", "MEETING_ENDED"]) | triggers,
        booking_fields,
    ),
)


def encodings(document) -> st.SearchStrategy[bytes]:
    text = json.dumps(document, ensure_ascii=False, allow_nan=True)
    return st.sampled_from(
        [
            text.encode("utf-8"),
            text.encode("utf-16"),
            text.encode("latin-1", errors="replace"),
            json.dumps(document).encode("ascii"),
            b"\xef\xbb\xbf" + text.encode("utf-8"),  # a byte-order mark
            text.encode("utf-8")[: max(len(text) // 2, 1)],  # cut short
        ]
    )


bodies = (
    (calcom_shaped | json_values).flatmap(encodings)
    | st.binary(max_size=300)
    | st.sampled_from([b"", b"false", b"null", b"[]", b"{}", b'{"triggerEvent": 5}'])
)


@FUZZ
@given(raw=bodies)
def test_decode_body_either_returns_an_object_or_names_the_problem(raw):
    try:
        root = decode_body(raw)
    except UnusableBody as exc:
        assert str(exc)
    else:
        assert isinstance(root, dict)
        assert isinstance(parse_event(root), CalComEvent)


@FUZZ
@given(document=calcom_shaped)
def test_parse_event_accepts_any_shape_and_types(document):
    trigger = document["triggerEvent"]
    if not isinstance(trigger, str) or not trigger.replace("\x00", "").strip():
        return  # decode_body refuses these before parse_event sees them
    event = parse_event(document)
    assert event.trigger == trigger.replace("\x00", "").strip()
    assert "\x00" not in event.trigger + event.uid + event.title + event.cancellation_reason
    for text in (event.uid, event.title, event.organizer_email, event.video_url, event.location):
        assert isinstance(text, str)
    assert event.booking_id is None or -(2**63) <= event.booking_id < 2**63
    for moment in (event.created_at, event.start_time, event.end_time):
        assert moment is None or moment.utcoffset().total_seconds() == 0


content_types = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-16",
        "text/plain",
        "application/x-www-form-urlencoded",
        "",
        "multipart/form-data; boundary=x",
    ]
)
header_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30)


@pytest.fixture
def fuzz_settings(settings):
    # Set once per test, not per example: each assignment stacks another settings override.
    settings.CAL_COM_WEBHOOK_SECRET = TEST_SECRET
    settings.CAL_COM_WEBHOOK_SECRET_PROD = ""
    settings.WEBHOOK_REJECTED_LIMIT_PER_MINUTE = 10**6  # this test is about parsing
    return settings


@pytest.mark.django_db(transaction=True)
@FUZZ
@given(
    raw=bodies,
    content_type=content_types,
    signing=st.sampled_from(["valid", "valid", "valid", "invalid", "missing", "garbage"]),
    version=header_values,
    garbage_signature=header_values,
)
def test_endpoint_never_fails_whatever_arrives(
    client, fuzz_settings, raw, content_type, signing, version, garbage_signature
):
    headers = {"HTTP_X_CAL_WEBHOOK_VERSION": version}
    if signing == "valid":
        headers["HTTP_X_CAL_SIGNATURE_256"] = sign_body(body=raw, secret=TEST_SECRET)
    elif signing == "invalid":
        headers["HTTP_X_CAL_SIGNATURE_256"] = sign_body(body=raw + b"x", secret=TEST_SECRET)
    elif signing == "garbage":
        headers["HTTP_X_CAL_SIGNATURE_256"] = garbage_signature

    response = client.generic("POST", WEBHOOK_URL, raw, content_type=content_type, **headers)

    assert response.status_code in (200, 400, 401)
    event = WebhookEvent.objects.get(pk=response.json()["event_id"])
    if response.status_code == 401:
        assert event.status == WebhookEventStatus.REJECTED and event.status_reason
        return
    assert bytes(event.raw_body) == raw
    assert event.status in (
        WebhookEventStatus.PROCESSED,
        WebhookEventStatus.IGNORED,
        WebhookEventStatus.DUPLICATE,
    ), f"{event.status}: {event.last_error}"
    if event.status == WebhookEventStatus.IGNORED:
        assert event.status_reason
    if response.status_code == 400 and event.status == WebhookEventStatus.IGNORED:
        assert response.json()["error"] == event.status_reason


@pytest.mark.django_db(transaction=True)
def test_nul_characters_in_a_signed_body_are_stored_not_answered_500(deliver):
    """Found by the fuzzer on PostgreSQL: text columns cannot hold NUL, so a `\\u0000` in a
    uid failed the delivery with a 500 on every retry."""
    body = {
        "triggerEvent": "BOOKING_CREATED\u0000",
        "createdAt": "2025-06-02T09:15:42.318Z",
        "payload": {
            "uid": "nul\u0000uid",
            "title": "a\u0000b",
            "attendees": [{"email": "x\u0000@example.org"}],
        },
    }
    response = deliver(body)
    assert response.status_code == 200
    event = WebhookEvent.objects.get(pk=response.json()["event_id"])
    assert (event.trigger_event, event.booking_uid, event.status) == (
        "BOOKING_CREATED",
        "nuluid",
        "processed",
    )
    assert event.meeting.title == "ab"
