"""Realistic Cal.com bodies for tests, built from the sample payloads in ../shared/calcom/."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone

from tests.conftest import load_payload

BASE_TIME = datetime(2025, 6, 2, 9, 0, tzinfo=timezone.utc)


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def at(minutes: int) -> datetime:
    return BASE_TIME + timedelta(minutes=minutes)


def booking_body(trigger: str, *, uid: str, created: datetime, booking_id: int | None = None,
                 start: datetime | None = None, reschedule_uid: str | None = None,
                 attendee_email: str | None = None, attendee_name: str | None = None,
                 **extra) -> dict:
    """An envelope body for a booking trigger, from the closest sample, with our own facts."""
    sample = {
        "BOOKING_REQUESTED": "BOOKING_REQUESTED", "BOOKING_RESCHEDULED": "BOOKING_RESCHEDULED",
        "BOOKING_CANCELLED": "BOOKING_CANCELLED", "BOOKING_REJECTED": "BOOKING_REJECTED",
        "BOOKING_PAID": "BOOKING_PAID", "BOOKING_PAYMENT_INITIATED": "BOOKING_PAYMENT_INITIATED",
    }.get(trigger, "BOOKING_CREATED")
    body = copy.deepcopy(load_payload(sample))
    body["triggerEvent"] = trigger
    body["createdAt"] = iso(created)
    payload = body["payload"]
    payload["uid"] = uid
    payload["bookingId"] = booking_id if booking_id is not None else abs(hash(uid)) % 10**6
    for key in ("rescheduleUid", "rescheduleId", "rescheduleStartTime", "rescheduleEndTime"):
        payload.pop(key, None)
    if reschedule_uid:
        payload["rescheduleUid"] = reschedule_uid
    if start is not None:
        payload["startTime"] = start.strftime("%Y-%m-%dT%H:%M:%SZ")
        payload["endTime"] = (start + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    if attendee_email is not None:
        payload["attendees"][0]["email"] = attendee_email
    if attendee_name is not None:
        payload["attendees"][0]["name"] = attendee_name
    payload.update(extra)
    return body


def meeting_ended_body(*, uid: str, booking_id: int, start: datetime) -> dict:
    body = copy.deepcopy(load_payload("MEETING_ENDED"))
    body.update(uid=uid, id=booking_id, startTime=iso(start), endTime=iso(start + timedelta(minutes=30)))
    return body


def no_show_body(*, uid: str, created: datetime, marks: dict[str, bool]) -> dict:
    return {
        "triggerEvent": "BOOKING_NO_SHOW_UPDATED",
        "createdAt": iso(created),
        "payload": {
            "message": "no-show updated",
            "bookingUid": uid,
            "attendees": [{"email": email, "noShow": flag} for email, flag in marks.items()],
        },
    }
