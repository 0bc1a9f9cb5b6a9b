"""The one Cal.com webhook body builder: what Cal.com sends for each trigger, as its code builds it.

Pure (no clock, no global randomness): `calcom.samples` feeds it a fresh booking and the current
time for test deliveries; the demo data feeds it template slots to build its body templates.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import Any

from calcom.triggers import FLAT_TRIGGERS

_SAMPLE_BOOKING_TRIGGERS = (
    "BOOKING_CREATED",
    "BOOKING_REQUESTED",
    "BOOKING_RESCHEDULED",
    "BOOKING_CANCELLED",
    "BOOKING_REJECTED",
    "BOOKING_PAID",
    "BOOKING_PAYMENT_INITIATED",
    "BOOKING_LOCATION_UPDATED",
    "BOOKING_REASSIGNED",
)


@dataclass(frozen=True)
class SampleBooking:
    """The booking a body is about; pass the same uid to follow one booking around.

    The demo data passes template slots ("{{uid}}", "{{#booking_id}}") for the values it varies.
    """

    uid: str
    booking_id: int
    attendee_email: str = "priya.shah@example.org"
    attendee_name: str = "Priya Shah"
    organizer_email: str = "alex@example.com"
    organizer_name: str = "Alex Rivera"
    reschedule_uid: str = ""
    # The rest defaults to one "30 Min Meeting" event type; the demo data varies them.
    organizer_id: int = 4821
    organizer_username: str = "alexrivera"
    attendee_first_name: str = ""
    attendee_last_name: str = ""
    event_type_id: int = 1180342
    event_title: str = "30 Min Meeting"
    event_slug: str = "30min"
    length: int = 30
    price: int = 0  # paid triggers say 15000 when this is 0
    notes: str = "Sent by send_test_webhook"
    cancellation_reason: str = "Something came up, sorry!"
    rejection_reason: str = "Not a fit for this slot"
    reschedule_id: int | None = None  # None: booking_id - 1
    payment_id: int | None = None  # None: a random one


@dataclass(frozen=True)
class BodyTimes:
    """The moments a body names, already written the way Cal.com writes each of them."""

    created_at: str  # the envelope's createdAt (milliseconds, Z)
    start: str  # the booking's start and end (seconds, Z)
    end: str
    start_ms: str  # the same in milliseconds (no-show, recording and flat bodies)
    end_ms: str
    start_offset: str  # dayjs().format(): +00:00 (cancellations, out of office)
    end_offset: str
    previous_start: str  # the slot a reschedule moved from
    previous_end: str
    booked_at: str  # a flat booking's createdAt (milliseconds)
    out_of_office_end: str  # +00:00
    now: str  # seconds, Z (the PING test)


def webhook_body(*, trigger: str, booking: SampleBooking, times: BodyTimes, rng: random.Random) -> dict:
    """The body Cal.com sends for `trigger` about `booking`: the one Cal.com body builder.

    Pure: the moments come written (`times`) and the ids Cal.com makes up (payment, form,
    out-of-office entry, idempotency key) come from `rng`, so the same inputs give the same
    body. The demo data builds its body templates with it, passing template slots as values.

    Booking triggers get the CalendarEvent payload in the envelope; MEETING_STARTED/ENDED the
    flat booking; the others their own family's payload.
    """
    if trigger in FLAT_TRIGGERS:
        return {"triggerEvent": trigger, **_flat_booking(booking=booking, times=times, rng=rng)}
    payload = _sample_payload(trigger=trigger, booking=booking, times=times, rng=rng)
    body = {"triggerEvent": trigger, "createdAt": times.created_at, "payload": payload}
    if trigger.startswith("FORM_SUBMITTED") or trigger == "ROUTING_FORM_FALLBACK_HIT":
        # Cal.com repeats each form answer at the envelope root (legacy rootData).
        body = {"email": booking.attendee_email, "Company size": "51-200", **body}
    return body


def meeting_envelope_body(*, flat_body: dict, created_at: str) -> dict:
    """A flat MEETING_STARTED/ENDED body in the envelope the newer MeetingPayloadBuilder sends:
    `{triggerEvent, createdAt, payload: <raw booking row>}`, the row keeping `id` and `user`
    (no `bookingId`, no `organizer`)."""
    row = {key: value for key, value in flat_body.items() if key != "triggerEvent"}
    return {"triggerEvent": flat_body["triggerEvent"], "createdAt": created_at, "payload": row}


# Handlebars' escapeExpression; Cal.com then turns `&quot;` back into `"` (sendPayload.ts).
_HANDLEBARS_ESCAPE = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "'": "&#x27;", "`": "&#x60;", "=": "&#x3D;"}


def handlebars_escaped(text: str) -> str:
    """`text` as a custom payload template delivers a `{{value}}`: HTML-escaped except `"`."""
    return "".join(_HANDLEBARS_ESCAPE.get(char, char) for char in text)


def _person(*, name: str, email: str, time_zone: str, utc_offset: int) -> dict:
    return {
        "name": name,
        "email": email,
        "timeZone": time_zone,
        "language": {"locale": "en"},
        "utcOffset": utc_offset,
    }


def _responses(*, booking: SampleBooking) -> dict:
    return {
        "name": {"label": "your_name", "value": booking.attendee_name, "isHidden": False},
        "email": {"label": "email_address", "value": booking.attendee_email, "isHidden": False},
        "location": {
            "label": "location",
            "value": {"optionValue": "", "value": "integrations:daily"},
            "isHidden": False,
        },
        "notes": {"label": "additional_notes", "value": booking.notes, "isHidden": False},
        "guests": {"label": "additional_guests", "value": [], "isHidden": False},
    }


def recording_link(*, uid: str) -> str:
    """The recording link RECORDING_READY names (what processing stores as the recording)."""
    return f"https://app.cal.com/api/video/recording?uid={uid}"


def transcript_link(*, uid: str) -> str:
    """The transcript link RECORDING_TRANSCRIPTION_GENERATED names."""
    return f"https://transcripts.example.com/{uid}.txt"


def _title(*, booking: SampleBooking) -> str:
    return f"{booking.event_title} between {booking.organizer_name} and {booking.attendee_name}"


def _uuid(*, rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _sample_payload(*, trigger: str, booking: SampleBooking, times: BodyTimes, rng: random.Random) -> dict:
    title = _title(booking=booking)
    organizer = _person(
        name=booking.organizer_name,
        email=booking.organizer_email,
        time_zone="America/New_York",
        utc_offset=-240,
    )
    attendee = _person(
        name=booking.attendee_name,
        email=booking.attendee_email,
        time_zone="Europe/London",
        utc_offset=60,
    )
    payload: dict[str, Any]
    if trigger in _SAMPLE_BOOKING_TRIGGERS:
        payload = {
            "bookerUrl": "https://cal.com",
            "type": booking.event_slug,
            "title": title,
            "description": booking.notes,
            "additionalNotes": booking.notes,
            "customInputs": {},
            "startTime": times.start,
            "endTime": times.end,
            "organizer": {
                "id": booking.organizer_id,
                "username": booking.organizer_username,
                "timeFormat": "h:mma",
                **organizer,
            },
            "attendees": [
                {
                    **attendee,
                    "firstName": booking.attendee_first_name,
                    "lastName": booking.attendee_last_name,
                }
            ],
            "responses": _responses(booking=booking),
            "userFieldsResponses": {},
            "location": "integrations:daily",
            "destinationCalendar": None,
            "iCalUID": f"{booking.uid}@Cal.com",
            "iCalSequence": 0,
            "eventTypeId": booking.event_type_id,
            "eventTitle": booking.event_title,
            "eventDescription": "A quick 30 minute intro call.",
            "requiresConfirmation": trigger == "BOOKING_REQUESTED",
            "price": booking.price,
            "currency": "usd",
            "length": booking.length,
            "uid": booking.uid,
            "bookingId": booking.booking_id,
            "metadata": {"videoCallUrl": f"https://app.cal.com/video/{booking.uid}"},
            "status": {
                "BOOKING_REQUESTED": "PENDING",
                "BOOKING_CANCELLED": "CANCELLED",
                "BOOKING_REJECTED": "REJECTED",
            }.get(trigger, "ACCEPTED"),
        }
        if trigger == "BOOKING_RESCHEDULED":
            payload.update(
                rescheduleUid=booking.reschedule_uid,
                rescheduleId=(
                    booking.booking_id - 1 if booking.reschedule_id is None else booking.reschedule_id
                ),
                rescheduleStartTime=times.previous_start,
                rescheduleEndTime=times.previous_end,
                rescheduledBy=booking.attendee_email,
                iCalSequence=1,
            )
        elif trigger == "BOOKING_CANCELLED":
            payload.update(
                startTime=times.start_offset,
                endTime=times.end_offset,
                cancellationReason=booking.cancellation_reason,
                cancelledBy=booking.attendee_email,
                requestReschedule=False,
                iCalSequence=1,
            )
            del payload["metadata"]
        elif trigger == "BOOKING_REJECTED":
            payload.update(rejectionReason=booking.rejection_reason)
            for absent in ("metadata", "iCalUID", "iCalSequence"):
                del payload[absent]
        elif trigger in ("BOOKING_PAID", "BOOKING_PAYMENT_INITIATED"):
            del payload["bookerUrl"]
            payload.update(
                price=booking.price or 15000,
                paymentId=(rng.randint(10_000, 99_999) if booking.payment_id is None else booking.payment_id),
                metadata={
                    "identifier": "cal.com",
                    "bookingId": booking.booking_id,
                    "bookerEmail": booking.attendee_email,
                    "externalId": f"pi_test_{booking.uid}",
                },
            )
        return payload
    if trigger == "BOOKING_NO_SHOW_UPDATED":
        return {
            "message": f"{booking.attendee_email} marked as no-show",
            "attendees": [{"email": booking.attendee_email, "noShow": True}],
            "bookingUid": booking.uid,
            "bookingId": booking.booking_id,
        }
    if trigger in ("AFTER_HOSTS_CAL_VIDEO_NO_SHOW", "AFTER_GUESTS_CAL_VIDEO_NO_SHOW"):
        # The tasker's no-show check (sendGenericWebhookPayload): the attendee rows as read
        # before Cal.com marks them, the Daily participants, and who did not join.
        hosts = trigger == "AFTER_HOSTS_CAL_VIDEO_NO_SHOW"
        row = _attendee_row(booking=booking, rng=rng)
        payload = {
            "title": title,
            "bookingId": booking.booking_id,
            "bookingUid": booking.uid,
            "startTime": times.start_ms,
            "attendees": [row],
            "endTime": times.end_ms,
            "participants": [],
            "eventType": {
                "id": booking.event_type_id,
                "teamId": None,
                "parentId": None,
                "calVideoSettings": None,
            },
            "webhook": {
                "id": _uuid(rng=rng),
                "subscriberUrl": "https://hooks.example.com/calcom/",
                "appId": None,
                "time": 5,
                "timeUnit": "MINUTE",
                "eventTriggers": ["AFTER_HOSTS_CAL_VIDEO_NO_SHOW", "AFTER_GUESTS_CAL_VIDEO_NO_SHOW"],
                "payloadTemplate": None,
            },
        }
        if hosts:
            payload.update(
                hostEmail=booking.organizer_email,
                noShowHost=True,
                message=f"Host with email {booking.organizer_email} didn't join the call",
            )
        else:
            payload.update(guests=[{**row, "noShow": True}], message="Guest didn't join the call")
        return payload
    if trigger in ("RECORDING_READY", "RECORDING_TRANSCRIPTION_GENERATED"):
        payload = {
            "type": title,
            "title": title,
            "startTime": times.start_ms,
            "endTime": times.end_ms,
            "organizer": organizer,
            "attendees": [attendee],
            "uid": booking.uid,
            "customReplyToEmail": None,
        }
        if trigger == "RECORDING_READY":
            payload["downloadLink"] = recording_link(uid=booking.uid)
        else:
            payload["downloadLinks"] = {
                "transcription": [{"format": "txt", "link": transcript_link(uid=booking.uid)}],
                "recording": recording_link(uid=booking.uid),
            }
        return payload
    if trigger == "OOO_CREATED":
        return {
            "oooEntry": {
                "id": rng.randint(1000, 9999),
                "start": times.start_offset,
                "end": times.out_of_office_end,
                "createdAt": times.created_at,
                "updatedAt": times.created_at,
                "notes": booking.notes,
                "reason": {"emoji": "🏝️", "reason": "ooo_reasons_vacation"},
                "reasonId": 1,
                "user": {
                    "id": booking.organizer_id,
                    "name": booking.organizer_name,
                    "email": booking.organizer_email,
                },
                "toUser": None,
                "uuid": _uuid(rng=rng),
            }
        }
    if trigger.startswith("FORM_SUBMITTED") or trigger == "ROUTING_FORM_FALLBACK_HIT":
        payload = {
            "formId": _uuid(rng=rng),
            "formName": "Sales routing",
            "teamId": 701,
            "responses": {
                "email": {"value": booking.attendee_email, "response": booking.attendee_email},
                "Company size": {"value": "51-200", "response": "51-200"},
            },
        }
        if trigger == "FORM_SUBMITTED_NO_EVENT":
            payload.update(redirect={"type": "customPageMessage"}, responseId=rng.randint(1000, 9999))
        return payload
    if trigger.startswith("INSTANT_MEETING"):
        return {
            "triggerEvent": trigger,
            "uid": booking.uid,
            "responses": {
                "name": booking.attendee_name,
                "email": booking.attendee_email,
                "guests": [],
            },
            "connectAndJoinUrl": "https://app.cal.com/connect-and-join?token="
            + _uuid(rng=rng).replace("-", ""),
            "eventTypeId": 1180500,
            "eventTypeTitle": "Talk to Support Now",
            "customInputs": {},
        }
    if trigger.startswith("DELEGATION_CREDENTIAL"):
        return {
            "error": {
                "type": "CalendarAppDelegationCredentialError",
                "message": booking.notes,
            },
            "credential": {"id": 77123, "type": "google_calendar", "appId": "google-calendar"},
            "user": {"id": booking.organizer_id, "email": booking.organizer_email, "organizationId": 700},
        }
    if trigger == "WRONG_ASSIGNMENT_REPORT":
        return {
            "booking": {
                "uid": booking.uid,
                "id": booking.booking_id,
                "title": title,
                "startTime": times.start_ms,
                "endTime": times.end_ms,
                "status": "ACCEPTED",
            },
            "report": {
                "reportedBy": {
                    "id": 4830,
                    "email": booking.organizer_email,
                    "name": booking.organizer_name,
                },
                "routingReason": booking.notes,
                "guest": booking.attendee_email,
            },
        }
    # PING: the dashboard's "Ping test" body.
    return {
        "type": "Test",
        "title": "Test trigger event",
        "description": "",
        "startTime": times.now,
        "endTime": times.now,
        "attendees": [
            {
                **_person(
                    name="John Doe",
                    email="jdoe@example.com",
                    time_zone="Europe/London",
                    utc_offset=60,
                )
            }
        ],
        "organizer": _person(name="Cal", email="no-reply@cal.com", time_zone="Europe/London", utc_offset=60),
    }


def _flat_booking(*, booking: SampleBooking, times: BodyTimes, rng: random.Random) -> dict:
    """A raw Prisma booking, as MEETING_STARTED/ENDED send it (no envelope, no `payload`)."""
    return {
        "id": booking.booking_id,
        "uid": booking.uid,
        "idempotencyKey": _uuid(rng=rng),
        "userId": booking.organizer_id,
        "userPrimaryEmail": booking.organizer_email,
        "eventTypeId": booking.event_type_id,
        "title": _title(booking=booking),
        "description": booking.notes,
        "customInputs": {},
        "responses": _responses(booking=booking),
        "startTime": times.start_ms,
        "endTime": times.end_ms,
        "location": "integrations:daily",
        "createdAt": times.booked_at,
        "updatedAt": times.booked_at,
        "status": "ACCEPTED",
        "paid": False,
        "cancellationReason": None,
        "rejectionReason": None,
        "fromReschedule": None,
        "metadata": {},
        "iCalUID": f"{booking.uid}@Cal.com",
        "iCalSequence": 0,
        "noShowHost": False,
        "user": {
            "email": booking.organizer_email,
            "name": booking.organizer_name,
            "timeZone": "America/New_York",
            "username": booking.organizer_username,
        },
        "attendees": [_attendee_row(booking=booking, rng=rng)],
        "payment": [],
        "references": [],
    }


def _attendee_row(*, booking: SampleBooking, rng: random.Random) -> dict[str, Any]:
    """An Attendee row as Prisma returns it (the raw booking row and the no-show checks)."""
    return {
        "id": rng.randint(100_000, 999_999),
        "email": booking.attendee_email,
        "name": booking.attendee_name,
        "timeZone": "Europe/London",
        "phoneNumber": None,
        "locale": "en",
        "bookingId": booking.booking_id,
        "noShow": False,
    }
