"""Read-side queries for meetings."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.functions import Lower
from django.db.transaction import TransactionManagementError

from .models import BookingUid, Meeting, Target

# The booking lookups below run for every webhook event, so they are written in SQL: the ORM
# spends more CPU compiling them (0.4-1 ms for the union or the locking query with its
# subqueries, measured) than PostgreSQL spends answering them. Each is a handful of index
# lookups; identifiers come from the models' metadata, values are always parameters.


@dataclass(frozen=True)
class BookingLookup:
    """What one round trip tells about a booking (see `lookup_booking`)."""

    meeting_ids: list[int]  # sorted; the meaning of `meeting_ids_for_booking`
    uid_owners: dict[str, int]  # the BookingUid rows among the uids: uid -> meeting id
    target_id: int | None  # the prospect among the attendee e-mails (`target_for_emails`)


# Source tags of `lookup_booking`'s rows, in fallback order.
_BY_UID, _BY_CURRENT_UID, _BY_BOOKING_ID, _TARGET = 0, 1, 2, 3


def lookup_booking(
    *, uids: Iterable[str], booking_ids: Iterable[int] = (), emails: Iterable[str] = ()
) -> BookingLookup:
    """Which meetings these uids or booking ids belong to, and which target the attendee
    e-mails name, in one query (a UNION ALL of index lookups, each row tagged with its source).

    Meeting ids follow the fallback order: BookingUid rows first; the current-uid column only
    when no BookingUid row matches; the booking id only when neither uid lookup found anything.
    All parts run and the order is applied here: each part reads a row or two by index, which
    costs less than a second round trip.
    """
    uids = [uid for uid in uids if uid]
    booking_ids = [booking_id for booking_id in booking_ids if booking_id is not None]
    emails = [email.lower() for email in emails if email]
    t = _tables()
    parts: list[str] = []
    params: list[object] = []
    if uids:
        parts.append(
            f"SELECT {_BY_UID}, {t.uid_meeting}, {t.uid_uid} FROM {t.uids} "
            f"WHERE {t.uid_uid} IN ({_placeholders(uids)})"
        )
        # Every uid a meeting ever had, the current one included, is a BookingUid row; the
        # current-uid column is only consulted for rows written before that (or by hand).
        parts.append(
            f"SELECT {_BY_CURRENT_UID}, {t.meeting_id}, '' FROM {t.meetings} "
            f"WHERE {t.meeting_uid} IN ({_placeholders(uids)})"
        )
        params += uids + uids
    if booking_ids:
        # The numeric id is only a fallback: a reschedule gives the booking a new one too.
        parts.append(
            f"SELECT {_BY_BOOKING_ID}, {t.meeting_id}, '' FROM {t.meetings} "
            f"WHERE {t.meeting_booking_id} IN ({_placeholders(booking_ids)})"
        )
        params += booking_ids
    if emails:
        # LOWER(email) is what the unique constraint indexes, so this is an index lookup.
        parts.append(
            f"SELECT {_TARGET}, {t.target_id}, LOWER({t.target_email}) FROM {t.targets} "
            f"WHERE LOWER({t.target_email}) IN ({_placeholders(emails)})"
        )
        params += emails
    if not parts:
        return BookingLookup(meeting_ids=[], uid_owners={}, target_id=None)
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        rows = cursor.fetchall()
    found: dict[int, set[int]] = {_BY_UID: set(), _BY_CURRENT_UID: set(), _BY_BOOKING_ID: set()}
    uid_owners: dict[str, int] = {}
    targets: dict[str, int] = {}
    for source, row_id, key in rows:
        if source == _TARGET:
            targets[key] = row_id
            continue
        found[source].add(row_id)
        if source == _BY_UID:
            uid_owners[key] = row_id
    meeting_ids = found[_BY_UID] or found[_BY_CURRENT_UID] or found[_BY_BOOKING_ID]
    return BookingLookup(
        meeting_ids=sorted(meeting_ids),
        uid_owners=uid_owners,
        target_id=next((targets[email] for email in emails if email in targets), None),
    )


def uid_owners(*, uids: Sequence[str]) -> dict[str, int]:
    """The BookingUid rows of these uids: uid -> meeting id."""
    t = _tables()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {t.uid_uid}, {t.uid_meeting} FROM {t.uids} WHERE {t.uid_uid} IN ({_placeholders(uids)})",
            list(uids),
        )
        return dict(cursor.fetchall())


def meetings_for_update(
    *, uids: Sequence[str] = (), meeting_ids: Sequence[int] = (), emails: Iterable[str] = ()
) -> list[Meeting]:
    """Lock (SELECT … FOR UPDATE) the meetings owning these uids (BookingUid rows), or these
    meetings, in id order, until the transaction ends. Call inside a transaction.

    Every locker takes the rows in id order, so two of them never wait on each other in a
    cycle. Each meeting comes with `attendee_target_id`: the target these attendee e-mails
    name (`target_for_emails`), so linking a meeting to its prospect costs no query of its own.
    """
    if connection.get_autocommit():
        # The lock would end with the statement. Refused on SQLite too (where the ORM's
        # select_for_update() lets it pass), so that a caller without a transaction fails in
        # the SQLite test run rather than races on PostgreSQL.
        raise TransactionManagementError("meetings_for_update() needs a transaction")
    if not uids and not meeting_ids:
        return []
    t = _tables()
    emails = [email.lower() for email in emails if email]
    params: list[object] = []
    if emails:
        # The first e-mail in order that has a target, as target_for_emails() picks it.
        first_in_order = " ".join(f"WHEN LOWER({t.target_email}) = %s THEN {i}" for i in range(len(emails)))
        target_sql = (
            f"(SELECT {t.target_id} FROM {t.targets} "
            f"WHERE LOWER({t.target_email}) IN ({_placeholders(emails)}) "
            f"ORDER BY CASE {first_in_order} END LIMIT 1)"
        )
        params += emails + emails
    else:
        target_sql = "NULL"
    if uids:
        where = (
            f"{t.meeting_id} IN (SELECT {t.uid_meeting} FROM {t.uids} "
            f"WHERE {t.uid_uid} IN ({_placeholders(uids)}))"
        )
        params += list(uids)
    else:
        where = f"{t.meeting_id} IN ({_placeholders(meeting_ids)})"
        params += list(meeting_ids)
    for_update = " FOR UPDATE" if connection.features.has_select_for_update else ""
    sql = (
        f"SELECT {t.meeting_columns}, {target_sql} AS attendee_target_id FROM {t.meetings} "
        f"WHERE {where} ORDER BY {t.meeting_id}{for_update}"
    )
    return list(Meeting.objects.raw(sql, params))


def target_ids_for_emails(*, emails: Iterable[str]) -> dict[str, int]:
    """The targets among these e-mails, in one query: lowercased e-mail -> target id."""
    emails = list(dict.fromkeys(email.lower() for email in emails if email))
    if not emails:
        return {}
    t = _tables()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT LOWER({t.target_email}), {t.target_id} FROM {t.targets} "
            f"WHERE LOWER({t.target_email}) IN ({_placeholders(emails)})",
            emails,
        )
        return dict(cursor.fetchall())


def _placeholders(values: Sequence) -> str:
    return ", ".join(["%s"] * len(values))


@dataclass(frozen=True)
class _Tables:
    """Quoted table and column names for the SQL above."""

    meetings: str
    meeting_columns: str
    meeting_id: str
    meeting_uid: str
    meeting_booking_id: str
    uids: str
    uid_uid: str
    uid_meeting: str
    targets: str
    target_id: str
    target_email: str


@functools.cache
def _tables() -> _Tables:
    qn = connection.ops.quote_name

    def column(model, name: str) -> str:
        return f"{qn(model._meta.db_table)}.{qn(model._meta.get_field(name).column)}"

    return _Tables(
        meetings=qn(Meeting._meta.db_table),
        meeting_columns=", ".join(
            f"{qn(Meeting._meta.db_table)}.{qn(field.column)}" for field in Meeting._meta.concrete_fields
        ),
        meeting_id=column(Meeting, "id"),
        meeting_uid=column(Meeting, "cal_event_id"),
        meeting_booking_id=column(Meeting, "cal_booking_id"),
        uids=qn(BookingUid._meta.db_table),
        uid_uid=column(BookingUid, "uid"),
        uid_meeting=column(BookingUid, "meeting"),
        targets=qn(Target._meta.db_table),
        target_id=column(Target, "id"),
        target_email=column(Target, "email"),
    )


def meeting_ids_for_booking(*, uids: Iterable[str], booking_ids: Iterable[int] = ()) -> list[int]:
    """Ids of the meetings that any of these uids (current or earlier) or booking ids belong to."""
    return lookup_booking(uids=uids, booking_ids=booking_ids).meeting_ids


def meeting_by_any_uid(*, uid: str) -> Meeting | None:
    """The meeting a booking uid belongs to, whether it is the current uid or an earlier one."""
    ids = meeting_ids_for_booking(uids=[uid])
    return Meeting.objects.filter(id__in=ids).first() if ids else None


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
    return Meeting.objects.select_related("target").prefetch_related("uids").filter(id=meeting_id).first()


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
    # ASCII only: "²" is a digit to str.isdigit() but not to int().
    if term.isascii() and term.isdigit() and len(term) <= 18:
        condition |= Q(cal_booking_id=int(term))
    target_ids = list(
        Target.objects.filter(Q(name__icontains=term) | Q(company__icontains=term)).values_list(
            "id", flat=True
        )[:TARGET_SEARCH_LIMIT]
    )
    if target_ids:
        condition |= Q(target_id__in=target_ids)
    return queryset.filter(condition)
