"""The body parser: both shapes, every sample payload, every date form, lenient on absences."""

from datetime import UTC, datetime

import pytest

from calcom.bodies import handlebars_escaped
from calcom.dates import parse_datetime
from calcom.parsing import UnusableBody, decode_body, has_handlebars_escapes, parse_event, unescape_handlebars
from calcom.samples import PAYLOADS_DIR
from tests.support.bodies import compact, load_payload

SAMPLES = sorted(p.stem for p in PAYLOADS_DIR.glob("*.json"))


def test_samples_are_there():
    assert len(SAMPLES) >= 20, PAYLOADS_DIR


@pytest.mark.parametrize("name", SAMPLES)
def test_every_sample_parses(name):
    body = load_payload(name)
    event = parse_event(decode_body(compact(body)))
    assert event.trigger == body["triggerEvent"]


@pytest.mark.parametrize(
    "text",
    [
        "2025-03-10T14:00:00Z",
        "2025-03-10T14:00:00+00:00",
        "2025-03-10T14:00:00.000Z",
        "2025-03-10T16:00:00+02:00",
        "2025-03-10T14:00:00",
    ],
)
def test_every_iso_form(text):
    assert parse_datetime(text) == datetime(2025, 3, 10, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize("value", [None, "", "yesterday", 12, {}, "2025-13-45T99:00:00Z"])
def test_bad_dates_are_absent(value):
    assert parse_datetime(value) is None


def test_flat_meeting_ended():
    event = parse_event(load_payload("MEETING_ENDED"))
    assert event.is_flat and event.created_at is None
    assert event.uid == "mVBk3uCc8wqXYh4oJ1vVEp" and event.booking_id == 987654
    assert event.occurred_at == event.end_time == datetime(2025, 6, 12, 14, 30, tzinfo=UTC)
    assert event.attendee.email == "priya.shah@example.org"


def test_enveloped_meeting_ended_is_accepted_too():
    flat = load_payload("MEETING_ENDED")
    booking = {k: v for k, v in flat.items() if k != "triggerEvent"}
    wrapped = {
        "triggerEvent": "MEETING_ENDED",
        "createdAt": "2025-06-12T14:31:00.000Z",
        "payload": {**booking, "bookingId": booking["id"]},
    }
    event = parse_event(wrapped)
    assert not event.is_flat and event.uid == flat["uid"] and event.booking_id == 987654


def test_enveloped_meeting_row_has_id_and_user_only():
    """MeetingPayloadBuilder.ts wraps the raw booking row: `id` and `user`, no `bookingId` or
    `organizer`; its createdAt is stamped when the job is scheduled, so the end time orders it."""
    flat = load_payload("MEETING_ENDED")
    wrapped = {
        "triggerEvent": "MEETING_ENDED",
        "createdAt": "2025-06-02T09:15:42.000Z",
        "payload": {k: v for k, v in flat.items() if k != "triggerEvent"},
    }
    event = parse_event(wrapped)
    assert event.booking_id == 987654 and event.organizer_email == "alex@rivera-consulting.com"
    assert event.occurred_at == datetime(2025, 6, 12, 14, 30, tzinfo=UTC)


def test_cal_video_no_show_samples():
    """Cal.com's AFTER_*_CAL_VIDEO_NO_SHOW bodies (sendGenericWebhookPayload in sendPayload.ts)."""
    guests = parse_event(load_payload("AFTER_GUESTS_CAL_VIDEO_NO_SHOW"))
    assert guests.uid == "mVBk3uCc8wqXYh4oJ1vVEp" and guests.booking_id == 987654
    assert guests.no_show_marks == (("priya.shah@example.org", True),)
    host = parse_event(load_payload("AFTER_HOSTS_CAL_VIDEO_NO_SHOW"))
    assert host.host_no_show and host.host_email == "alex@rivera-consulting.com"
    assert host.no_show_marks == ()


@pytest.mark.parametrize("text", ["O'Brien & Sons", "<b>=`x`</b>", 'say "hi"', "&amp; literally", "plain"])
def test_handlebars_escapes_round_trip(text):
    """Handlebars' escapeExpression, then Cal.com's `&quot;` → `"` (sendPayload.ts)."""
    assert unescape_handlebars(handlebars_escaped(text)) == text


def test_handlebars_escapes_are_recognised_only_when_present():
    assert has_handlebars_escapes(b'{"name":"O&#x27;Brien"}')
    assert not has_handlebars_escapes(b'{"name":"R&D "team""}')


def test_reschedule_links_old_uid():
    event = parse_event(load_payload("BOOKING_RESCHEDULED"))
    assert event.uid == "Zr8Yp5NqT2wLk6Hd9Fv3Bx" and event.reschedule_uid == "mVBk3uCc8wqXYh4oJ1vVEp"


def test_no_show_marks():
    event = parse_event(load_payload("BOOKING_NO_SHOW_UPDATED"))
    assert event.uid == "mVBk3uCc8wqXYh4oJ1vVEp"
    assert event.no_show_marks == (("priya.shah@example.org", True),)


def test_payment_fields():
    event = parse_event(load_payload("BOOKING_PAID"))
    assert event.payment_id == "31277" and event.price == 15000 and event.currency == "USD"


def test_recording_links():
    event = parse_event(load_payload("RECORDING_TRANSCRIPTION_GENERATED"))
    assert event.recording_url.startswith("https://app.cal.com/api/video/recording")
    assert len(event.transcript_urls) == 4


def test_lenient_about_absent_and_mistyped_fields():
    event = parse_event(
        {
            "triggerEvent": "BOOKING_CREATED",
            "payload": {"uid": 5, "attendees": "nobody", "organizer": [], "startTime": 3, "bookingId": "12"},
        }
    )
    assert event.uid == "5" and event.attendees == () and event.start_time is None
    assert event.booking_id == 12


@pytest.mark.parametrize(
    "raw,problem",
    [
        (b"not json", "not valid JSON"),
        (b"false", "literal `false`"),
        (b"[1,2]", "JSON list"),
        (b'{"payload":{}}', "triggerEvent"),
        (b'{"triggerEvent":7}', "triggerEvent"),
        (b"", "empty"),
        (b"\xff\xfe", "UTF-8"),
    ],
)
def test_unusable_bodies_name_the_problem(raw, problem):
    with pytest.raises(UnusableBody, match=problem.replace("`", ".").replace("(", ".")):
        decode_body(raw)
