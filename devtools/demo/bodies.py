"""The demo's Cal.com bodies: one compact JSON template per trigger, built once.

Each template is `calcom.bodies.webhook_body` (the one body builder) of a booking whose values
are template slots, so a body is one %-format of its template per event: the seed makes
millions of them.
"""

from __future__ import annotations

import json
import random
from datetime import datetime

from calcom.bodies import BodyTimes, SampleBooking, webhook_body


def _template(body: dict) -> str:
    """Compact JSON text where "{{name}}" becomes %(name)s and "{{#name}}" a bare number/literal."""
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False).replace("%", "%%")
    while "{{" in text:
        start = text.index("{{")
        end = text.index("}}", start) + 2
        name = text[start + 2 : end - 2]
        if name.startswith("#"):
            # A bare value (number, true/false): drop the surrounding quotes too.
            text = text[: start - 1] + f"%({name[1:]})s" + text[end + 1 :]
        else:
            text = text[:start] + f"%({name})s" + text[end:]
    return text


# Slots: "{{name}}" is a string value, "{{#name}}" a number (typed loosely on purpose).
_BOOKING_SLOTS = SampleBooking(
    uid="{{uid}}",
    booking_id="{{#booking_id}}",  # type: ignore[arg-type]
    attendee_email="{{attendee_email}}",
    attendee_name="{{attendee_name}}",
    organizer_email="{{organizer_email}}",
    organizer_name="{{organizer_name}}",
    reschedule_uid="{{reschedule_uid}}",
    organizer_id="{{#organizer_id}}",  # type: ignore[arg-type]
    organizer_username="{{organizer_username}}",
    attendee_first_name="{{attendee_first}}",
    attendee_last_name="{{attendee_last}}",
    event_type_id="{{#event_type_id}}",  # type: ignore[arg-type]
    event_title="{{event_title}}",
    event_slug="{{event_slug}}",
    length="{{#length}}",  # type: ignore[arg-type]
    price="{{#price}}",  # type: ignore[arg-type]
    notes="",
    cancellation_reason="{{reason}}",
    rejection_reason="{{reason}}",
    reschedule_id="{{#reschedule_id}}",  # type: ignore[arg-type]
    payment_id="{{#payment_id}}",  # type: ignore[arg-type]
)
# The demo writes every moment in one form (Cal.com's createdAt form is parsed the same).
_TIME_SLOTS = BodyTimes(
    created_at="{{created}}",
    start="{{start}}",
    end="{{end}}",
    start_ms="{{start}}",
    end_ms="{{end}}",
    start_offset="{{start}}",
    end_offset="{{end}}",
    previous_start="{{previous_start}}",
    previous_end="{{previous_end}}",
    booked_at="{{booked}}",
    out_of_office_end="{{end}}",
    now="{{created}}",
)

_DEMO_TRIGGERS = (
    "BOOKING_CREATED",
    "BOOKING_REQUESTED",
    "BOOKING_RESCHEDULED",
    "BOOKING_CANCELLED",
    "BOOKING_REJECTED",
    "BOOKING_PAYMENT_INITIATED",
    "BOOKING_PAID",
    "MEETING_STARTED",
    "MEETING_ENDED",
    "BOOKING_NO_SHOW_UPDATED",
    "AFTER_GUESTS_CAL_VIDEO_NO_SHOW",
    "RECORDING_READY",
    "RECORDING_TRANSCRIPTION_GENERATED",
    "PING",
    "FORM_SUBMITTED",
    "OOO_CREATED",
)


def _templates() -> dict[str, str]:
    # A fixed seed for the ids Cal.com makes up: the same templates in every process.
    rng = random.Random(0)
    templates = {
        trigger: _template(webhook_body(trigger=trigger, booking=_BOOKING_SLOTS, times=_TIME_SLOTS, rng=rng))
        for trigger in _DEMO_TRIGGERS
    }
    # Not a Cal.com trigger: what a newer Cal.com might send, stored as ignored.
    templates["BOOKING_SEATS_CHANGED"] = _template(
        {
            "triggerEvent": "BOOKING_SEATS_CHANGED",
            "createdAt": "{{created}}",
            "payload": {"uid": "{{uid}}", "seats": 3},
        }
    )
    return templates


TEMPLATES: dict[str, str] = _templates()


def iso(moment: datetime) -> str:
    """Cal.com's createdAt form: milliseconds and a Z."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_seconds(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
