"""Realistic Cal.com webhook bodies for any trigger, signed and posted like Cal.com does.

Used by `manage.py send_test_webhook` (like `stripe trigger`) and by tests: a fresh booking and
the current time, built by `calcom.bodies` (which the demo data builds its bodies with too).
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.utils import timezone

from calcom.bodies import BodyTimes, SampleBooking, webhook_body
from calcom.triggers import DELIVERABLE_TRIGGERS

# Cal.com's own sample bodies, one per trigger, as its code builds them.
PAYLOADS_DIR = Path(__file__).resolve().parent / "payloads"


def new_sample_booking(*, uid: str = "", booking_id: int | None = None, **fields: Any) -> SampleBooking:
    """A booking with a fresh Cal.com-like uid (22 alphanumerics) and id unless given."""
    from django.utils.crypto import get_random_string

    return SampleBooking(
        uid=uid or get_random_string(22),
        booking_id=booking_id if booking_id is not None else random.randint(100_000, 9_999_999),
        **fields,
    )


def build_sample_webhook_body(
    *, trigger: str, booking: SampleBooking, now: datetime | None = None, start: datetime | None = None
) -> dict:
    """A realistic Cal.com body (payload version 2021-10-20) for `trigger`, shaped like the
    bodies Cal.com sends (calcom/payloads), with a fresh `createdAt`: the booking starts
    tomorrow on the hour (MEETING_STARTED/ENDED: it starts or ends now), or at `start`.
    """
    if trigger not in DELIVERABLE_TRIGGERS:
        raise ValueError(f"unknown trigger {trigger!r}; one of: {', '.join(DELIVERABLE_TRIGGERS)}")
    now = now or timezone.now()
    if start is not None:
        end = start + timedelta(minutes=booking.length)
    else:
        start = (now + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
        end = start + timedelta(minutes=30)
        if trigger == "MEETING_STARTED":
            # Sent by Cal.com's cron at the booking's start or end: that moment is now.
            start, end = now, now + timedelta(minutes=30)
        elif trigger == "MEETING_ENDED":
            start, end = now - timedelta(minutes=30), now
    if trigger == "BOOKING_RESCHEDULED" and not booking.reschedule_uid:
        booking = replace(booking, reschedule_uid=new_sample_booking().uid)
    times = BodyTimes(
        created_at=_calcom_time(now, milliseconds=True),
        start=_calcom_time(start),
        end=_calcom_time(end),
        start_ms=_calcom_time(start, milliseconds=True),
        end_ms=_calcom_time(end, milliseconds=True),
        start_offset=start.isoformat(timespec="seconds"),
        end_offset=end.isoformat(timespec="seconds"),
        previous_start=_calcom_time(start - timedelta(days=1)),
        previous_end=_calcom_time(end - timedelta(days=1)),
        booked_at=_calcom_time(start - timedelta(days=1), milliseconds=True),
        out_of_office_end=(start + timedelta(days=7)).isoformat(timespec="seconds"),
        now=_calcom_time(now),
    )
    return webhook_body(trigger=trigger, booking=booking, times=times, rng=random.Random())


# The booking story `send_test_webhook --story` plays, in Cal.com's order: booked, paid, held,
# then an attendee marked as a no-show and the mark taken back. The meeting ends completed,
# with its HITs, and every step shows in its timeline. (trigger, no-show mark or None)
BOOKING_STORY: tuple[tuple[str, bool | None], ...] = (
    ("BOOKING_CREATED", None),
    ("BOOKING_PAID", None),
    ("MEETING_ENDED", None),
    ("BOOKING_NO_SHOW_UPDATED", True),
    ("BOOKING_NO_SHOW_UPDATED", False),
)


def booking_story_bodies(*, booking: SampleBooking, now: datetime) -> list[tuple[str, dict]]:
    """The bodies of BOOKING_STORY about one booking that ended a few minutes before `now`.

    Each is dated as Cal.com would date it, so VANI applies them in story order: booked and paid
    the day before, MEETING_ENDED at the booking's end (its flat body's moment), the no-show
    marks a minute and two minutes after it.
    """
    end = (now - timedelta(minutes=3)).replace(second=0, microsecond=0)
    start = end - timedelta(minutes=booking.length)
    moments = {
        "BOOKING_CREATED": start - timedelta(days=1),
        "BOOKING_PAID": start - timedelta(days=1) + timedelta(minutes=1),
        "MEETING_ENDED": end,
    }
    bodies = []
    for index, (trigger, no_show) in enumerate(BOOKING_STORY):
        created = moments.get(trigger) or end + timedelta(minutes=index - 2)
        body = build_sample_webhook_body(trigger=trigger, booking=booking, now=created, start=start)
        if no_show is not None:
            body["payload"]["attendees"] = [{"email": booking.attendee_email, "noShow": no_show}]
            verb = "marked as" if no_show else "no longer marked as"
            body["payload"]["message"] = f"{booking.attendee_email} {verb} no-show"
        bodies.append((trigger, body))
    return bodies


def encode_webhook_body(body: dict) -> bytes:
    """Bytes as Cal.com's JSON.stringify writes them: compact, non-ASCII as raw UTF-8."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class SampleDeliveryAnswer:
    status: int
    body: str
    elapsed_ms: float


def post_sample_webhook(*, body: bytes, url: str, secret: str, timeout: float = 10.0) -> SampleDeliveryAnswer:
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
    response = requests.post(url, data=body, headers=headers, timeout=timeout, allow_redirects=False)
    return SampleDeliveryAnswer(
        status=response.status_code,
        body=response.text,
        elapsed_ms=(time.monotonic() - started) * 1000,
    )


def _calcom_time(moment: datetime, *, milliseconds: bool = False) -> str:
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds" if milliseconds else "seconds")
    return text.replace("+00:00", "Z")
