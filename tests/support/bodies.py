"""Every Cal.com body the tests send, built in one place on top of calcom.samples.

Two kinds:
- bodies from Cal.com's vendored sample payloads (calcom/payloads) with our own facts
  (`load_payload`, `booking_body`, `meeting_ended_body`, `no_show_body`): fixed times around
  `BASE_TIME`, so tests can reason about order;
- generated bodies for a fresh booking (`fresh_booking_body`, `fresh_raw_body`): calcom.samples'
  builder, a random uid and times around now, for tests that only need "a valid delivery".
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

from calcom.bodies import meeting_envelope_body as wrap_meeting_payload
from calcom.samples import (
    PAYLOADS_DIR,
    build_sample_webhook_body,
    encode_webhook_body,
    new_sample_booking,
)

BASE_TIME = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)

# Bytes as Cal.com's JSON.stringify emits them: compact, raw UTF-8.
compact = encode_webhook_body

# Replaced by raw JSON text in `with_raw` (for values no Python str can carry into UTF-8).
MARK = "@@HOSTILE@@"


def load_payload(name: str) -> dict:
    """A fresh copy of one vendored sample body (calcom/payloads/<name>.json)."""
    return json.loads((PAYLOADS_DIR / f"{name}.json").read_text(encoding="utf-8"))


_BOOKING_IDS: dict[str, int] = {}


def booking_id_for(uid: str) -> int:
    """The Cal.com booking id of booking `uid` within this test process: stable per uid and
    never shared by two uids (an id derived from the salted hash() collided now and then, and
    two bookings sharing an id are one meeting to the matcher). Explicit ids in tests stay
    below 1,000,000."""
    return _BOOKING_IDS.setdefault(uid, 1_000_000 + len(_BOOKING_IDS))


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def at(minutes: int) -> datetime:
    return BASE_TIME + timedelta(minutes=minutes)


def booking_body(
    trigger: str,
    *,
    uid: str,
    created: datetime | str,
    booking_id: int | None = None,
    start: datetime | None = None,
    reschedule_uid: str | None = None,
    attendee_email: str | None = None,
    attendee_name: str | None = None,
    **extra,
) -> dict:
    """An envelope body for a booking trigger, from the closest sample, with our own facts.

    `created` is the envelope's createdAt (a string is used as is); the booking id defaults to
    one derived from the uid, so one uid is one Cal.com booking within a test run."""
    sample = {
        "BOOKING_REQUESTED": "BOOKING_REQUESTED",
        "BOOKING_RESCHEDULED": "BOOKING_RESCHEDULED",
        "BOOKING_CANCELLED": "BOOKING_CANCELLED",
        "BOOKING_REJECTED": "BOOKING_REJECTED",
        "BOOKING_PAID": "BOOKING_PAID",
        "BOOKING_PAYMENT_INITIATED": "BOOKING_PAYMENT_INITIATED",
    }.get(trigger, "BOOKING_CREATED")
    body = copy.deepcopy(load_payload(sample))
    body["triggerEvent"] = trigger
    body["createdAt"] = created if isinstance(created, str) else iso(created)
    payload = body["payload"]
    payload["uid"] = uid
    payload["bookingId"] = booking_id if booking_id is not None else booking_id_for(uid)
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


def meeting_ended_body(*, uid: str, booking_id: int | None = None, start: datetime | None = None) -> dict:
    """The flat MEETING_ENDED sample for booking `uid` (its id and times only when given)."""
    body = copy.deepcopy(load_payload("MEETING_ENDED"))
    body["uid"] = uid
    if booking_id is not None:
        body["id"] = booking_id
    if start is not None:
        body.update(startTime=iso(start), endTime=iso(start + timedelta(minutes=30)))
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


def cal_video_no_show_body(
    trigger: str,
    *,
    uid: str,
    created: datetime,
    booking_id: int | None = None,
    guests: list[str] | None = None,
) -> dict:
    """Cal.com's AFTER_GUESTS/AFTER_HOSTS_CAL_VIDEO_NO_SHOW sample for booking `uid` (the
    tasker's no-show check, sent through sendGenericWebhookPayload); `guests` names who did not
    join (GUESTS only; default: the sample's one guest)."""
    body = copy.deepcopy(load_payload(trigger))
    body["createdAt"] = iso(created)
    payload = body["payload"]
    payload["bookingUid"] = uid
    payload["bookingId"] = booking_id if booking_id is not None else booking_id_for(uid)
    if guests is not None:
        row = payload["attendees"][0]
        payload["guests"] = [{**row, "email": email, "noShow": True} for email in guests]
    return body


def meeting_envelope_body(*, uid: str, booking_id: int, created: datetime, start: datetime) -> dict:
    """MEETING_ENDED in the newer MeetingPayloadBuilder's envelope: the raw booking row (`id`,
    `user`) under `payload`, no `bookingId` or `organizer`."""
    flat = meeting_ended_body(uid=uid, booking_id=booking_id, start=start)
    return wrap_meeting_payload(flat_body=flat, created_at=iso(created))


def fresh_booking_body(trigger: str = "BOOKING_CREATED", **booking_fields) -> dict:
    """A generated body for a new booking (calcom.samples: random uid and id, times around now)."""
    return build_sample_webhook_body(trigger=trigger, booking=new_sample_booking(**booking_fields))


def fresh_raw_body(trigger: str = "BOOKING_CREATED") -> bytes:
    """`fresh_booking_body`, encoded as Cal.com sends it."""
    return encode_webhook_body(fresh_booking_body(trigger))


def with_raw(body: dict, json_text: str) -> bytes:
    """The compact body with MARK replaced by raw JSON text (e.g. an escape no str can carry
    through json.dumps into UTF-8, such as a lone surrogate)."""
    raw, quoted_mark = compact(body), f'"{MARK}"'.encode()
    assert raw.count(quoted_mark) == 1
    return raw.replace(quoted_mark, json_text.encode())
