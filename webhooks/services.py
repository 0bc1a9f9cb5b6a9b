"""Write-side business logic for webhook deliveries: record them, process them, reprocess them."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import random
import time
import traceback as traceback_module
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from django.conf import settings
from django.core.cache import cache
from django.db import DataError, IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from meetings.models import Meeting
from meetings.services.apply import apply_calcom_event
from meetings.status_mapping import BOOKING_TRIGGERS, KNOWN_TRIGGERS

from calcom.parsing import CalComEvent, UnusableBody, decode_body, parse_event
from .models import (
    AttemptOutcome,
    AttemptTrigger,
    ProcessingAttempt,
    SignatureResult,
    WebhookEvent,
    WebhookEventStatus,
)

logger = logging.getLogger("webhooks")

# Headers whose values are credentials or signatures: stored and shown as "***". Any name
# containing one of these words, so that X-Password, X-Private-Key, Proxy-Authorization and
# the like are caught without being listed.
_SECRET_HEADER_WORDS = (
    "password", "passwd", "key", "secret", "token", "auth", "signature", "cookie", "session",
    "credential",
)
FORM_ENCODED = "application/x-www-form-urlencoded"
_UID_MAX_LENGTH = Meeting._meta.get_field("cal_event_id").max_length
# WebhookEvent.body_size is a PositiveIntegerField: 32 bits signed on PostgreSQL.
_BODY_SIZE_MAX = 2**31 - 1


class ProcessingMode(str, Enum):
    AUTO = "auto"  # a delivery or retry: only events still waiting to be processed
    REPROCESS = "reprocess"  # staff: also failed, dead and ignored events
    FORCE = "force"  # staff: also events already processed


RUNNABLE_STATUSES = {
    ProcessingMode.AUTO: {WebhookEventStatus.RECEIVED, WebhookEventStatus.FAILED},
    ProcessingMode.REPROCESS: {
        WebhookEventStatus.RECEIVED,
        WebhookEventStatus.FAILED,
        WebhookEventStatus.DEAD,
        WebhookEventStatus.IGNORED,
    },
    ProcessingMode.FORCE: {
        WebhookEventStatus.RECEIVED,
        WebhookEventStatus.FAILED,
        WebhookEventStatus.DEAD,
        WebhookEventStatus.IGNORED,
        WebhookEventStatus.PROCESSED,
    },
}
NEVER_PROCESSED = frozenset({WebhookEventStatus.REJECTED, WebhookEventStatus.DUPLICATE})


class ReprocessNotAllowed(Exception):
    """Rejected deliveries and duplicates are never processed."""


@dataclass(frozen=True)
class DeliveryResult:
    event: WebhookEvent
    http_status: int
    body: dict


def mask_headers(*, headers: Mapping[str, str]) -> dict[str, str]:
    return {
        name: "***" if any(word in name.lower() for word in _SECRET_HEADER_WORDS) else value
        for name, value in headers.items()
    }


# A refused delivery is unauthenticated: what it leaves in the headers column is bounded
# (REJECTED_HEADERS_CAP_BYTES in all). The headers that tell what it was come first.
_REFUSED_HEADERS_MAX_COUNT = 50
_REFUSED_HEADER_NAME_MAX = 64
_REFUSED_HEADER_VALUE_MAX = 256
_REFUSED_HEADERS_FIRST = (
    "X-Cal-Signature-256", "X-Cal-Webhook-Version", "Content-Type", "Content-Length",
    "User-Agent", "X-Forwarded-For", "Host",
)
HEADERS_CUT_MARKER = "(headers cut)"


def cap_refused_headers(*, headers: Mapping[str, str]) -> dict[str, str]:
    """At most 50 headers, names cut to 64 and values to 256 characters, and
    REJECTED_HEADERS_CAP_BYTES in all; when anything was left out, HEADERS_CUT_MARKER says what."""
    budget = settings.REJECTED_HEADERS_CAP_BYTES
    ordered = sorted(headers.items(), key=lambda item: item[0] not in _REFUSED_HEADERS_FIRST)
    kept: dict[str, str] = {}
    used = cut_values = 0
    for name, value in ordered:
        if len(kept) >= _REFUSED_HEADERS_MAX_COUNT:
            break
        name = name[:_REFUSED_HEADER_NAME_MAX]
        if len(value) > _REFUSED_HEADER_VALUE_MAX:
            value, cut_values = value[:_REFUSED_HEADER_VALUE_MAX] + "…", cut_values + 1
        if used + len(name) + len(value) > budget:
            continue  # a smaller header further on may still fit
        kept[name] = value
        used += len(name) + len(value)
    if len(kept) < len(headers) or cut_values:
        total = sum(len(name) + len(value) for name, value in headers.items())
        kept[HEADERS_CUT_MARKER] = (
            f"{len(headers)} headers ({total} characters) received; {len(kept)} kept, "
            f"{cut_values} values cut to {_REFUSED_HEADER_VALUE_MAX} characters"
        )
    return kept


def webhook_secrets() -> list[str]:
    return [s for s in (settings.CAL_COM_WEBHOOK_SECRET, settings.CAL_COM_WEBHOOK_SECRET_PROD) if s]


def record_rejected_delivery(
    *,
    raw_body: bytes,
    body_size: int,
    headers: Mapping[str, str],
    client_ip: str | None,
    content_type: str,
    signature_result: SignatureResult,
    reason: str,
) -> WebhookEvent:
    """Leave a trace of a refused request; its body is kept only up to a small cap."""
    cap = settings.REJECTED_BODY_CAP_BYTES
    event = WebhookEvent.objects.create(
        status=WebhookEventStatus.REJECTED,
        status_reason=reason,
        raw_body=raw_body[:cap],
        # A declared Content-Length can be anything; the reason and the log keep the exact one.
        body_size=min(body_size, _BODY_SIZE_MAX),
        body_truncated=body_size > min(len(raw_body), cap),
        headers=cap_refused_headers(headers=mask_headers(headers=headers)),
        client_ip=client_ip,
        content_type=content_type[:255],
        webhook_version=headers.get("X-Cal-Webhook-Version", "")[:32],
        signature_result=signature_result,
    )
    log_fields(
        level=logging.WARNING, what="webhook rejected", event_id=event.pk, outcome=event.status,
        signature=signature_result, client=client_ip, size=body_size, cause=reason,
    )
    return event


def record_delivery(
    *,
    raw_body: bytes,
    headers: Mapping[str, str],
    client_ip: str | None,
    content_type: str,
    signature_result: SignatureResult,
) -> DeliveryResult:
    """Store an authenticated delivery in one transaction and enqueue its processing on commit."""
    started = time.monotonic()
    fields = dict(
        raw_body=raw_body,
        body_size=len(raw_body),
        headers=mask_headers(headers=headers),
        client_ip=client_ip,
        content_type=content_type[:255],
        webhook_version=headers.get("X-Cal-Webhook-Version", "2021-10-20")[:32],
        signature_result=signature_result,
        fingerprint=hashlib.sha256(raw_body).hexdigest(),
    )
    problem = ""
    try:
        if content_type.split(";")[0].strip().lower() == FORM_ENCODED:
            raise UnusableBody(
                "body is form-encoded (a Cal.com custom payload template that is not JSON); "
                "configure the webhook without a template or with a JSON one"
            )
        parsed = parse_event(decode_body(raw_body))
    except UnusableBody as exc:
        problem = str(exc)
        fields.update(status=WebhookEventStatus.IGNORED, status_reason=problem)
    except Exception as exc:
        # A parser bug must not cost the delivery: Cal.com would retry it into the same 500.
        # Stored as unusable, it can be reprocessed once the parser is fixed.
        logger.exception("could not parse a signed delivery")
        problem = f"body could not be parsed ({type(exc).__name__}); stored for reprocessing"
        fields.update(status=WebhookEventStatus.IGNORED, status_reason=problem)
    else:
        fields.update(
            trigger_event=parsed.trigger[:64],
            booking_uid=parsed.uid[:255],
            reschedule_uid=parsed.reschedule_uid[:255],
            booking_id=parsed.booking_id,
            attendee_email=(parsed.attendee.email if parsed.attendee else "")[:254],
            event_created_at=parsed.created_at,
        )
        if parsed.trigger == "PING":
            fields.update(
                status=WebhookEventStatus.PROCESSED,
                status_reason="PING: Cal.com test delivery, nothing to apply",
                processed_at=timezone.now(),
            )
        elif parsed.trigger not in KNOWN_TRIGGERS:
            fields.update(
                status=WebhookEventStatus.IGNORED,
                status_reason=f"unknown trigger {parsed.trigger!r}",
            )

    # Optimistic: nearly every delivery is new, so insert first and let the partial unique index
    # on the fingerprint find the rare duplicate. The insert is one autocommit statement, as
    # cheap as storing can be; only inside a caller's transaction does it get a savepoint, so
    # that a duplicate's IntegrityError leaves that transaction usable.
    in_callers_transaction = transaction.get_connection().in_atomic_block
    try:
        with transaction.atomic() if in_callers_transaction else nullcontext():
            event, original = _store_new_event(fields=fields), None
    except IntegrityError:
        with transaction.atomic():
            event, original = _store_duplicate(fields=fields)

    if original is None and event.status == WebhookEventStatus.RECEIVED and _runs_inline():
        # The embedded default has already processed it; answer with the real outcome.
        event.refresh_from_db(fields=["status"])
    log_fields(
        level=logging.INFO, what="webhook delivery", event_id=event.pk,
        trigger=event.trigger_event, uid=event.booking_uid, outcome=event.status,
        duplicate_of=original.pk if original else None,
        duration_ms=(time.monotonic() - started) * 1000,
    )
    if problem:
        return DeliveryResult(
            event=event, http_status=400, body={"error": problem, "event_id": event.pk}
        )
    body = {"event_id": event.pk, "duplicate": original is not None, "status": event.status}
    if original is not None:
        body["duplicate_of"] = original.pk
    return DeliveryResult(event=event, http_status=200, body=body)


def _runs_inline() -> bool:
    return settings.TASKS_BACKEND.endswith("ImmediateBackend")


def queue_is_in_this_database() -> bool:
    """django-tasks-db keeps its queue in the default database, beside the events."""
    return settings.TASKS_BACKEND.startswith("django_tasks_db.")


def _store_new_event(*, fields: dict) -> WebhookEvent:
    """Insert the delivery and make sure it gets processed once it is committed."""

    def insert() -> WebhookEvent:
        return WebhookEvent.objects.create(**fields)

    if fields.get("status", WebhookEventStatus.RECEIVED) != WebhookEventStatus.RECEIVED:
        return insert()  # settled at the door (PING, unknown trigger, unusable body)
    if queue_is_in_this_database():
        # The event row is the queue entry; workers claim events in batches (draining.py).
        from .draining import insert_and_request_drain

        return insert_and_request_drain(insert=insert)
    event = insert()
    transaction.on_commit(lambda: enqueue_processing(event_id=event.pk))
    return event


def _store_duplicate(*, fields: dict) -> tuple[WebhookEvent, WebhookEvent]:
    """The same body was stored before: store this delivery as a duplicate of that original.

    The partial unique index on the fingerprint decides races between identical concurrent
    deliveries: exactly one becomes the original.
    """
    existing = (
        WebhookEvent.objects.filter(fingerprint=fields["fingerprint"], duplicate_of__isnull=True)
        .exclude(status__in=[WebhookEventStatus.REJECTED, WebhookEventStatus.DUPLICATE])
        .only("id")
        .get()
    )
    duplicate_fields = {**fields, "status": WebhookEventStatus.DUPLICATE}
    duplicate_fields["status_reason"] = f"same body as event #{existing.pk}"
    duplicate_fields.pop("processed_at", None)
    return WebhookEvent.objects.create(duplicate_of=existing, **duplicate_fields), existing


def enqueue_processing(*, event_id: int, via: AttemptTrigger = AttemptTrigger.DELIVERY) -> None:
    """Hand the event to the task backend (inline by default, db_worker in production).

    If enqueueing itself fails the event stays `received`; the recovery sweep picks it up.
    """
    from .tasks import process_webhook_event

    try:
        process_webhook_event.enqueue(event_id=event_id, via=str(via))
    except Exception:
        logger.exception("could not enqueue processing of event_id=%s", event_id)


def process_event(
    *,
    event_id: int,
    via: AttemptTrigger,
    mode: ProcessingMode = ProcessingMode.AUTO,
    user=None,
) -> WebhookEvent:
    """Run one processing attempt of a stored event: parse, apply to its meeting, record.

    Safe to call any number of times and concurrently: the claim step lets one run at a time,
    and the meeting change, the notifications outbox and the event's outcome commit together.
    A failure never escapes: it is stored on the event and on the attempt row.
    """
    claim = _claim(event_id=event_id, via=via, mode=mode, user=user)
    if claim is None:
        return WebhookEvent.objects.get(pk=event_id)
    return run_claimed(claim=claim)


@dataclass(frozen=True)
class Claim:
    """An event this run owns: marked `processing`, its attempt row written and committed."""

    event: WebhookEvent  # loaded with its body
    attempt: ProcessingAttempt
    previous_status: str


class _TakenOver(Exception):
    """The recovery sweep gave the event to another run while this one was queued."""


def run_claimed(*, claim: Claim) -> WebhookEvent:
    """Apply a claimed event and record the outcome, all in one transaction with the meeting."""
    event, attempt = claim.event, claim.attempt
    started = time.monotonic()
    try:
        with transaction.atomic():
            outcome, reason = _apply(event=event)
            now = timezone.now()
            # A forced replay of an applied event that no longer changes anything (later events
            # superseded it) leaves the event processed: its effect stands.
            replay_of_applied = claim.previous_status == WebhookEventStatus.PROCESSED
            recorded = {
                "status": (
                    WebhookEventStatus.PROCESSED
                    if outcome == AttemptOutcome.PROCESSED or replay_of_applied
                    else WebhookEventStatus.IGNORED
                ),
                "status_reason": reason,
                "processed_at": now,
                "last_error": "",
                "last_traceback": "",
                "next_attempt_at": None,
                "meeting_id": event.meeting_id,
            }
            # Only what processing changes (rewriting the raw body would cost a megabyte at
            # worst), and only if this run still owns the event: the recovery sweep may have
            # handed it to another run meanwhile (this worker stalled). Then this run's
            # changes roll back and the other run's stand.
            still_ours = WebhookEvent.objects.filter(
                pk=event.pk, status=WebhookEventStatus.PROCESSING, attempts=attempt.number
            ).update(**recorded)
            if not still_ours:
                raise _TakenOver
            for name, value in recorded.items():
                setattr(event, name, value)
            attempt.outcome = outcome
            attempt.error = reason
            attempt.finished_at = now
            attempt.save(update_fields=["outcome", "error", "finished_at"])
    except _TakenOver:
        log_fields(
            level=logging.WARNING, what="webhook processing skipped", event_id=event.pk,
            attempt=attempt.number, via=attempt.started_via, outcome="taken over by another run",
        )
        return WebhookEvent.objects.get(pk=event.pk)
    except Exception as exc:
        event = _record_failure(event_id=event.pk, attempt=attempt, exc=exc)
    log_fields(
        level=logging.INFO, what="webhook processing", event_id=event.pk,
        trigger=event.trigger_event, uid=event.booking_uid, attempt=attempt.number,
        via=attempt.started_via, outcome=event.status,
        duration_ms=(time.monotonic() - started) * 1000,
    )
    return event


def _claim(*, event_id: int, via: AttemptTrigger, mode: ProcessingMode, user) -> Claim | None:
    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update().get(pk=event_id)
        if event.status in NEVER_PROCESSED:
            raise ReprocessNotAllowed(
                f"event #{event.pk} is {event.status}; "
                f"{'rejected deliveries' if event.status == WebhookEventStatus.REJECTED else 'duplicates'}"
                " are never processed"
            )
        if event.status not in RUNNABLE_STATUSES[mode]:
            return None
        previous_status = event.status
        event.status = WebhookEventStatus.PROCESSING
        event.attempts += 1
        event.save(update_fields=["status", "attempts"])
        attempt = ProcessingAttempt.objects.create(
            event=event, number=event.attempts, started_via=via, started_by=user
        )
        return Claim(event=event, attempt=attempt, previous_status=previous_status)


def claim_received_batch(*, limit: int) -> list[Claim]:
    """Claim up to `limit` waiting deliveries, oldest first, in one short transaction.

    `FOR UPDATE SKIP LOCKED` lets any number of workers claim side by side without ever getting
    the same event (SQLite has one writer at a time and needs no row locks). A booking's
    deliveries are applied one at a time, in the order they arrived: an event is claimable
    only while no earlier event of its booking uid is waiting and none is being processed, so
    with several workers a BOOKING_PAID is not applied before the BOOKING_CREATED ahead of it
    (which would then be stored as stale).
    """
    # The same booking: its uid, or the uid it reschedules (that booking's earlier deliveries
    # come first). Chains of reschedules are ordered link by link.
    same_booking = WebhookEvent.objects.exclude(booking_uid="").filter(
        Q(booking_uid=OuterRef("booking_uid")) | Q(booking_uid=OuterRef("reschedule_uid"))
    )
    next_of_its_booking = Q(booking_uid="") | (
        ~Exists(same_booking.filter(status=WebhookEventStatus.PROCESSING))
        & ~Exists(same_booking.filter(status=WebhookEventStatus.RECEIVED, id__lt=OuterRef("id")))
    )
    with transaction.atomic():
        events = list(
            WebhookEvent.objects.select_for_update(skip_locked=True)
            .filter(next_of_its_booking, status=WebhookEventStatus.RECEIVED)
            .order_by("id")[:limit]
        )
        if not events:
            return []
        WebhookEvent.objects.filter(pk__in=[event.pk for event in events]).update(
            status=WebhookEventStatus.PROCESSING, attempts=F("attempts") + 1
        )
        for event in events:
            event.status = WebhookEventStatus.PROCESSING
            event.attempts += 1
        attempts = ProcessingAttempt.objects.bulk_create(
            ProcessingAttempt(event=event, number=event.attempts, started_via=_claimed_via(event))
            for event in events
        )
    return [
        Claim(event=event, attempt=attempt, previous_status=WebhookEventStatus.RECEIVED)
        for event, attempt in zip(events, attempts, strict=True)
    ]


def _claimed_via(event: WebhookEvent) -> AttemptTrigger:
    # A waiting event with a lease was handed back by the recovery sweep.
    return AttemptTrigger.RECOVERY if event.next_attempt_at is not None else AttemptTrigger.DELIVERY


def _apply(*, event: WebhookEvent) -> tuple[AttemptOutcome, str]:
    try:
        if event.content_type.split(";")[0].strip().lower() == FORM_ENCODED:
            raise UnusableBody("body is form-encoded (custom payload template)")
        parsed = parse_event(decode_body(bytes(event.raw_body)))
    except UnusableBody as exc:
        return AttemptOutcome.IGNORED, str(exc)
    outcome, reason = _apply_parsed(event=event, parsed=parsed)
    return outcome, "; ".join(filter(None, (reason, *parsed.notes)))


def _apply_parsed(*, event: WebhookEvent, parsed: CalComEvent) -> tuple[AttemptOutcome, str]:
    from notifications.services import queue_hit_notifications

    if parsed.trigger == "PING":
        return AttemptOutcome.PROCESSED, "PING: Cal.com test delivery, nothing to apply"
    if parsed.trigger not in KNOWN_TRIGGERS:
        return AttemptOutcome.IGNORED, f"unknown trigger {parsed.trigger!r}"
    if len(parsed.uid) > _UID_MAX_LENGTH or len(parsed.reschedule_uid) > _UID_MAX_LENGTH:
        # A uid is the booking's identity: cutting it could merge two bookings.
        return AttemptOutcome.IGNORED, (
            f"booking uid longer than {_UID_MAX_LENGTH} characters: not a Cal.com uid, "
            "cannot be stored"
        )

    result = apply_calcom_event(event=parsed, source=event)
    if result.meeting is not None:
        event.meeting = result.meeting
    if result.plan.ignored:
        if result.meeting is None and parsed.trigger not in BOOKING_TRIGGERS:
            return AttemptOutcome.PROCESSED, f"recorded: {result.plan.ignored_reason}"
        return AttemptOutcome.IGNORED, result.plan.ignored_reason
    if result.plan.hit and result.meeting is not None:
        queue_hit_notifications(meeting=result.meeting, kind=result.plan.hit, event=event)
    return AttemptOutcome.PROCESSED, ""




def _record_failure(*, event_id: int, attempt: ProcessingAttempt, exc: Exception) -> WebhookEvent:
    """Store a failed run; schedule the next attempt with backoff, or mark the event dead.

    Backends that can defer (django-tasks-db) get the retry enqueued for `next_attempt_at`;
    on the others (inline) the recovery sweep starts it once it is due.
    """
    error = f"{type(exc).__name__}: {exc}"[:2000]
    trace = "".join(traceback_module.format_exception(exc))[-20000:]
    try:
        event = _store_failure(
            event_id=event_id, attempt=attempt, error=error, trace=trace,
            permanent=is_permanent_failure(exc=exc),
        )
    except Exception:
        # Could not even record it (the database is gone): say what failed; the event stays
        # `processing` and the recovery sweep runs it again.
        log_fields(
            level=logging.ERROR, what="webhook processing failed", event_id=event_id,
            attempt=attempt.number, outcome="unrecorded", error=error,
        )
        raise
    log_fields(
        level=logging.ERROR, what="webhook processing failed", event_id=event_id,
        trigger=event.trigger_event, uid=event.booking_uid, attempt=attempt.number,
        outcome=event.status, next_attempt_at=event.next_attempt_at, error=error,
    )
    return event


def is_permanent_failure(*, exc: BaseException) -> bool:
    """A value the database refuses (out of range, too long, not encodable) is refused again on
    every retry: such a delivery is settled at once instead of retried into `dead`."""
    return isinstance(exc, (DataError, UnicodeError))


def _store_failure(
    *, event_id: int, attempt: ProcessingAttempt, error: str, trace: str, permanent: bool
) -> WebhookEvent:
    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update().get(pk=event_id)
        now = timezone.now()
        if permanent:
            event.status = WebhookEventStatus.IGNORED
            event.status_reason = f"not retried: the database cannot hold this delivery ({error})"
            event.next_attempt_at = None
            event.processed_at = now
            event.last_error = error
            event.last_traceback = trace
            event.save(update_fields=[
                "status", "status_reason", "next_attempt_at", "processed_at", "last_error",
                "last_traceback",
            ])
            ProcessingAttempt.objects.filter(pk=attempt.pk).update(
                outcome=AttemptOutcome.IGNORED, error=error, traceback=trace, finished_at=now
            )
            return event
        if event.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
            event.status = WebhookEventStatus.DEAD
            event.next_attempt_at = None
        else:
            event.status = WebhookEventStatus.FAILED
            event.next_attempt_at = now + retry_delay(attempt_number=event.attempts)
        event.last_error = error
        event.last_traceback = trace
        event.save(update_fields=["status", "next_attempt_at", "last_error", "last_traceback"])
        ProcessingAttempt.objects.filter(pk=attempt.pk).update(
            outcome=AttemptOutcome.FAILED, error=error, traceback=trace, finished_at=now
        )
        if event.status == WebhookEventStatus.FAILED and backend_can_defer():
            run_after = event.next_attempt_at
            transaction.on_commit(
                lambda: enqueue_processing_at(
                    event_id=event_id, via=AttemptTrigger.RETRY, run_after=run_after
                )
            )
    return event


def reprocess_event(*, event_id: int, user=None, force: bool = False, via=AttemptTrigger.ADMIN) -> WebhookEvent:
    """Staff replay of one event (admin, API, command), through the same path as the worker."""
    return process_event(
        event_id=event_id,
        via=via,
        mode=ProcessingMode.FORCE if force else ProcessingMode.REPROCESS,
        user=user,
    )


# --- Structured log lines ---------------------------------------------------------------------


def log_fields(*, level: int, what: str, **fields) -> None:
    """One log line: `what key=value …`, values with spaces JSON-quoted, empty ones as `-`.

    The fields also ride on the record (`extra`), so LOG_FORMAT=json emits them as JSON keys.
    """
    text = " ".join(f"{key}={_log_value(value)}" for key, value in fields.items())
    logger.log(level, "%s %s", what, text, extra=fields)


def _log_value(value) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    if any(char.isspace() for char in text) or '"' in text or "=" in text:
        return json.dumps(text, ensure_ascii=False)
    return text


# --- Retries (the recovery sweep is in recovery.py) -------------------------------------------

def retry_delay(*, attempt_number: int) -> timedelta:
    """How long to wait after failed attempt `attempt_number` (1-based) before the next one.

    Exponential from WEBHOOK_RETRY_BASE_SECONDS, capped at WEBHOOK_RETRY_MAX_SECONDS; the upper
    half is random ("equal jitter"), so events that failed together do not retry in step.
    """
    exponent = min(max(attempt_number - 1, 0), 32)
    ceiling = min(
        settings.WEBHOOK_RETRY_BASE_SECONDS * 2**exponent, settings.WEBHOOK_RETRY_MAX_SECONDS
    )
    return timedelta(seconds=ceiling / 2 + random.uniform(0, ceiling / 2))


def backend_can_defer() -> bool:
    """Whether the task backend runs tasks later by itself (django-tasks-db: `run_after`)."""
    from .tasks import process_webhook_event

    try:
        return bool(process_webhook_event.get_backend().supports_defer)
    except Exception:
        return False


def enqueue_processing_at(*, event_id: int, via: AttemptTrigger, run_after: datetime) -> None:
    """Enqueue a run for later. If that fails the event keeps its next_attempt_at and the
    recovery sweep starts it once it is overdue."""
    from .tasks import process_webhook_event

    try:
        process_webhook_event.using(run_after=run_after).enqueue(event_id=event_id, via=str(via))
    except Exception:
        logger.exception("could not enqueue the retry of event_id=%s", event_id)


# --- Abuse limits for refused deliveries ------------------------------------------------------


@dataclass(frozen=True)
class RefusedDelivery:
    event: WebhookEvent | None  # None: over the limit and only counted
    rate_limited: bool


def record_refused_delivery(
    *,
    raw_body: bytes,
    body_size: int,
    headers: Mapping[str, str],
    client_ip: str | None,
    content_type: str,
    signature_result: SignatureResult,
    reason: str,
) -> RefusedDelivery:
    """Record a refused delivery, unless its address is over the per-minute limit.

    Past WEBHOOK_REJECTED_LIMIT_PER_MINUTE refusals from one address in a minute, one more
    row says so (the marker) and the rest are only counted: on the marker, at each power of
    two, and in the `vani_webhook_refused_rate_limited_total` metric. Junk cannot fill the
    database, yet the flood stays visible. Only ever called after a delivery has been refused,
    so valid Cal.com traffic is never limited.
    """
    from .metrics import REFUSED_RATE_LIMITED

    limit = settings.WEBHOOK_REJECTED_LIMIT_PER_MINUTE
    window = int(time.time() // 60)
    address = rate_limited_source(client_ip=client_ip)
    count_key = f"vani:refused:{address}:{window}"
    marker_key = f"vani:refused-marker:{address}:{window}"
    count = _count_in_cache(key=count_key)
    record = dict(
        raw_body=raw_body,
        body_size=body_size,
        headers=headers,
        client_ip=client_ip,
        content_type=content_type,
        signature_result=signature_result,
    )
    if count is None or count <= limit:
        return RefusedDelivery(
            event=record_rejected_delivery(**record, reason=reason), rate_limited=False
        )
    REFUSED_RATE_LIMITED.inc()
    suppressed = count - limit
    summary = (
        f"rate limited: more than {limit} refused deliveries in one minute from {address}; "
        f"at least {suppressed} answered 429 and counted here, not stored (first cause: {reason})"
    )
    if suppressed == 1:
        marker = record_rejected_delivery(**record, reason=summary)
        _cache_quietly(lambda: cache.set(marker_key, marker.pk, timeout=180))
        return RefusedDelivery(event=marker, rate_limited=True)
    if suppressed & (suppressed - 1) == 0:  # a power of two: a handful of updates per flood
        marker_id = _cache_quietly(lambda: cache.get(marker_key))
        if marker_id:
            WebhookEvent.objects.filter(pk=marker_id).update(status_reason=summary)
    return RefusedDelivery(event=None, rate_limited=True)


def rate_limited_source(*, client_ip: str | None) -> str:
    """What the refusal limit counts per: the IPv4 address, or the IPv6 /64 (one host usually
    owns a whole /64 and could otherwise rotate through 2^64 addresses)."""
    try:
        address = ipaddress.ip_address(client_ip or "")
    except ValueError:
        return client_ip or "unknown"
    if address.version == 6 and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _count_in_cache(*, key: str) -> int | None:
    """Increment a per-minute counter; None when the cache is down (then nothing is limited)."""

    def increment() -> int:
        cache.add(key, 0, timeout=120)
        try:
            return cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=120)
            return 1

    return _cache_quietly(increment)


def _cache_quietly(operation: Callable):
    try:
        return operation()
    except Exception as exc:
        log_fields(level=logging.WARNING, what="rate limiter cache unavailable", error=repr(exc))
        return None


# --- Reprocessing in bulk (reprocess_webhook_events) ------------------------------------------


def reprocess_events(
    *,
    event_ids: Iterable[int],
    force: bool = False,
    user=None,
    via: AttemptTrigger = AttemptTrigger.COMMAND,
    on_event: Callable[[int, str], None] | None = None,
) -> dict[str, int]:
    """Replay events one by one through `reprocess_event`; returns how many ended how.

    Keys are the resulting statuses, plus `skipped` (not runnable in this mode, e.g. already
    processed without force, or being processed right now), `not allowed` (rejected
    deliveries and duplicates) and `missing` (deleted meanwhile).
    """
    outcomes: dict[str, int] = {}
    for event_id in event_ids:
        attempts_before = (
            WebhookEvent.objects.filter(pk=event_id).values_list("attempts", flat=True).first()
        )
        if attempts_before is None:
            outcome = "missing"
        else:
            try:
                event = reprocess_event(event_id=event_id, user=user, force=force, via=via)
            except ReprocessNotAllowed:
                outcome = "not allowed"
            else:
                outcome = event.status if event.attempts > attempts_before else "skipped"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if on_event is not None:
            on_event(event_id, outcome)
    return outcomes
