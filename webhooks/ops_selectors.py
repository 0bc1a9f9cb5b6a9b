"""Read-side queries for operations: health, metrics, status, reprocess and prune selections.

Written for a table of millions of rows: every query is bounded by the (status, received_at)
or received_at index, by the few unfinished events, or by an explicit selection.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import DatabaseError, connection
from django.db.models import Count, Max, Min, QuerySet

from .models import SignatureResult, WebhookEvent, WebhookEventStatus

UNFINISHED_STATUSES = (
    WebhookEventStatus.RECEIVED,
    WebhookEventStatus.PROCESSING,
    WebhookEventStatus.FAILED,
)
# A refused delivery's cause, from how its signature check ended; not_checked means it was
# refused before the check, for its size.
REJECTION_CAUSES = {
    SignatureResult.MISSING: "signature_missing",
    SignatureResult.NO_SECRET_PROVIDED: "no_secret_provided",
    SignatureResult.INVALID: "signature_invalid",
    SignatureResult.NOT_CHECKED: "too_large",
}
_CAUSE_BY_RESULT: dict[str, str] = {str(result): cause for result, cause in REJECTION_CAUSES.items()}


def database_is_reachable() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        return False


# Set once every migration is found applied: a running process never sees them undone.
_migrations_seen_applied = False


def migrations_pending() -> bool:
    """Whether the database lacks migrations this code has (e.g. a fresh database, no tables)."""
    global _migrations_seen_applied
    if _migrations_seen_applied:
        return False
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    pending = bool(executor.migration_plan(executor.loader.graph.leaf_nodes()))
    _migrations_seen_applied = not pending
    return pending


DATABASE_UNREACHABLE = "unreachable"
MIGRATIONS_NOT_APPLIED = "migrations not applied"


def is_missing_table(exc: BaseException) -> bool:
    """Whether a database error says a table does not exist (SQLite, PostgreSQL): migrations
    were not applied. Read from the error, so an outage costs no second query."""
    text = str(exc)
    return "no such table" in text or ('relation "' in text and "does not exist" in text)


def database_problem() -> str:
    """Why the database cannot serve us ("unreachable", "migrations not applied"), or ""."""
    if not database_is_reachable():
        return DATABASE_UNREACHABLE
    try:
        return MIGRATIONS_NOT_APPLIED if migrations_pending() else ""
    except DatabaseError:
        return DATABASE_UNREACHABLE


@dataclass(frozen=True)
class Backlog:
    size: int
    oldest_received_at: datetime | None

    def oldest_age_seconds(self, *, now: datetime) -> float | None:
        if self.oldest_received_at is None:
            return None
        return max((now - self.oldest_received_at).total_seconds(), 0.0)


def backlog() -> Backlog:
    """Events not finished yet: received, processing, or failed awaiting a retry."""
    unfinished = WebhookEvent.objects.filter(status__in=UNFINISHED_STATUSES)
    summary = unfinished.aggregate(size=Count("id"), oldest=Min("received_at"))
    return Backlog(size=summary["size"], oldest_received_at=summary["oldest"])


def event_counts_by_status(*, since: datetime) -> dict[str, int]:
    """Deliveries received since `since`, by status; every status present, zeros included."""
    counts = {status: 0 for status in WebhookEventStatus.values}
    rows = (
        WebhookEvent.objects.filter(received_at__gte=since)
        .order_by()
        .values_list("status")
        .annotate(count=Count("id"))
    )
    counts.update({status: count for status, count in rows})
    return counts


def rejected_counts_by_cause(*, since: datetime) -> dict[str, int]:
    counts = {cause: 0 for cause in REJECTION_CAUSES.values()}
    rows = (
        WebhookEvent.objects.filter(status=WebhookEventStatus.REJECTED, received_at__gte=since)
        .order_by()
        .values_list("signature_result")
        .annotate(count=Count("id"))
    )
    for signature_result, count in rows:
        cause = REJECTION_CAUSES.get(signature_result, signature_result)
        counts[cause] = counts.get(cause, 0) + count
    return counts


# What each refusal cause means and how to stop it. Cal.com never retries a 4xx (and its
# scheduled MEETING_* jobs are sent once), so every refused delivery is lost for good.
REFUSAL_EXPLANATIONS = {
    "no_secret_provided": (
        "Cal.com's webhook has no secret (it sent 'no-secret-provided')",
        "set the same secret on both sides: run register_calcom_webhooks, or paste "
        "CAL_COM_WEBHOOK_SECRET into the webhook's secret in Cal.com",
    ),
    "signature_missing": (
        "no X-Cal-Signature-256 header (not Cal.com, or a proxy dropped it)",
        "set the same secret on both sides, and make sure the proxy passes X-Cal-Signature-256 on",
    ),
    "signature_invalid": (
        "the signature matches none of our secrets (the two sides have different secrets)",
        "set the same secret on both sides: CAL_COM_WEBHOOK_SECRET (or _PROD) here and the "
        "webhook's secret in Cal.com; run register_calcom_webhooks to write ours",
    ),
    "too_large": (
        "the body was over WEBHOOK_MAX_BODY_BYTES",
        "raise WEBHOOK_MAX_BODY_BYTES if these are genuine Cal.com deliveries",
    ),
}


@dataclass(frozen=True)
class RefusedCause:
    """Refused deliveries of one cause in a window: how many, the last one, why and the fix."""

    cause: str
    count: int
    last_received_at: datetime
    last_event_id: int
    explanation: str
    fix: str


def refused_deliveries(*, since: datetime) -> list[RefusedCause]:
    """Refused (401/413) deliveries since `since` by cause, the most frequent first.

    Bounded by the (status, received_at) index: refusals are few, or rate-limited to a marker.
    """
    rows = (
        WebhookEvent.objects.filter(status=WebhookEventStatus.REJECTED, received_at__gte=since)
        .order_by()
        .values("signature_result")
        .annotate(count=Count("id"), last_at=Max("received_at"), last_id=Max("id"))
    )
    merged: dict[str, RefusedCause] = {}
    for row in rows:
        signature_result: str = row["signature_result"]
        cause = _CAUSE_BY_RESULT.get(signature_result, signature_result)
        explanation, fix = REFUSAL_EXPLANATIONS.get(cause, (cause, "see docs/production.md"))
        earlier = merged.get(cause)
        merged[cause] = RefusedCause(
            cause=cause,
            count=row["count"] + (earlier.count if earlier else 0),
            last_received_at=max(row["last_at"], earlier.last_received_at) if earlier else row["last_at"],
            last_event_id=max(row["last_id"], earlier.last_event_id) if earlier else row["last_id"],
            explanation=explanation,
            fix=fix,
        )
    return sorted(merged.values(), key=lambda refused: (-refused.count, refused.cause))


def status_count(*, status: str) -> int:
    """All events with one status; meant for the small ones (failed, dead)."""
    return WebhookEvent.objects.filter(status=status).count()


@dataclass(frozen=True)
class MetricsSnapshot:
    events_24h_by_status: dict[str, int]
    rejected_24h_by_cause: dict[str, int]
    backlog: int
    failed: int
    dead: int
    oldest_unprocessed_age_seconds: float | None


def metrics_snapshot(*, now: datetime) -> MetricsSnapshot:
    since = now - timedelta(hours=24)
    pending = backlog()
    return MetricsSnapshot(
        events_24h_by_status=event_counts_by_status(since=since),
        rejected_24h_by_cause=rejected_counts_by_cause(since=since),
        backlog=pending.size,
        failed=status_count(status=WebhookEventStatus.FAILED),
        dead=status_count(status=WebhookEventStatus.DEAD),
        oldest_unprocessed_age_seconds=pending.oldest_age_seconds(now=now),
    )


@dataclass(frozen=True)
class OperationsStatus:
    """What `calcom_status` prints."""

    events_24h_by_status: dict[str, int]
    failed: int
    dead: int
    backlog: Backlog
    last_delivery: WebhookEvent | None
    last_accepted_delivery: WebhookEvent | None
    refused_24h: list[RefusedCause]


def operations_status(*, now: datetime) -> OperationsStatus:
    accepted = WebhookEvent.objects.exclude(status=WebhookEventStatus.REJECTED)
    return OperationsStatus(
        refused_24h=refused_deliveries(since=now - timedelta(hours=24)),
        events_24h_by_status=event_counts_by_status(since=now - timedelta(hours=24)),
        failed=status_count(status=WebhookEventStatus.FAILED),
        dead=status_count(status=WebhookEventStatus.DEAD),
        backlog=backlog(),
        last_delivery=WebhookEvent.objects.order_by("-received_at", "-id").first(),
        last_accepted_delivery=accepted.order_by("-received_at", "-id").first(),
    )


def events_for_reprocessing(
    *,
    statuses: Iterable[str] = (),
    triggers: Iterable[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    ids: Iterable[int] = (),
) -> QuerySet[WebhookEvent]:
    """The events a reprocess command selected, oldest first (the order they happened in)."""
    events = WebhookEvent.objects.all()
    statuses, triggers, ids = list(statuses), list(triggers), list(ids)
    if statuses:
        events = events.filter(status__in=statuses)
    if triggers:
        events = events.filter(trigger_event__in=triggers)
    if since is not None:
        events = events.filter(received_at__gte=since)
    if until is not None:
        events = events.filter(received_at__lt=until)
    if ids:
        events = events.filter(pk__in=ids)
    return events.order_by("received_at", "id")
