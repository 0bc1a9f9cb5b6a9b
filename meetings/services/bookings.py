"""Bookings made or adopted through Cal.com's API (POST /api/meetings/schedule, /link).

Cal.com is called outside any transaction; the booking is then stored the way webhook
processing stores one, so it races safely with the booking's own webhooks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction

from calcom.api.bookings import CalComBooking, create_booking, fetch_booking
from meetings.models import BookingUid, Meeting, MeetingStatus, MeetingStatusChange, Target
from meetings.selectors import meeting_by_any_uid, meeting_ids_for_booking, target_for_emails
from meetings.services.apply import MAX_LOCK_ROUNDS

# Cal.com API v2 booking statuses → (our status, Cal.com's status as webhooks spell it).
_API_BOOKING_STATUSES = {
    "accepted": (MeetingStatus.SCHEDULED, "ACCEPTED"),
    "pending": (MeetingStatus.SCHEDULED, "PENDING"),
    "cancelled": (MeetingStatus.CANCELLED, "CANCELLED"),
    "rejected": (MeetingStatus.CANCELLED, "REJECTED"),
}


@dataclass(frozen=True)
class StoredBooking:
    meeting: Meeting
    created: bool  # False: the meeting was there already (its webhook came first, or linked before)


def schedule_meeting(
    *,
    start: datetime,
    event_type_id: int,
    attendee_name: str,
    attendee_email: str,
    attendee_time_zone: str,
    target: Target | None = None,
) -> StoredBooking:
    """Book a slot through Cal.com and store the meeting under the new booking's uid.

    Cal.com is called outside any transaction (no row or lock is held while we wait on the
    network); when it refuses or fails, its `CalComError` propagates and nothing is stored.
    The booking's own BOOKING_CREATED webhook, before or after this returns, updates the same
    meeting.
    """
    booking = create_booking(
        start=start,
        event_type_id=event_type_id,
        attendee_name=attendee_name,
        attendee_email=attendee_email,
        attendee_time_zone=attendee_time_zone,
    )
    return store_calcom_booking(booking=booking, target=target, reason="booked through the API")


def link_booking(*, booking_uid: str, target: Target | None = None) -> StoredBooking:
    """Adopt a booking made elsewhere (Cal.com's page, another tool) by its uid.

    A booking we already know (any uid of its reschedule chain) is linked without asking
    Cal.com; otherwise it is fetched (`GET /v2/bookings/{uid}`) and stored.
    """
    existing = meeting_by_any_uid(uid=booking_uid)
    if existing is not None:
        with transaction.atomic():
            meeting = _lock_meeting_of_uid(uid=booking_uid)
            if meeting is not None:
                _fill_in_booking(meeting=meeting, booking=None, target=target)
                return StoredBooking(meeting=meeting, created=False)
    booking = fetch_booking(uid=booking_uid)
    return store_calcom_booking(booking=booking, target=target, reason="linked through the API")


def store_calcom_booking(*, booking: CalComBooking, target: Target | None, reason: str) -> StoredBooking:
    """Store a booking Cal.com's API told us about, racing safely with its webhooks.

    The meeting is created the way webhook processing creates one (`cal_event_id` = uid plus a
    BookingUid row, in one transaction), so the unique uid decides a race with a concurrent
    BOOKING_CREATED: whoever loses finds and locks the winner's row. An existing meeting only
    gets the target and the details it is missing: its status and event clock come from
    webhooks, and an API answer (older news than any webhook) never moves them.
    """
    with transaction.atomic():
        meeting = _lock_meeting_of_uid(uid=booking.uid)
        if meeting is None:
            try:
                with transaction.atomic():
                    meeting = _create_meeting_from_booking(booking=booking, target=target, reason=reason)
                return StoredBooking(meeting=meeting, created=True)
            except IntegrityError:
                # A webhook for this booking committed its meeting first.
                meeting = _lock_meeting_of_uid(uid=booking.uid)
                if meeting is None:
                    raise
        _fill_in_booking(meeting=meeting, booking=booking, target=target)
        return StoredBooking(meeting=meeting, created=False)


def _lock_meeting_of_uid(*, uid: str) -> Meeting | None:
    """The meeting that has (or had) this uid, locked until the caller's transaction ends."""
    for _ in range(MAX_LOCK_ROUNDS):
        ids = meeting_ids_for_booking(uids=[uid])
        if not ids:
            return None
        meeting = Meeting.objects.select_for_update().filter(id=ids[0]).first()
        # Concurrent deliveries may merge chains or move the alias while we wait for the lock.
        if meeting is not None and meeting.id in meeting_ids_for_booking(uids=[uid]):
            return meeting
    raise RuntimeError(f"could not lock the meeting of booking {uid}")


def _create_meeting_from_booking(*, booking: CalComBooking, target: Target | None, reason: str) -> Meeting:
    status, cal_status = _API_BOOKING_STATUSES.get(
        booking.status, (MeetingStatus.SCHEDULED, booking.status.upper())
    )
    meeting = Meeting(cal_event_id=booking.uid, status=status, cal_status=cal_status[:20])
    _fill_in_booking(meeting=meeting, booking=booking, target=target, save=False)
    if status == MeetingStatus.CANCELLED:
        meeting.cancellation_reason = booking.cancellation_reason
    meeting.save()
    BookingUid.objects.create(uid=booking.uid, meeting=meeting)
    MeetingStatusChange.objects.create(meeting=meeting, from_status="", to_status=status, reason=reason[:500])
    return meeting


def _fill_in_booking(
    *,
    meeting: Meeting,
    booking: CalComBooking | None,
    target: Target | None,
    save: bool = True,
) -> None:
    """Set the target (when one is given) and the booking details the meeting is missing."""
    if target is not None:
        meeting.target = target
    if booking is not None:
        attendee = booking.attendees[0] if booking.attendees else None
        host = booking.hosts[0] if booking.hosts else None
        video_url = booking.meeting_url or (
            booking.location if booking.location.startswith(("https://", "http://")) else ""
        )
        for field_name, value in (
            ("cal_booking_id", booking.booking_id),
            ("start_time", booking.start),
            ("end_time", booking.end),
            ("title", booking.title[:500]),
            ("attendee_name", attendee.name[:255] if attendee else ""),
            ("attendee_email", attendee.email.lower()[:254] if attendee else ""),
            ("organizer_name", host.name[:255] if host else ""),
            ("organizer_email", host.email.lower()[:254] if host else ""),
            ("location", booking.location[:1000]),
            ("video_url", video_url[:2000]),
        ):
            if value and not getattr(meeting, field_name):
                setattr(meeting, field_name, value)
        if meeting.target_id is None:
            meeting.target = target_for_emails(emails=[a.email for a in booking.attendees])
    if save:
        meeting.save()
