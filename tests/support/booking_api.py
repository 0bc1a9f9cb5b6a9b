"""Bookings as Cal.com's bookings API (2024-08-13) shows them, for the fake Cal.com server.

`api_booking` writes the same facts the webhook bodies of tests/support/bodies.py carry (the
vendored sample's title, organizer, attendees and location), so a meeting built from webhooks
and one healed from the API can be compared field by field.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tests.support.bodies import iso, load_payload

TITLE = "30 Min Meeting between Alex Rivera and Priya Shah"
ORGANIZER = {
    "id": 4821,
    "name": "Alex Rivera",
    "email": "alex@rivera-consulting.com",
    "username": "alexrivera",
}
# The video link of the BOOKING_CREATED sample body, so both views of a booking agree.
VIDEO_URL = load_payload("BOOKING_CREATED")["payload"]["metadata"]["videoCallUrl"]
ATTENDEES = (("Priya Shah", "priya.shah@example.org"), ("Tom Becker", "tom.becker@example.org"))


def api_booking(
    *,
    uid: str,
    booking_id: int,
    start: datetime,
    created: datetime,
    updated: datetime | None = None,
    status: str = "accepted",
    rescheduled_from: str | None = None,
    rescheduled_to: str | None = None,
    cancellation_reason: str | None = None,
    absent: bool = False,
    length_minutes: int = 30,
    meeting_url: str = VIDEO_URL,
) -> dict[str, Any]:
    end = start + timedelta(minutes=length_minutes)
    return {
        "id": booking_id,
        "uid": uid,
        "title": TITLE,
        "description": "",
        "hosts": [{**ORGANIZER, "timeZone": "Europe/London"}],
        "status": status,
        "cancellationReason": cancellation_reason,
        "rescheduledFromUid": rescheduled_from,
        "rescheduledToUid": rescheduled_to,
        "start": iso(start),
        "end": iso(end),
        "duration": length_minutes,
        "eventTypeId": 1180342,
        "eventType": {"id": 1180342, "slug": "30min"},
        "meetingUrl": meeting_url,
        "location": "integrations:daily",
        "absentHost": False,
        "createdAt": iso(created),
        "updatedAt": iso(updated or created),
        "metadata": {},
        "attendees": [
            {"name": name, "email": email, "timeZone": "Europe/London", "language": "en", "absent": absent}
            for name, email in ATTENDEES
        ],
        "guests": [],
    }
