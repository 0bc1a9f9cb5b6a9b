"""Read-side queries for meetings."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q, QuerySet
from django.db.models.functions import Lower

from .models import BookingUid, Meeting, Target


def meeting_ids_for_booking(
    *, uids: Iterable[str], booking_ids: Iterable[int] = ()
) -> list[int]:
    """Ids of the meetings that any of these uids (current or earlier) or booking ids belong to."""
    uids = [uid for uid in uids if uid]
    booking_ids = [booking_id for booking_id in booking_ids if booking_id is not None]
    found: set[int] = set()
    if uids:
        # Every uid a meeting ever had, the current one included, is a BookingUid row; the
        # current-uid column is only consulted for rows written before that (or by hand).
        found.update(
            BookingUid.objects.filter(uid__in=uids).order_by().values_list("meeting_id", flat=True)
        )
        if not found:
            found.update(
                Meeting.objects.filter(cal_event_id__in=uids).order_by().values_list("id", flat=True)
            )
    if booking_ids and not found:
        # The numeric id is only a fallback: a reschedule gives the booking a new one too.
        found.update(
            Meeting.objects.filter(cal_booking_id__in=booking_ids)
            .order_by()
            .values_list("id", flat=True)
        )
    return sorted(found)


def meeting_by_any_uid(*, uid: str) -> Meeting | None:
    """The meeting a booking uid belongs to, whether it is the current uid or an earlier one."""
    ids = meeting_ids_for_booking(uids=[uid])
    return Meeting.objects.filter(id__in=ids).first() if ids else None


def meetings_matching_uid(*, uid: str) -> QuerySet[Meeting]:
    """Meetings whose current or any earlier booking uid is `uid` (for search boxes and filters)."""
    return Meeting.objects.filter(Q(cal_event_id=uid) | Q(uids__uid=uid)).distinct()


def target_for_emails(*, emails: Iterable[str]) -> Target | None:
    """The prospect among these attendee e-mails (case-insensitive), first match in order."""
    emails = [email.lower() for email in emails if email]
    if not emails:
        return None
    # Lower("email") is what the unique constraint indexes, so this is an index lookup.
    matches = Target.objects.annotate(email_lower=Lower("email")).filter(email_lower__in=emails)
    targets = {target.email_lower: target for target in matches}
    return next((targets[email] for email in emails if email in targets), None)


# --- REST API ----------------------------------------------------------------------------------


def meeting_list() -> QuerySet[Meeting]:
    """Meetings for the API list, newest start first (the table's own ordering, indexed)."""
    return Meeting.objects.select_related("target").order_by("-start_time", "-id")


def meeting_detail(*, meeting_id: int) -> Meeting | None:
    """One meeting with its target and every booking uid of its reschedule chain."""
    return (
        Meeting.objects.select_related("target")
        .prefetch_related("uids")
        .filter(id=meeting_id)
        .first()
    )


def target_list() -> QuerySet[Target]:
    return Target.objects.select_related("owner").order_by("name", "email", "id")


# Name/company matches are a substring scan over the (small) targets table; cap what it feeds
# into the meetings query.
TARGET_SEARCH_LIMIT = 500


def search_meetings(*, queryset: QuerySet[Meeting], term: str) -> QuerySet[Meeting]:
    """Exact, indexed meeting search: any booking uid of the chain, a Cal.com booking id, an
    attendee or target e-mail; otherwise a target's name or company (a small table)."""
    term = term.strip()
    if not term:
        return queryset
    if "@" in term:
        email = term.lower()
        target_ids = Target.objects.annotate(email_lower=Lower("email")).filter(email_lower=email)
        return queryset.filter(Q(attendee_email=email) | Q(target_id__in=target_ids.values("id")))
    condition = Q(id__in=meeting_ids_for_booking(uids=[term]))
    if term.isdigit() and len(term) <= 18:
        condition |= Q(cal_booking_id=int(term))
    target_ids = list(
        Target.objects.filter(Q(name__icontains=term) | Q(company__icontains=term))
        .values_list("id", flat=True)[:TARGET_SEARCH_LIMIT]
    )
    if target_ids:
        condition |= Q(target_id__in=target_ids)
    return queryset.filter(condition)

