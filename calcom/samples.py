"""Realistic Cal.com webhook bodies for any trigger, signed and posted like Cal.com does.

Used by `manage.py send_test_webhook` (like `stripe trigger`) and by tests. Generated in code;
Cal.com's own sample bodies are vendored beside it in `payloads/`.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from pathlib import Path
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.utils import timezone

from calcom.triggers import DELIVERABLE_TRIGGERS, FLAT_TRIGGERS

# Cal.com's own sample bodies, one per trigger, as its code builds them.
PAYLOADS_DIR = Path(__file__).resolve().parent / "payloads"

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
    """The booking a test delivery is about; pass the same uid to follow one booking around."""

    uid: str
    booking_id: int
    attendee_email: str = "priya.shah@example.org"
    attendee_name: str = "Priya Shah"
    organizer_email: str = "alex@example.com"
    organizer_name: str = "Alex Rivera"
    reschedule_uid: str = ""


def new_sample_booking(*, uid: str = "", booking_id: int | None = None, **fields) -> SampleBooking:
    """A booking with a fresh Cal.com-like uid (22 alphanumerics) and id unless given."""
    from django.utils.crypto import get_random_string

    return SampleBooking(
        uid=uid or get_random_string(22),
        booking_id=booking_id if booking_id is not None else random.randint(100_000, 9_999_999),
        **fields,
    )


def build_sample_webhook_body(
    *, trigger: str, booking: SampleBooking, now: datetime | None = None
) -> dict:
    """A realistic Cal.com body (payload version 2021-10-20) for `trigger`, shaped like the
    bodies Cal.com sends (`payloads/`), with a fresh `createdAt`.

    Booking triggers get the CalendarEvent payload in the envelope; MEETING_STARTED/ENDED the
    flat booking; the others their own family's payload.
    """
    if trigger not in DELIVERABLE_TRIGGERS:
        raise ValueError(
            f"unknown trigger {trigger!r}; one of: {', '.join(DELIVERABLE_TRIGGERS)}"
        )
    now = now or timezone.now()
    start = (now + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    end = start + timedelta(minutes=30)
    created_at = _calcom_time(now, milliseconds=True)
    if trigger in FLAT_TRIGGERS:
        # Sent by Cal.com's cron at the booking's start or end: that moment is now.
        if trigger == "MEETING_STARTED":
            start, end = now, now + timedelta(minutes=30)
        else:
            start, end = now - timedelta(minutes=30), now
        return {
            "triggerEvent": trigger,
            **_flat_booking(booking=booking, start=start, end=end, now=now),
        }
    payload = _sample_payload(trigger=trigger, booking=booking, start=start, end=end, now=now)
    body = {"triggerEvent": trigger, "createdAt": created_at, "payload": payload}
    if trigger.startswith("FORM_SUBMITTED") or trigger == "ROUTING_FORM_FALLBACK_HIT":
        # Cal.com repeats each form answer at the envelope root (legacy rootData).
        body = {"email": booking.attendee_email, "Company size": "51-200", **body}
    return body


def encode_webhook_body(body: dict) -> bytes:
    """Bytes as Cal.com's JSON.stringify writes them: compact, non-ASCII as raw UTF-8."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class SampleDeliveryAnswer:
    status: int
    body: str
    elapsed_ms: float


def post_sample_webhook(
    *, body: bytes, url: str, secret: str, timeout: float = 10.0
) -> SampleDeliveryAnswer:
    """POST `body` to `url` the way Cal.com does: signed with `secret` (or, without one, the
    `no-secret-provided` marker Cal.com sends), JSON, version header, no redirects."""
    import requests

    from calcom.signatures import NO_SECRET_SENTINEL, SIGNATURE_HEADER, sign_body

    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign_body(body=body, secret=secret) if secret else NO_SECRET_SENTINEL,
        "X-Cal-Webhook-Version": "2021-10-20",
        "User-Agent": "vani-send-test-webhook",
    }
    started = time.monotonic()
    response = requests.post(
        url, data=body, headers=headers, timeout=timeout, allow_redirects=False
    )
    return SampleDeliveryAnswer(
        status=response.status_code,
        body=response.text,
        elapsed_ms=(time.monotonic() - started) * 1000,
    )


def _calcom_time(moment: datetime, *, milliseconds: bool = False) -> str:
    text = moment.astimezone(dt_timezone.utc).isoformat(
        timespec="milliseconds" if milliseconds else "seconds"
    )
    return text.replace("+00:00", "Z")


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
        "notes": {
            "label": "additional_notes",
            "value": "Sent by send_test_webhook",
            "isHidden": False,
        },
        "guests": {"label": "additional_guests", "value": [], "isHidden": False},
    }


def _sample_payload(
    *, trigger: str, booking: SampleBooking, start: datetime, end: datetime, now: datetime
) -> dict:
    title = f"30 Min Meeting between {booking.organizer_name} and {booking.attendee_name}"
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
    if trigger in _SAMPLE_BOOKING_TRIGGERS:
        payload = {
            "bookerUrl": "https://cal.com",
            "type": "30min",
            "title": title,
            "description": "Sent by send_test_webhook",
            "additionalNotes": "Sent by send_test_webhook",
            "customInputs": {},
            "startTime": _calcom_time(start),
            "endTime": _calcom_time(end),
            "organizer": {"id": 4821, "username": "alexrivera", "timeFormat": "h:mma", **organizer},
            "attendees": [{**attendee, "firstName": "", "lastName": ""}],
            "responses": _responses(booking=booking),
            "userFieldsResponses": {},
            "location": "integrations:daily",
            "destinationCalendar": None,
            "iCalUID": f"{booking.uid}@Cal.com",
            "iCalSequence": 0,
            "eventTypeId": 1180342,
            "eventTitle": "30 Min Meeting",
            "eventDescription": "A quick 30 minute intro call.",
            "requiresConfirmation": trigger == "BOOKING_REQUESTED",
            "price": 0,
            "currency": "usd",
            "length": 30,
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
                rescheduleUid=booking.reschedule_uid or new_sample_booking().uid,
                rescheduleId=booking.booking_id - 1,
                rescheduleStartTime=_calcom_time(start - timedelta(days=1)),
                rescheduleEndTime=_calcom_time(end - timedelta(days=1)),
                rescheduledBy=booking.attendee_email,
                iCalSequence=1,
            )
        elif trigger == "BOOKING_CANCELLED":
            payload.update(
                startTime=start.isoformat(timespec="seconds"),  # dayjs().format(): +00:00
                endTime=end.isoformat(timespec="seconds"),
                cancellationReason="Something came up, sorry!",
                cancelledBy=booking.attendee_email,
                requestReschedule=False,
                iCalSequence=1,
            )
            del payload["metadata"]
        elif trigger == "BOOKING_REJECTED":
            payload.update(rejectionReason="Not a fit for this slot")
            for absent in ("metadata", "iCalUID", "iCalSequence"):
                del payload[absent]
        elif trigger in ("BOOKING_PAID", "BOOKING_PAYMENT_INITIATED"):
            del payload["bookerUrl"]
            payload.update(
                price=15000,
                paymentId=random.randint(10_000, 99_999),
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
        hosts = trigger == "AFTER_HOSTS_CAL_VIDEO_NO_SHOW"
        payload = {
            "title": title,
            "bookingId": booking.booking_id,
            "bookingUid": booking.uid,
            "startTime": _calcom_time(start, milliseconds=True),
            "endTime": _calcom_time(end, milliseconds=True),
            "attendees": [
                {"email": booking.attendee_email, "name": booking.attendee_name, "noShow": False}
            ],
            "participants": [],
            "eventType": {
                "id": 1180342,
                "teamId": None,
                "parentId": None,
                "calVideoSettings": None,
            },
            "message": f"{'Host' if hosts else 'Guests'} didn't join the call",
        }
        if hosts:
            payload.update(hostEmail=booking.organizer_email, noShowHost=True)
        else:
            payload.update(guests=[booking.attendee_email])
        return payload
    if trigger in ("RECORDING_READY", "RECORDING_TRANSCRIPTION_GENERATED"):
        payload = {
            "type": title,
            "title": title,
            "startTime": _calcom_time(start, milliseconds=True),
            "endTime": _calcom_time(end, milliseconds=True),
            "organizer": organizer,
            "attendees": [attendee],
            "uid": booking.uid,
            "customReplyToEmail": None,
        }
        if trigger == "RECORDING_READY":
            payload["downloadLink"] = f"https://app.cal.com/api/video/recording?uid={booking.uid}"
        else:
            payload["downloadLinks"] = {
                "transcription": [
                    {"format": "txt", "link": f"https://transcripts.example.com/{booking.uid}.txt"}
                ],
                "recording": f"https://app.cal.com/api/video/recording?uid={booking.uid}",
            }
        return payload
    if trigger == "OOO_CREATED":
        return {
            "oooEntry": {
                "id": random.randint(1000, 9999),
                "start": start.isoformat(timespec="seconds"),
                "end": (start + timedelta(days=7)).isoformat(timespec="seconds"),
                "createdAt": _calcom_time(now, milliseconds=True),
                "updatedAt": _calcom_time(now, milliseconds=True),
                "notes": "Sent by send_test_webhook",
                "reason": {"emoji": "🏝️", "reason": "ooo_reasons_vacation"},
                "reasonId": 1,
                "user": {
                    "id": 4821,
                    "name": booking.organizer_name,
                    "email": booking.organizer_email,
                },
                "toUser": None,
                "uuid": str(uuid.uuid4()),
            }
        }
    if trigger.startswith("FORM_SUBMITTED") or trigger == "ROUTING_FORM_FALLBACK_HIT":
        payload = {
            "formId": str(uuid.uuid4()),
            "formName": "Sales routing",
            "teamId": 701,
            "responses": {
                "email": {"value": booking.attendee_email, "response": booking.attendee_email},
                "Company size": {"value": "51-200", "response": "51-200"},
            },
        }
        if trigger == "FORM_SUBMITTED_NO_EVENT":
            payload.update(
                redirect={"type": "customPageMessage"}, responseId=random.randint(1000, 9999)
            )
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
            "connectAndJoinUrl": f"https://app.cal.com/connect-and-join?token={uuid.uuid4().hex}",
            "eventTypeId": 1180500,
            "eventTypeTitle": "Talk to Support Now",
            "customInputs": {},
        }
    if trigger.startswith("DELEGATION_CREDENTIAL"):
        return {
            "error": {
                "type": "CalendarAppDelegationCredentialError",
                "message": "Sent by send_test_webhook",
            },
            "credential": {"id": 77123, "type": "google_calendar", "appId": "google-calendar"},
            "user": {"id": 4821, "email": booking.organizer_email, "organizationId": 700},
        }
    if trigger == "WRONG_ASSIGNMENT_REPORT":
        return {
            "booking": {
                "uid": booking.uid,
                "id": booking.booking_id,
                "title": title,
                "startTime": _calcom_time(start, milliseconds=True),
                "endTime": _calcom_time(end, milliseconds=True),
                "status": "ACCEPTED",
            },
            "report": {
                "reportedBy": {
                    "id": 4830,
                    "email": booking.organizer_email,
                    "name": booking.organizer_name,
                },
                "routingReason": "Sent by send_test_webhook",
                "guest": booking.attendee_email,
            },
        }
    # PING: the dashboard's "Ping test" body.
    return {
        "type": "Test",
        "title": "Test trigger event",
        "description": "",
        "startTime": _calcom_time(now),
        "endTime": _calcom_time(now),
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
        "organizer": _person(
            name="Cal", email="no-reply@cal.com", time_zone="Europe/London", utc_offset=60
        ),
    }


def _flat_booking(*, booking: SampleBooking, start: datetime, end: datetime, now: datetime) -> dict:
    """A raw Prisma booking, as MEETING_STARTED/ENDED send it (no envelope, no `payload`)."""
    return {
        "id": booking.booking_id,
        "uid": booking.uid,
        "idempotencyKey": str(uuid.uuid4()),
        "userId": 4821,
        "userPrimaryEmail": booking.organizer_email,
        "eventTypeId": 1180342,
        "title": f"30 Min Meeting between {booking.organizer_name} and {booking.attendee_name}",
        "description": "Sent by send_test_webhook",
        "customInputs": {},
        "responses": _responses(booking=booking),
        "startTime": _calcom_time(start, milliseconds=True),
        "endTime": _calcom_time(end, milliseconds=True),
        "location": "integrations:daily",
        "createdAt": _calcom_time(start - timedelta(days=1), milliseconds=True),
        "updatedAt": _calcom_time(start - timedelta(days=1), milliseconds=True),
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
            "username": "alexrivera",
        },
        "attendees": [
            {
                "id": random.randint(100_000, 999_999),
                "email": booking.attendee_email,
                "name": booking.attendee_name,
                "timeZone": "Europe/London",
                "phoneNumber": None,
                "locale": "en",
                "bookingId": booking.booking_id,
                "noShow": False,
            }
        ],
        "payment": [],
        "references": [],
    }
