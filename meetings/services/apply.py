"""Apply one parsed Cal.com event to the right Meeting.

The write side of webhook processing: find and lock the event's meeting (or create it), merge
meetings that turn out to be one reschedule chain, link the event's booking uids to it, and
apply the transition `status_mapping` plans, booking details included.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.db import IntegrityError, models, transaction
from django.utils import timezone

from meetings import status_mapping
from meetings.models import (
    BookingUid,
    ChangeSource,
    Meeting,
    MeetingStatus,
    MeetingStatusChange,
    PaymentStatus,
)
from meetings.selectors import lookup_booking, meetings_for_update, uid_owners
from meetings.signals import meeting_no_show_marked, meetings_merged

if TYPE_CHECKING:
    from calcom.parsing import CalComEvent
    from meetings.services.locks import BatchMeetingLocks

# Concurrent first deliveries for one unknown booking race to create it; the loser retries and
# finds the winner's row. More than a few rounds means something else is wrong.
MAX_LOCK_ROUNDS = 5


# Columns that are the meeting's bookkeeping rather than what Cal.com says about it.
_BOOKKEEPING_COLUMNS = frozenset({"last_event_at"})


@dataclass(frozen=True)
class ApplyResult:
    meeting: Meeting | None
    plan: status_mapping.Plan
    created: bool = False
    # Field name -> (old, new) for every column of an existing meeting the event changed.
    changes: dict[str, tuple[object, object]] = field(default_factory=dict)


def apply_calcom_event(
    *,
    event: CalComEvent,
    source: models.Model | None = None,
    origin: ChangeSource = ChangeSource.WEBHOOK,
    locks: BatchMeetingLocks | None = None,
) -> ApplyResult:
    """Apply one parsed Cal.com event to its meeting. Call inside `transaction.atomic()`.

    `source` is the webhook event the body came from (a `webhooks.WebhookEvent`; typed loosely
    because the domain does not import the delivery pipeline); the status change records it.
    `origin` says where the event came from: a webhook, or the Cal.com sync (which builds
    events from the bookings API, meetings/booking_sync.py).

    The meeting row is locked (SELECT … FOR UPDATE) for the rest of the caller's transaction,
    so concurrent deliveries for one booking are applied one after another. `locks` holds the
    meetings a batch locked up front (meetings/services/locks.py); the event's meeting is taken
    from there when it can be.
    """
    # Once each: a body naming its own uid as the one it reschedules (the fuzzer sent one)
    # would otherwise insert that uid twice and fail on every retry.
    uids = list(dict.fromkeys(uid for uid in (event.uid, event.reschedule_uid) if uid))
    booking_ids = [event.booking_id] if event.booking_id is not None else []
    if not uids and not booking_ids:
        return ApplyResult(
            meeting=None,
            plan=status_mapping.Plan(ignored_reason=f"{event.trigger} is not about a booking"),
        )

    facts = status_mapping.EventFacts(
        trigger=event.trigger,
        occurred_at=event.occurred_at,
        # The uid it reschedules is now an alias of this meeting (linked under the lock).
        reschedules_this_meeting=bool(event.reschedule_uid),
        no_show_marks=event.no_show_marks,
        host_email=event.host_email,
    )
    locked = _lock_meeting(event=event, facts=facts, uids=uids, booking_ids=booking_ids, locks=locks)
    if locked is None:
        return ApplyResult(
            meeting=None,
            plan=status_mapping.Plan(
                ignored_reason=f"{event.trigger} names booking id {event.booking_id}, "
                "which we have never seen, and no booking uid to create it from"
            ),
        )

    meeting = locked.meeting
    changes: dict[str, tuple[object, object]] = {}
    if locked.created:
        # Inserted with the plan applied already: one INSERT, no UPDATE of the row just written.
        plan, previous_status = locked.plan, ""
        if plan.ignored:
            return ApplyResult(meeting=meeting, plan=plan, created=True)
    else:
        plan = _plan(meeting=meeting, facts=facts, event=event, created=False)
        if plan.ignored:
            return ApplyResult(meeting=meeting, plan=plan)
        previous_status = meeting.status
        before = _column_values(meeting=meeting)
        _apply_plan(
            meeting=meeting,
            event=event,
            plan=plan,
            is_reschedule=facts.reschedules_this_meeting,
            attendee_target_id=locked.attendee_target_id,
        )
        # Only the columns the event changed (and updated_at, as save() would): a full UPDATE
        # converts and sends all thirty columns for the two or three an event touches. An event
        # that changes nothing writes nothing.
        changed = _changed_columns(meeting=meeting, before=before)
        if changed:
            meeting.save(update_fields=[*changed, "updated_at"])
        changes = {
            name: (
                before[Meeting._meta.get_field(name).attname],
                getattr(meeting, Meeting._meta.get_field(name).attname),
            )
            for name in changed
            if name not in _BOOKKEEPING_COLUMNS
        }
    if plan.new_status and plan.new_status != previous_status:
        change = MeetingStatusChange(
            meeting=meeting,
            from_status=previous_status,
            to_status=plan.new_status,
            event=source,
            source=origin,
            reason=_change_reason(event=event),
        )
        if locks is not None:
            locks.add_status_change(change)  # written with the batch's, in one INSERT
        else:
            change.save(force_insert=True)
    if plan.withdraw_hit:
        meeting_no_show_marked.send(
            sender=Meeting,
            meeting_id=meeting.pk,
            kind=plan.withdraw_hit,
            reason=f"{event.trigger} marked a no-show before it was sent",
        )
    return ApplyResult(meeting=meeting, plan=plan, created=locked.created, changes=changes)


def _plan(
    *, meeting: Meeting, facts: status_mapping.EventFacts, event: CalComEvent, created: bool
) -> status_mapping.Plan:
    state = status_mapping.MeetingState(
        status=None if created else meeting.status,
        last_event_at=meeting.last_event_at,
        uid_is_current=not event.uid or event.uid == meeting.cal_event_id,
        no_show_emails=frozenset(meeting.no_show_emails or ()),
        payment_status=meeting.payment_status,
    )
    return status_mapping.plan_transition(facts=facts, state=state)


@dataclass(frozen=True)
class _Locked:
    """The event's meeting: locked (found) or just inserted by this transaction (created)."""

    meeting: Meeting
    created: bool
    plan: status_mapping.Plan | None = None  # created: the plan it was inserted with
    attendee_target_id: int | None = None  # found: the target the attendee e-mails name


# Triggers that are usually the first news of a booking: their meeting is looked up first (one
# query that also finds the target to create it with). Any other event usually finds its
# meeting, so it locks it straight away through its uids and only looks further when that
# finds nothing.
_LOOKUP_FIRST_TRIGGERS = frozenset({"BOOKING_CREATED", "BOOKING_REQUESTED"})


def _lock_meeting(
    *,
    event: CalComEvent,
    facts: status_mapping.EventFacts,
    uids: list[str],
    booking_ids: list[int],
    locks: BatchMeetingLocks | None = None,
) -> _Locked | None:
    emails = [attendee.email for attendee in event.attendees]
    if locks is not None:
        cached = locks.meeting_for(uids=uids)
        if cached is not None:
            # Locked by the batch and owning every uid already: nothing to link or merge.
            target_id = locks.target_id_for(emails=emails) if cached.target_id is None else None
            return _Locked(meeting=cached, created=False, attendee_target_id=target_id)
        found_locked = _find_and_lock(
            event=event, facts=facts, uids=uids, booking_ids=booking_ids, emails=emails, locks=locks
        )
        if found_locked is not None:
            locks.remember(meeting=found_locked.meeting, uids=uids)
        return found_locked
    return _find_and_lock(event=event, facts=facts, uids=uids, booking_ids=booking_ids, emails=emails)


def _find_and_lock(
    *,
    event: CalComEvent,
    facts: status_mapping.EventFacts,
    uids: list[str],
    booking_ids: list[int],
    emails: list[str],
    locks: BatchMeetingLocks | None = None,
) -> _Locked | None:
    lookup_first = event.trigger in _LOOKUP_FIRST_TRIGGERS and not event.reschedule_uid
    for _ in range(MAX_LOCK_ROUNDS):
        locked: list[Meeting] = []
        if uids and not lookup_first:
            locked = meetings_for_update(uids=uids, emails=emails)
        if not locked:
            # Nothing owns the uids (or only the fallbacks know the booking), or a merge deleted
            # what we were waiting to lock: ask the whole question, then lock what it names.
            found = lookup_booking(uids=uids, booking_ids=booking_ids, emails=emails)
            if not found.meeting_ids:
                if not event.uid:
                    return None
                try:
                    return _create_meeting(
                        event=event,
                        facts=facts,
                        uids=uids,
                        attendee_target_id=found.target_id,
                        savepoint=_own_savepoints(locks),
                    )
                except IntegrityError:
                    if not _own_savepoints(locks):
                        raise  # the transaction is aborted: the caller runs the event again
                    lookup_first = False
                    continue  # another delivery created it first; lock theirs
            locked = meetings_for_update(meeting_ids=found.meeting_ids, emails=emails)
        # An alias may have moved (or a meeting been merged away) between the lookup and the
        # lock; look again under the lock.
        owners = _uid_owners_if_locked(uids=uids, booking_ids=booking_ids, locked_ids=[m.id for m in locked])
        if owners is None:
            continue
        meeting = locked[0] if len(locked) == 1 else _merge_meetings(meetings=locked, locks=locks)
        if not _link_uids(meeting=meeting, uids=uids, uid_owners=owners, savepoint=_own_savepoints(locks)):
            continue  # a uid of this event was just given to another meeting: merge them
        return _Locked(meeting=meeting, created=False, attendee_target_id=meeting.attendee_target_id)
    raise RuntimeError(f"could not lock or create the meeting for booking {uids or booking_ids}")


def _uid_owners_if_locked(
    *, uids: list[str], booking_ids: list[int], locked_ids: list[int]
) -> dict[str, int] | None:
    """The meetings that own the event's uids (uid -> meeting id), as seen under the lock, or
    None when the locked meetings are no longer exactly the ones the booking belongs to.

    One query in the usual case (the uids have BookingUid rows); it also tells `_link_uids`
    which uids are missing.
    """
    if not locked_ids:
        return None
    if uids:
        owners = uid_owners(uids=uids)
        if owners:
            return owners if set(owners.values()) == set(locked_ids) else None
    # Locked through a fallback (the current-uid column, the booking id): ask it all again.
    found = lookup_booking(uids=uids, booking_ids=booking_ids)
    return found.uid_owners if found.meeting_ids == sorted(locked_ids) else None


def _create_meeting(
    *,
    event: CalComEvent,
    facts: status_mapping.EventFacts,
    uids: list[str],
    attendee_target_id: int | None,
    savepoint: bool = True,
) -> _Locked:
    """Insert the meeting with the event applied, and its uids, in one savepoint.

    Raises IntegrityError when another delivery inserted a meeting with one of these uids first
    (the unique uids decide the race); the savepoint keeps the caller's transaction usable.
    Without `savepoint` (a batch applied all or nothing) the error aborts the transaction.
    """
    meeting = Meeting(cal_event_id=event.uid)
    plan = _plan(meeting=meeting, facts=facts, event=event, created=True)
    if not plan.ignored:
        _apply_plan(
            meeting=meeting,
            event=event,
            plan=plan,
            is_reschedule=facts.reschedules_this_meeting,
            attendee_target_id=attendee_target_id,
        )
    with transaction.atomic() if savepoint else nullcontext():
        meeting.save(force_insert=True)
        BookingUid.objects.bulk_create([BookingUid(uid=uid, meeting=meeting) for uid in uids])
    return _Locked(meeting=meeting, created=True, plan=plan)


def _own_savepoints(locks: BatchMeetingLocks | None) -> bool:
    """Whether apply guards its inserts with savepoints (not in an all-or-nothing batch)."""
    return locks is None or not locks.all_or_nothing


def _merge_meetings(*, meetings: list[Meeting], locks: BatchMeetingLocks | None = None) -> Meeting:
    """Two meetings turned out to be one reschedule chain (deliveries arrived out of order).

    The one with the latest applied event keeps its state; the others' uids and audit rows move
    to it, and `meetings_merged` lets the apps that hang rows off a meeting (webhook events,
    notifications) move theirs before the others are deleted.
    """
    epoch = timezone.datetime.min.replace(tzinfo=timezone.get_current_timezone())
    survivor = max(meetings, key=lambda m: (m.last_event_at or epoch, m.id))
    target_id = survivor.target_id
    for other in meetings:
        if other.id == survivor.id:
            continue
        BookingUid.objects.filter(meeting=other).update(meeting=survivor)
        MeetingStatusChange.objects.filter(meeting=other).update(meeting=survivor)
        meetings_merged.send(sender=Meeting, survivor_id=survivor.id, merged_id=other.id)
        survivor.target_id = survivor.target_id or other.target_id
        other.delete()
    if locks is not None:
        locks.merged(survivor_id=survivor.id, merged_ids=[m.id for m in meetings if m.id != survivor.id])
    if survivor.target_id != target_id:
        # Written here: the caller writes only the columns the event itself changes.
        survivor.save(update_fields=["target", "updated_at"])
    return survivor


def _link_uids(
    *, meeting: Meeting, uids: list[str], uid_owners: dict[str, int], savepoint: bool = True
) -> bool:
    """Make every uid of the event an alias of `meeting`. False if one was given to another
    meeting meanwhile (created concurrently for the same chain); the caller then looks again
    and merges.

    `uid_owners` is what `_uid_owners_if_locked` saw under the lock: every uid in it belongs to
    the locked meetings, which are `meeting` now (merged).
    """
    missing = [uid for uid in uids if uid not in uid_owners]
    if not missing:
        return True
    if not savepoint:
        BookingUid.objects.bulk_create([BookingUid(uid=uid, meeting=meeting) for uid in missing])
        return True
    try:
        with transaction.atomic():
            BookingUid.objects.bulk_create([BookingUid(uid=uid, meeting=meeting) for uid in missing])
    except IntegrityError:
        return False
    return True


# Every column `_apply_plan` may write; updated_at is written with them (auto_now).
_EVENT_COLUMNS = tuple(
    field
    for field in Meeting._meta.concrete_fields
    if not field.primary_key and field.name not in ("created_at", "updated_at")
)


def _column_values(*, meeting: Meeting) -> dict[str, object]:
    values = {field.attname: getattr(meeting, field.attname) for field in _EVENT_COLUMNS}
    # JSON lists are copied: a list changed in place would otherwise compare equal to itself.
    return {name: list(value) if isinstance(value, list) else value for name, value in values.items()}


def _changed_columns(*, meeting: Meeting, before: dict[str, object]) -> list[str]:
    return [
        field.name for field in _EVENT_COLUMNS if getattr(meeting, field.attname) != before[field.attname]
    ]


def _apply_plan(
    *,
    meeting: Meeting,
    event: CalComEvent,
    plan: status_mapping.Plan,
    is_reschedule: bool,
    attendee_target_id: int | None,
) -> None:
    if plan.update_booking_details:
        _copy_booking_details(meeting=meeting, event=event, attendee_target_id=attendee_target_id)
    if is_reschedule or event.trigger == "BOOKING_RESCHEDULED":
        # The meeting moves to the new booking; a "request reschedule" cancellation is undone.
        if event.uid and event.uid != meeting.cal_event_id:
            meeting.host_no_show = False  # attendance belongs to the booking that took place
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
    if plan.host_no_show:
        meeting.host_no_show = True
    if event.recording_url:
        meeting.recording_url = event.recording_url
    if event.transcript_urls:
        meeting.transcript_urls = list(event.transcript_urls)
    if (
        plan.advance_clock
        and event.occurred_at is not None
        and (meeting.last_event_at is None or event.occurred_at > meeting.last_event_at)
    ):
        meeting.last_event_at = event.occurred_at


def _copy_booking_details(*, meeting: Meeting, event: CalComEvent, attendee_target_id: int | None) -> None:
    """Refresh what the payload says about the booking; absent fields keep what we have.

    `attendee_target_id` is `target_for_emails` of the event's attendees, fetched with the
    query that found (or locked) the meeting.
    """
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
    if meeting.target_id is None and attendee_target_id is not None:
        meeting.target_id = attendee_target_id


def _change_reason(*, event: CalComEvent) -> str:
    reason = event.trigger
    if event.cancellation_reason:
        reason += f": {event.cancellation_reason}"
    if event.request_reschedule:
        reason += " (reschedule requested)"
    if event.reschedule_uid:
        reason += f" (from {event.reschedule_uid})"
    return reason[:500]
