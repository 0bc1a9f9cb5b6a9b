"""Pure, table-driven mapping from a booking as Cal.com's bookings API shows it to the events
its webhooks would have delivered.

The Cal.com sync (calsync/) reads bookings and hands each one to `plan_booking_sync`, which
answers with the webhook-equivalent events (`CalComEvent`s with the trigger that would have
carried that state, and the Cal.com time it happened) to apply through
`meetings.services.apply.apply_calcom_event`, so a healed meeting goes through exactly the
status mapping and ordering rules a delivered one does. No ORM and no I/O here.

Times: every change happened at the booking's `updatedAt`; a completion or no-show at its `end`,
as MEETING_ENDED would have. An accepted booking whose end has passed is "as of its end": a
later `updatedAt` (a no-show mark, metadata) does not make its acceptance newer than its end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from calcom.api.bookings import CalComBooking
from calcom.parsing import Attendee, CalComEvent


@dataclass(frozen=True)
class BookingRow:
    """One row of the table: which booking state it covers and what it stands for."""

    status: str  # the API's booking status
    condition: str  # a name from CONDITIONS
    triggers: tuple[str, ...]  # webhook triggers that would have carried this state, in order
    follow_successor: bool = False  # the old half of a reschedule: also sync the new booking


# A condition on the booking beyond its status; `now` is the time of the sync.
CONDITIONS: dict[str, Callable[[CalComBooking, datetime], bool]] = {
    "always": lambda booking, now: True,
    "rescheduled_away": lambda booking, now: bool(booking.rescheduled_to_uid),
    "upcoming": lambda booking, now: not _ended(booking=booking, now=now),
    "ended_all_absent": lambda booking, now: (
        _ended(booking=booking, now=now) and booking.all_attendees_absent
    ),
    "ended": lambda booking, now: _ended(booking=booking, now=now),
}

# The first row whose status and condition match decides. BOOKING_CREATED stands for
# BOOKING_RESCHEDULED when the booking replaced another one (`rescheduledFromUid`).
BOOKING_TABLE: tuple[BookingRow, ...] = (
    BookingRow("accepted", "upcoming", ("BOOKING_CREATED",)),
    BookingRow("accepted", "ended_all_absent", ("BOOKING_CREATED", "BOOKING_NO_SHOW_UPDATED")),
    BookingRow("accepted", "ended", ("BOOKING_CREATED", "MEETING_ENDED")),
    BookingRow("pending", "always", ("BOOKING_REQUESTED",)),
    BookingRow("rejected", "always", ("BOOKING_REJECTED",)),
    # The old half of a reschedule: the meeting moved to the new uid, it was not cancelled.
    # Its own step only links it (and the booking it came from) to the chain, at the moment
    # it was booked; the new booking carries the meeting's state.
    BookingRow("cancelled", "rescheduled_away", ("BOOKING_CREATED",), follow_successor=True),
    BookingRow("cancelled", "always", ("BOOKING_CANCELLED",)),
)

# Cal.com's booking status as webhooks record it on the meeting (`cal_status`).
CAL_STATUS = {"accepted": "ACCEPTED", "pending": "PENDING", "cancelled": "CANCELLED", "rejected": "REJECTED"}


@dataclass(frozen=True)
class BookingSyncPlan:
    """What to apply for one booking: the events in order, and the booking that replaced it
    (to sync too), if any. `unknown_reason` set: the booking's status is not one we know."""

    booking_uid: str
    events: tuple[CalComEvent, ...] = ()
    successor_uid: str = ""
    unknown_reason: str = ""


def row_for(*, booking: CalComBooking, now: datetime) -> BookingRow | None:
    return next(
        (
            row
            for row in BOOKING_TABLE
            if row.status == booking.status and CONDITIONS[row.condition](booking, now)
        ),
        None,
    )


def plan_booking_sync(*, booking: CalComBooking, now: datetime) -> BookingSyncPlan:
    """The webhook-equivalent events for `booking` as the API shows it at `now`."""
    row = row_for(booking=booking, now=now)
    if row is None:
        return BookingSyncPlan(
            booking_uid=booking.uid, unknown_reason=f"booking status {booking.status!r} is not one we know"
        )
    events = tuple(_event(booking=booking, trigger=trigger, row=row) for trigger in row.triggers)
    return BookingSyncPlan(
        booking_uid=booking.uid,
        events=events,
        successor_uid=booking.rescheduled_to_uid if row.follow_successor else "",
    )


def _ended(*, booking: CalComBooking, now: datetime) -> bool:
    return booking.end is not None and booking.end <= now


def _event(*, booking: CalComBooking, trigger: str, row: BookingRow) -> CalComEvent:
    if trigger == "BOOKING_CREATED" and booking.rescheduled_from_uid:
        trigger = "BOOKING_RESCHEDULED"
    attendees = tuple(
        Attendee(email=person.email.strip().lower()[:254], name=person.name.strip()[:255])
        for person in booking.attendees
        if person.email.strip()
    )
    host = booking.hosts[0] if booking.hosts else None
    meeting_url = booking.meeting_url.strip()
    return CalComEvent(
        trigger=trigger,
        created_at=_occurred_at(booking=booking, trigger=trigger, row=row),
        uid=booking.uid,
        booking_id=booking.booking_id,
        reschedule_uid=booking.rescheduled_from_uid,
        start_time=booking.start,
        end_time=booking.end,
        title=booking.title.strip()[:500],
        cal_status=CAL_STATUS.get(booking.status, ""),
        attendees=attendees,
        organizer_name=host.name.strip()[:255] if host else "",
        organizer_email=host.email.strip().lower()[:254] if host else "",
        location=booking.location.strip()[:1000],
        video_url=meeting_url[:2000] if meeting_url.startswith(("https://", "http://")) else "",
        cancellation_reason=booking.cancellation_reason if trigger in _CANCELLING else "",
        no_show_marks=tuple((attendee.email, True) for attendee in attendees)
        if trigger == "BOOKING_NO_SHOW_UPDATED"
        else (),
    )


_CANCELLING = frozenset({"BOOKING_CANCELLED", "BOOKING_REJECTED"})


def _occurred_at(*, booking: CalComBooking, trigger: str, row: BookingRow) -> datetime | None:
    """The Cal.com time of the change the event stands for."""
    if trigger in ("MEETING_ENDED", "BOOKING_NO_SHOW_UPDATED"):
        return booking.end
    if row.follow_successor:
        # The old half: its acceptance happened when it was booked, before it was replaced.
        return booking.created_at or booking.updated_at
    updated_at = booking.updated_at or booking.created_at
    if row.condition.startswith("ended") and booking.end is not None and updated_at is not None:
        return min(updated_at, booking.end)
    return updated_at
