"""The demo's Cal.com bodies: one compact JSON template per trigger, built once.

Each template is `calcom.bodies.webhook_body` (the one body builder) of a booking whose values
are template slots, so a body is one %-format of its template per event: the seed makes
millions of them. Booking bodies carry what production ones do and the minimal builder leaves
out (an event type's description paragraph, the booker's notes, the booking form's hidden
fields, the video call and app statuses): ~3.8 KB like a real Cal.com delivery, so storage
figures measured on demo data hold for production.
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


# Real event types carry a paragraph of description and bookers write notes.
EVENT_DESCRIPTION = (
    "A focused 30-minute call to walk through your current scheduling workflow, the integrations "
    "you rely on (calendars, video, CRM, payments) and the rollout plan for your team. Please come "
    "with a rough headcount, the regions you operate in and any compliance requirements (GDPR, "
    "HIPAA, SOC 2) we should know about. You will get a written summary and next steps by e-mail "
    "after the call. If you need to reschedule, use the link in your confirmation e-mail."
)
BOOKER_NOTES = (
    "Would like to discuss the Q3 rollout plan for the EMEA sales team (about 40 people), how "
    "round-robin assignment works with our existing HubSpot setup, and whether paid consultations "
    "can be invoiced in EUR. Tom from finance will join for the last 10 minutes."
)
_BOOKING_EXTRAS: dict[str, object] = {
    "hideCalendarNotes": False,
    "hideCalendarEventDetails": False,
    "hideOrganizerEmail": False,
    "schedulingType": None,
    "seatsPerTimeSlot": None,
    "seatsShowAttendees": None,
    "seatsShowAvailabilityCount": None,
    "customReplyToEmail": None,
    "disableRescheduling": False,
    "disableCancelling": False,
    "oneTimePassword": None,
    "organizationId": None,
    "hashedLink": None,
    "conferenceData": {"createRequest": {"requestId": "{{uid}}"}},
    "videoCallData": {
        "type": "daily_video",
        "id": "{{uid}}",
        "password": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.redacted",
        "url": "https://cal.daily.co/{{uid}}",
    },
    "appsStatus": [
        {"appName": "Cal Video", "type": "daily_video", "success": 1, "failures": 0, "errors": []}
    ],
}
_VIDEO_REFERENCE: dict[str, object] = {
    "type": "daily_video",
    "uid": "{{uid}}",
    "meetingId": "{{uid}}",
    "meetingPassword": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.redacted",
    "meetingUrl": "https://cal.daily.co/{{uid}}",
    "externalCalendarId": None,
    "credentialId": None,
    "deleted": None,
}
_EXTRA_RESPONSES: dict[str, object] = {
    "attendeePhoneNumber": {"label": "phone_number", "isHidden": True},
    "title": {"label": "what_is_this_meeting_about", "isHidden": True},
    "rescheduleReason": {"label": "reason_for_reschedule", "isHidden": False},
}


def _with_production_fields(body: dict) -> dict:
    """A booking body as production sends it (see the module docstring); others unchanged."""
    payload = body.get("payload")
    # Booking triggers nest the booking under "payload"; MEETING_* send a flat booking row.
    booking = payload if isinstance(payload, dict) else body
    if "attendees" not in booking or "responses" not in booking:
        return body
    booking["description"] = EVENT_DESCRIPTION
    if booking is payload:
        booking["eventDescription"] = EVENT_DESCRIPTION
        booking["additionalNotes"] = BOOKER_NOTES
        for key, value in _BOOKING_EXTRAS.items():
            booking.setdefault(key, value)
    else:
        booking["references"] = [_VIDEO_REFERENCE]
    responses = booking["responses"]
    if isinstance(responses.get("notes"), dict):
        responses["notes"]["value"] = BOOKER_NOTES
    for key, value in _EXTRA_RESPONSES.items():
        responses.setdefault(key, value)
    return body


def _templates() -> dict[str, str]:
    # A fixed seed for the ids Cal.com makes up: the same templates in every process.
    rng = random.Random(0)
    templates = {
        trigger: _template(
            _with_production_fields(
                webhook_body(trigger=trigger, booking=_BOOKING_SLOTS, times=_TIME_SLOTS, rng=rng)
            )
        )
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
