"""Write-side business logic for meetings: apply a Cal.com event to the right Meeting."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.utils import timezone

from . import status_mapping
from .calcom_bookings import CalComBooking, create_booking, fetch_booking
from .models import BookingUid, Meeting, MeetingStatus, MeetingStatusChange, PaymentStatus, Target
from .selectors import meeting_by_any_uid, meeting_ids_for_booking, target_for_emails

if TYPE_CHECKING:
    from webhooks.calcom import CalComEvent
    from webhooks.models import WebhookEvent

# Concurrent first deliveries for one unknown booking race to create it; the loser retries and
# finds the winner's row. More than a few rounds means something else is wrong.
_MAX_LOCK_ROUNDS = 5


@dataclass(frozen=True)
class ApplyResult:
    meeting: Meeting | None
    plan: status_mapping.Plan
    created: bool = False


def apply_calcom_event(*, event: CalComEvent, source: WebhookEvent | None = None) -> ApplyResult:
    """Apply one parsed Cal.com event to its meeting. Call inside `transaction.atomic()`.

    The meeting row is locked (SELECT … FOR UPDATE) for the rest of the caller's transaction,
    so concurrent deliveries for one booking are applied one after another.
    """
    uids = [uid for uid in (event.uid, event.reschedule_uid) if uid]
    booking_ids = [event.booking_id] if event.booking_id is not None else []
    if not uids and not booking_ids:
        return ApplyResult(
            meeting=None,
            plan=status_mapping.Plan(ignored_reason=f"{event.trigger} is not about a booking"),
        )

    meeting, created = _lock_meeting(event=event, uids=uids, booking_ids=booking_ids)
    if meeting is None:
        return ApplyResult(
            meeting=None,
            plan=status_mapping.Plan(
                ignored_reason=f"{event.trigger} names booking id {event.booking_id}, "
                "which we have never seen, and no booking uid to create it from"
            ),
        )

    facts = status_mapping.EventFacts(
        trigger=event.trigger,
        occurred_at=event.occurred_at,
        # The uid it reschedules is now an alias of this meeting (linked under the lock).
        reschedules_this_meeting=bool(event.reschedule_uid),
        no_show_marks=event.no_show_marks,
    )
    state = status_mapping.MeetingState(
        status=None if created else meeting.status,
        last_event_at=meeting.last_event_at,
        uid_is_current=not event.uid or event.uid == meeting.cal_event_id,
        no_show_emails=frozenset(meeting.no_show_emails or ()),
        payment_status=meeting.payment_status,
    )
    plan = status_mapping.plan_transition(facts=facts, state=state)

    if plan.ignored:
        return ApplyResult(meeting=meeting, plan=plan, created=created)

    previous_status = "" if created else meeting.status
    _apply_plan(meeting=meeting, event=event, plan=plan, is_reschedule=facts.reschedules_this_meeting)
    meeting.save()
    if plan.new_status and plan.new_status != previous_status:
        MeetingStatusChange.objects.create(
            meeting=meeting,
            from_status=previous_status,
            to_status=plan.new_status,
            event=source,
            reason=_change_reason(event=event),
        )
    return ApplyResult(meeting=meeting, plan=plan, created=created)


def _lock_meeting(
    *, event: CalComEvent, uids: list[str], booking_ids: list[int]
) -> tuple[Meeting | None, bool]:
    for _ in range(_MAX_LOCK_ROUNDS):
        ids = meeting_ids_for_booking(uids=uids, booking_ids=booking_ids)
        if ids:
            locked = list(Meeting.objects.select_for_update().filter(id__in=ids).order_by("id"))
            # An alias may have moved between the lookup and the lock; look again under the lock.
            if sorted(m.id for m in locked) != meeting_ids_for_booking(
                uids=uids, booking_ids=booking_ids
            ):
                continue
            meeting = locked[0] if len(locked) == 1 else _merge_meetings(meetings=locked)
            if not _link_uids(meeting=meeting, uids=uids):
                continue  # a uid of this event was just given to another meeting: merge them
            return meeting, False
        if not event.uid:
            return None, False
        try:
            with transaction.atomic():
                meeting = Meeting.objects.create(cal_event_id=event.uid)
                BookingUid.objects.bulk_create([BookingUid(uid=uid, meeting=meeting) for uid in uids])
            return meeting, True
        except IntegrityError:
            continue  # another delivery created it first; lock theirs
    raise RuntimeError(f"could not lock or create the meeting for booking {uids or booking_ids}")


def _merge_meetings(*, meetings: list[Meeting]) -> Meeting:
    """Two meetings turned out to be one reschedule chain (deliveries arrived out of order).

    The one with the latest applied event keeps its state; the others' uids, events, audit rows
    and notifications move to it.
    """
    from notifications.models import Notification
    from webhooks.models import WebhookEvent

    epoch = timezone.datetime.min.replace(tzinfo=timezone.get_current_timezone())
    survivor = max(meetings, key=lambda m: (m.last_event_at or epoch, m.id))
    for other in meetings:
        if other.id == survivor.id:
            continue
        BookingUid.objects.filter(meeting=other).update(meeting=survivor)
        WebhookEvent.objects.filter(meeting=other).update(meeting=survivor)
        MeetingStatusChange.objects.filter(meeting=other).update(meeting=survivor)
        for notification in Notification.objects.filter(meeting=other):
            clash = Notification.objects.filter(
                meeting=survivor,
                kind=notification.kind,
                channel=notification.channel,
                recipient=notification.recipient,
            ).exists()
            if clash:
                notification.delete()
            else:
                notification.meeting = survivor
                notification.save(update_fields=["meeting"])
        survivor.target = survivor.target or other.target
        other.delete()
    return survivor


def _link_uids(*, meeting: Meeting, uids: list[str]) -> bool:
    """Make every uid of the event an alias of `meeting`. False if one belongs to another
    meeting (created concurrently for the same chain); the caller then looks again and merges."""
    known = set(BookingUid.objects.filter(uid__in=uids).values_list("uid", "meeting_id"))
    if any(meeting_id != meeting.id for _, meeting_id in known):
        return False
    missing = [uid for uid in uids if uid not in {uid for uid, _ in known}]
    if not missing:
        return True
    try:
        with transaction.atomic():
            BookingUid.objects.bulk_create([BookingUid(uid=uid, meeting=meeting) for uid in missing])
    except IntegrityError:
        return False
    return True


def _apply_plan(
    *, meeting: Meeting, event: CalComEvent, plan: status_mapping.Plan, is_reschedule: bool
) -> None:
    if plan.update_booking_details:
        _copy_booking_details(meeting=meeting, event=event)
    if is_reschedule or event.trigger == "BOOKING_RESCHEDULED":
        # The meeting moves to the new booking; a "request reschedule" cancellation is undone.
        if event.uid:
            meeting.cal_event_id = event.uid
        if event.booking_id is not None:
            meeting.cal_booking_id = event.booking_id
        meeting.cancellation_reason = ""
        meeting.reschedule_requested = False
    if plan.cal_status:
        meeting.cal_status = plan.cal_status
    if plan.new_status == MeetingStatus.CANCELLED:
        meeting.cancellation_reason = event.cancellation_reason
        meeting.reschedule_requested = event.request_reschedule
    if plan.new_status:
        meeting.status = plan.new_status
    if plan.payment:
        meeting.payment_status = plan.payment
        if plan.payment == PaymentStatus.PAID:
            meeting.paid_at = event.occurred_at or timezone.now()
    if event.payment_id and event.trigger in ("BOOKING_PAID", "BOOKING_PAYMENT_INITIATED"):
        meeting.payment_id = event.payment_id
    if event.price and meeting.payment_amount is None:
        meeting.payment_amount = event.price
    if event.currency and not meeting.payment_currency:
        meeting.payment_currency = event.currency
    if plan.no_show_emails is not None:
        meeting.no_show_emails = sorted(plan.no_show_emails)
    if event.recording_url:
        meeting.recording_url = event.recording_url
    if event.transcript_urls:
        meeting.transcript_urls = list(event.transcript_urls)
    if plan.advance_clock and event.occurred_at is not None:
        if meeting.last_event_at is None or event.occurred_at > meeting.last_event_at:
            meeting.last_event_at = event.occurred_at


def _copy_booking_details(*, meeting: Meeting, event: CalComEvent) -> None:
    """Refresh what the payload says about the booking; absent fields keep what we have."""
    if event.booking_id is not None and (not event.uid or event.uid == meeting.cal_event_id):
        meeting.cal_booking_id = event.booking_id
    if event.start_time:
        meeting.start_time = event.start_time
    if event.end_time:
        meeting.end_time = event.end_time
    for field_name, value in (
        ("title", event.title),
        ("organizer_name", event.organizer_name),
        ("organizer_email", event.organizer_email),
        ("location", event.location),
        ("video_url", event.video_url),
    ):
        if value:
            setattr(meeting, field_name, value)
    if event.attendee:
        meeting.attendee_email = event.attendee.email[:254]
        meeting.attendee_name = event.attendee.name[:255] or meeting.attendee_name
    if meeting.target_id is None:
        meeting.target = target_for_emails(emails=[a.email for a in event.attendees])


def _change_reason(*, event: CalComEvent) -> str:
    reason = event.trigger
    if event.cancellation_reason:
        reason += f": {event.cancellation_reason}"
    if event.request_reschedule:
        reason += " (reschedule requested)"
    if event.reschedule_uid:
        reason += f" (from {event.reschedule_uid})"
    return reason[:500]


def link_target(*, meeting: Meeting, target: Target | None) -> Meeting:
    meeting.target = target
    meeting.save(update_fields=["target", "updated_at"])
    return meeting


# --- Booking through the REST API (POST /api/meetings/schedule) --------------------------------

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


def store_calcom_booking(
    *, booking: CalComBooking, target: Target | None, reason: str
) -> StoredBooking:
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
                    meeting = _create_meeting_from_booking(
                        booking=booking, target=target, reason=reason
                    )
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
    for _ in range(_MAX_LOCK_ROUNDS):
        ids = meeting_ids_for_booking(uids=[uid])
        if not ids:
            return None
        meeting = Meeting.objects.select_for_update().filter(id=ids[0]).first()
        # Concurrent deliveries may merge chains or move the alias while we wait for the lock.
        if meeting is not None and meeting.id in meeting_ids_for_booking(uids=[uid]):
            return meeting
    raise RuntimeError(f"could not lock the meeting of booking {uid}")


def _create_meeting_from_booking(
    *, booking: CalComBooking, target: Target | None, reason: str
) -> Meeting:
    status, cal_status = _API_BOOKING_STATUSES.get(
        booking.status, (MeetingStatus.SCHEDULED, booking.status.upper())
    )
    meeting = Meeting(cal_event_id=booking.uid, status=status, cal_status=cal_status[:20])
    _fill_in_booking(meeting=meeting, booking=booking, target=target, save=False)
    if status == MeetingStatus.CANCELLED:
        meeting.cancellation_reason = booking.cancellation_reason
    meeting.save()
    BookingUid.objects.create(uid=booking.uid, meeting=meeting)
    MeetingStatusChange.objects.create(
        meeting=meeting, from_status="", to_status=status, reason=reason[:500]
    )
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


# --- Targets and API tokens ---------------------------------------------------------------------


class TargetEmailTaken(Exception):
    """Another target already has this e-mail address (compared case-insensitively)."""


def create_target(*, email: str, name: str = "", company: str = "", owner=None) -> Target:
    """A new prospect. Raises TargetEmailTaken when the e-mail is in use in any letter case."""
    if target_for_emails(emails=[email]) is not None:
        raise TargetEmailTaken(f"a target with the e-mail {email} exists already")
    try:
        with transaction.atomic():
            return Target.objects.create(email=email, name=name, company=company, owner=owner)
    except IntegrityError:
        # Created concurrently: the case-insensitive unique index decided.
        raise TargetEmailTaken(f"a target with the e-mail {email} exists already") from None


class ApiTokenRefused(Exception):
    """API tokens are for active staff users only (the API is staff-only)."""


def issue_api_token(*, user, rotate: bool = False):
    """The user's REST API token (DRF authtoken), created if missing; a new one if `rotate`."""
    from rest_framework.authtoken.models import Token

    if not user.is_active or not user.is_staff:
        raise ApiTokenRefused(
            f"{user.get_username()} is not an active staff user; the API is for staff only"
        )
    with transaction.atomic():
        if rotate:
            Token.objects.filter(user=user).delete()
        token, _created = Token.objects.get_or_create(user=user)
    return token
