"""Signed bodies with values at the edge of what the parser and the database can hold.

Each one is stored the moment it arrives and answered as the README's table says (200, or
400 with the reason): never a 5xx, which Cal.com would retry into the same failure.
"""

from __future__ import annotations

import hashlib

import pytest

from tests.support.bodies import MARK, compact, load_payload, with_raw
from webhooks.models import WebhookEvent, WebhookEventStatus

pytestmark = pytest.mark.django_db(transaction=True)


def booking_created(**payload_fields) -> dict:
    body = load_payload("BOOKING_CREATED")
    body["payload"].update(payload_fields)
    return body


def meeting_ended(**fields) -> dict:
    body = load_payload("MEETING_ENDED")
    body.update(fields)
    return body


def with_attendee_email(email_json: str) -> bytes:
    body = booking_created()
    body["payload"]["attendees"][0]["email"] = MARK
    return with_raw(body, email_json)


HOSTILE_BODIES = {
    "bookingId --5": compact(booking_created(bookingId="--5")),
    "bookingId superscript two": compact(booking_created(bookingId="²")),
    "bookingId 5000 digits": compact(booking_created(bookingId="9" * 5000)),
    "price --5": compact(booking_created(price="--5")),
    "price superscript two": compact(booking_created(price="²")),
    "rescheduleId --5": compact(booking_created(rescheduleId="--5")),
    "rescheduleId superscript two": compact(booking_created(rescheduleId="²")),
    "flat id --5": compact(meeting_ended(id="--5")),
    "flat id superscript two": compact(meeting_ended(id="²")),
    "startTime year 1 at +23:59": compact(booking_created(startTime="0001-01-01T00:00:00+23:59")),
    "endTime year 9999 at -23:59": compact(booking_created(endTime="9999-12-31T23:59:59-23:59")),
    "createdAt year 1 at +23:59": compact({**booking_created(), "createdAt": "0001-01-01T00:00:00+23:59"}),
    "flat startTime year 9999 at -23:59": compact(
        meeting_ended(startTime="9999-12-31T23:59:59-23:59", endTime="0001-01-01T00:00:00+23:59")
    ),
    "uid lone high surrogate": with_raw(booking_created(uid=MARK), '"abc\\ud83d"'),
    "uid lone low surrogate": with_raw(booking_created(uid=MARK), '"\\udc00xyz"'),
    "attendee e-mail lone surrogate": with_attendee_email('"jane\\ud800@example.org"'),
    "triggerEvent lone surrogate": with_raw(
        {**booking_created(), "triggerEvent": MARK}, '"BOOKING_CREATED\\ud83d"'
    ),
    "flat uid lone surrogate": with_raw(meeting_ended(uid=MARK), '"\\ud800"'),
}


@pytest.mark.parametrize("raw", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
def test_signed_hostile_bodies_are_stored_and_never_answered_5xx(deliver, raw):
    response = deliver(raw)
    assert response.status_code in (200, 400), response.content
    event = WebhookEvent.objects.get(pk=response.json()["event_id"])
    assert bytes(event.raw_body) == raw
    assert event.fingerprint == hashlib.sha256(raw).hexdigest()
    assert event.status in (WebhookEventStatus.PROCESSED, WebhookEventStatus.IGNORED), (
        f"{event.status}: {event.last_error}"
    )
    if event.status == WebhookEventStatus.IGNORED:
        assert event.status_reason
    if response.status_code == 400:
        assert response.json()["error"] == event.status_reason


def test_a_lone_surrogate_becomes_the_replacement_character(deliver):
    response = deliver(HOSTILE_BODIES["uid lone high surrogate"])
    assert response.status_code == 200
    event = WebhookEvent.objects.get(pk=response.json()["event_id"])
    assert event.booking_uid == "abc\ufffd"
    assert event.meeting.cal_event_id == "abc\ufffd"


def test_a_parser_failure_still_stores_the_delivery_as_unusable(deliver, monkeypatch, caplog):
    """Whatever the parser does wrong, the signed bytes are kept and the answer is a 400."""
    from webhooks import classification

    def broken_parser(root, **options):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(classification, "parse_event", broken_parser)
    raw = compact(booking_created())
    response = deliver(raw)
    assert response.status_code == 400
    event = WebhookEvent.objects.get(pk=response.json()["event_id"])
    assert bytes(event.raw_body) == raw
    assert event.status == WebhookEventStatus.IGNORED
    assert "ZeroDivisionError" in event.status_reason
    assert "could not parse a signed delivery" in caplog.text
