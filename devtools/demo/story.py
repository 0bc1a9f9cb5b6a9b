"""What happens to one demo booking: its triggers and their timing, how each delivery fared,
and what processing made of the meeting (in the spirit of meetings/status_mapping.py).

Pure functions of a random stream and a state dict: the seeder calls them in a fixed order, so
the same seed tells the same stories.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from calcom.bodies import recording_link, transcript_link

# Delays (hours) that mean "when the meeting starts / ends" rather than "after the previous".
AT_START, AT_END = -1, -2

_NEW_STATUS = {
    "BOOKING_CREATED": "scheduled",
    "BOOKING_REQUESTED": "scheduled",
    "BOOKING_RESCHEDULED": "scheduled",
    "BOOKING_CANCELLED": "cancelled",
    "BOOKING_REJECTED": "cancelled",
    "BOOKING_PAID": "scheduled",
    "BOOKING_PAYMENT_INITIATED": "scheduled",
    "MEETING_ENDED": "completed",
    "BOOKING_NO_SHOW_UPDATED": "no_show",
}
_CAL_STATUS = {
    "BOOKING_CREATED": "ACCEPTED",
    "BOOKING_REQUESTED": "PENDING",
    "BOOKING_RESCHEDULED": "ACCEPTED",
    "BOOKING_CANCELLED": "CANCELLED",
    "BOOKING_REJECTED": "REJECTED",
}


def booking_story(*, rng: random.Random, price: int) -> list[tuple[str, float]]:
    """The triggers of one booking, each with a typical delay (hours) after the previous."""
    steps: list[tuple[str, float]] = [("BOOKING_REQUESTED" if rng.random() < 0.1 else "BOOKING_CREATED", 0)]
    if steps[0][0] == "BOOKING_REQUESTED" and rng.random() < 0.3:
        return [*steps, ("BOOKING_REJECTED", rng.uniform(1, 20))]
    if price:
        steps += [("BOOKING_PAYMENT_INITIATED", 0.01), ("BOOKING_PAID", rng.uniform(0.02, 2))]
    for _ in range(rng.choices((0, 1, 2), weights=(80, 15, 5))[0]):
        steps.append(("BOOKING_RESCHEDULED", rng.uniform(2, 72)))
    if rng.random() < 0.15:
        return [*steps, ("BOOKING_CANCELLED", rng.uniform(1, 48))]
    steps.append(("MEETING_STARTED", AT_START))
    if rng.random() < 0.08:
        steps += [("AFTER_GUESTS_CAL_VIDEO_NO_SHOW", 0.1), ("BOOKING_NO_SHOW_UPDATED", rng.uniform(0.5, 3))]
        return steps
    steps.append(("MEETING_ENDED", AT_END))
    if rng.random() < 0.5:
        steps += [("RECORDING_READY", 0.2), ("RECORDING_TRANSCRIPTION_GENERATED", 0.1)]
    return steps


def event_time(
    *, rng: random.Random, previous: datetime, delay: float, start: datetime, length: int
) -> datetime:
    jitter = timedelta(milliseconds=rng.randint(40, 900))
    if delay == AT_START:
        return max(previous, start) + jitter
    if delay == AT_END:
        return max(previous, start + timedelta(minutes=length)) + jitter
    return previous + timedelta(hours=delay) + jitter


def delivery_status(*, rng: random.Random, received_at: datetime, now: datetime) -> tuple[str, str]:
    """How a delivery fared: (status, reason), a plausible production mix."""
    roll = rng.random()
    if received_at > now - timedelta(minutes=10) and roll < 0.3:
        return "received", ""
    if roll < 0.014:
        return "failed", ""
    if roll < 0.019:
        return "dead", ""
    if roll < 0.0195:
        return "processing", ""
    if roll < 0.035:
        return "ignored", "stale event: older than the last applied event"
    return "processed", ""


def apply_processed_event(*, trigger: str, moment: datetime, state: dict) -> str | None:
    """Change the meeting `state` as processing `trigger` did; the new status when it changed."""
    new_status = _NEW_STATUS.get(trigger)
    cal_status = _CAL_STATUS.get(trigger)
    if cal_status:
        state["cal_status"] = cal_status
    if trigger == "BOOKING_PAYMENT_INITIATED" and state["payment"] != "paid":
        state["payment"] = "pending"
    if trigger == "BOOKING_PAID":
        state["payment"], state["paid_at"] = "paid", moment
    if trigger == "BOOKING_NO_SHOW_UPDATED":
        state["no_show"] = ["marked"]
    if trigger == "RECORDING_READY":
        state["recording_url"] = recording_link(uid=state["uid"])
    if trigger == "RECORDING_TRANSCRIPTION_GENERATED":
        state["transcripts"] = [transcript_link(uid=state["uid"])]
    if new_status:
        state["last_event_at"] = moment
    if new_status and new_status != state["status"]:
        state["status"] = new_status
        return new_status
    return None
