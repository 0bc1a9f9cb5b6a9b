"""Signed Cal.com webhook bodies for the benchmarks (the sender's side; no Django settings here).

The templates in calcom_bodies/ are copies of Cal.com's real shapes (calcom/payloads),
so every delivery is a realistic ~2-4 KB compact JSON body. Each generated body is distinct
(own uid, booking id, createdAt): the endpoint's duplicate detection never kicks in.
"""

from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

from calcom.signatures import sign_body
from devtools.demo.bodies import BOOKER_NOTES, EVENT_DESCRIPTION

TEMPLATES_DIR = Path(__file__).resolve().parent / "calcom_bodies"
BENCH_SECRET = "whsec_benchmark_secret"
_EPOCH = datetime(2025, 6, 1, tzinfo=UTC)


def compact(obj: dict) -> bytes:
    """Bytes as Cal.com's JSON.stringify emits them: compact, raw UTF-8."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@cache
def template(trigger: str) -> dict:
    root = json.loads((TEMPLATES_DIR / f"{trigger}.json").read_text(encoding="utf-8"))
    booking = root["payload"] if isinstance(root.get("payload"), dict) else root
    for key, text in (
        ("description", EVENT_DESCRIPTION),
        ("eventDescription", EVENT_DESCRIPTION),
        ("additionalNotes", BOOKER_NOTES),
    ):
        if key in booking:
            booking[key] = text
    return root


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class SignedBody:
    body: bytes
    signature: str


class BookingCreatedFactory:
    """Distinct, signed BOOKING_CREATED bodies, fast enough to pre-build tens of thousands.

    The template is serialised once with markers; each body substitutes its own uid, booking id
    and createdAt into the bytes (a few microseconds), then is signed.
    """

    def __init__(self, *, secret: str, run_prefix: str):
        body = copy.deepcopy(template("BOOKING_CREATED"))
        body["createdAt"] = "@@CREATED@@"
        body["payload"]["uid"] = "@@UID@@"
        body["payload"]["bookingId"] = "@@BOOKINGID@@"
        self._template = compact(body).replace(b'"@@BOOKINGID@@"', b"@@BOOKINGID@@")
        self._secret = secret
        self._prefix = run_prefix.encode("ascii")

    def make(self, number: int) -> SignedBody:
        created = iso(_EPOCH + timedelta(milliseconds=number)).encode("ascii")
        body = (
            self._template.replace(b"@@UID@@", self._prefix + b"%010d" % number)
            .replace(b"@@BOOKINGID@@", b"%d" % (10_000_000 + number))
            .replace(b"@@CREATED@@", created)
        )
        return SignedBody(body=body, signature=sign_body(body=body, secret=self._secret))


@dataclass(frozen=True)
class Delivery:
    trigger: str
    booking: int
    body: bytes


def booking_lifecycles(*, events: int, seed: int = 7, run_prefix: str = "bk") -> list[Delivery]:
    """A realistic mix of deliveries over many bookings, in the order Cal.com would send them.

    Every booking is created; some are paid right away, some rescheduled (a new uid that names
    the old one), some cancelled, most of the rest end (the flat MEETING_ENDED body). Bookings
    overlap in time, so the stream interleaves them the way a busy calendar does.
    """
    rng = random.Random(seed)
    timed: list[tuple[datetime, int, Delivery]] = []
    booking = 0
    sequence = 0
    while len(timed) < events:
        booking += 1
        booked_at = _EPOCH + timedelta(seconds=rng.uniform(0, 3 * 24 * 3600))
        start = booked_at + timedelta(days=2)
        # Each stage names the booking (uid, id, times) as it is at that moment.
        current = {
            "uid": f"{run_prefix}{booking:08d}a",
            "booking_id": 20_000_000 + booking * 2,
            "start": start,
            "end": start + timedelta(minutes=30),
        }
        stages = [("BOOKING_CREATED", booked_at, current)]
        if rng.random() < 0.3:
            stages.append(("BOOKING_PAID", booked_at + timedelta(minutes=3), current))
        if rng.random() < 0.25:
            moved = {
                "uid": f"{run_prefix}{booking:08d}b",
                "booking_id": current["booking_id"] + 1,
                "start": current["start"] + timedelta(days=1),
                "end": current["end"] + timedelta(days=1),
            }
            stages.append(
                (
                    "BOOKING_RESCHEDULED",
                    booked_at + timedelta(hours=5),
                    {**moved, "from_uid": current["uid"], "from_id": current["booking_id"]},
                )
            )
            current = moved
        if rng.random() < 0.15:
            stages.append(("BOOKING_CANCELLED", booked_at + timedelta(hours=20), current))
        elif rng.random() < 0.7:
            stages.append(("MEETING_ENDED", current["end"], current))
        for trigger, at, facts in stages:
            body = _lifecycle_body(trigger=trigger, at=at, booking=booking, booked_at=booked_at, **facts)
            sequence += 1
            timed.append((at, sequence, Delivery(trigger=trigger, booking=booking, body=body)))
    timed.sort(key=lambda item: (item[0], item[1]))
    return [delivery for _, _, delivery in timed[:events]]


def _lifecycle_body(
    *,
    trigger: str,
    at: datetime,
    booking: int,
    booked_at: datetime,
    start: datetime,
    end: datetime,
    uid: str,
    booking_id: int,
    from_uid: str = "",
    from_id: int | None = None,
) -> bytes:
    root = copy.deepcopy(template(trigger))
    guest = f"guest{booking}@example.org"
    if trigger == "MEETING_ENDED":  # flat body: the booking is the root, `id` not `bookingId`
        booking_fields = root
        root["id"] = booking_id
        root["createdAt"] = iso(booked_at)
        root["responses"]["email"]["value"] = guest
    else:
        root["createdAt"] = iso(at)
        booking_fields = root["payload"]
        booking_fields["bookingId"] = booking_id
        if booking_fields.get("attendees"):
            booking_fields["attendees"][0]["email"] = guest
    booking_fields["uid"] = uid
    booking_fields["startTime"] = iso(start)
    booking_fields["endTime"] = iso(end)
    if trigger == "BOOKING_RESCHEDULED":
        booking_fields["rescheduleUid"] = from_uid
        booking_fields["rescheduleId"] = from_id
    if trigger == "BOOKING_PAID":
        booking_fields["paymentId"] = 500_000 + booking
    return compact(root)
