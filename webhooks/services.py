"""Write-side business logic for webhook deliveries: record them, process them, reprocess them."""

from __future__ import annotations

import hashlib
import logging
import time
import traceback as traceback_module
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from meetings.services import apply_calcom_event
from meetings.status_mapping import KNOWN_TRIGGERS

from .calcom import UnusableBody, decode_body, parse_event
from .models import (
    AttemptOutcome,
    AttemptTrigger,
    ProcessingAttempt,
    SignatureResult,
    WebhookEvent,
    WebhookEventStatus,
)

logger = logging.getLogger("webhooks")

# Headers whose values are credentials or signatures: stored and shown as "***".
_SECRET_HEADER_WORDS = ("signature", "secret", "token", "authorization", "cookie", "api-key", "apikey")
FORM_ENCODED = "application/x-www-form-urlencoded"


class ProcessingMode(str, Enum):
    AUTO = "auto"  # a delivery or retry: only events still waiting to be processed
    REPROCESS = "reprocess"  # staff: also failed, dead and ignored events
    FORCE = "force"  # staff: also events already processed


_RUNNABLE_STATUSES = {
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
        body_size=body_size,
        body_truncated=body_size > min(len(raw_body), cap),
        headers=mask_headers(headers=headers),
        client_ip=client_ip,
        content_type=content_type[:255],
        webhook_version=headers.get("X-Cal-Webhook-Version", "")[:32],
        signature_result=signature_result,
    )
    logger.warning(
        "webhook rejected event_id=%s cause=%r signature=%s client=%s size=%s",
        event.pk, reason, signature_result, client_ip, body_size,
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
    else:
        fields.update(
            trigger_event=parsed.trigger[:64],
            booking_uid=parsed.uid[:255],
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

    with transaction.atomic():
        event, original = _insert_original_or_duplicate(fields=fields)
        if original is None and event.status == WebhookEventStatus.RECEIVED:
            event_id = event.pk
            transaction.on_commit(lambda: enqueue_processing(event_id=event_id))

    if original is None and event.status == WebhookEventStatus.RECEIVED and _runs_inline():
        # The embedded default has already processed it; answer with the real outcome.
        event.refresh_from_db(fields=["status"])
    logger.info(
        "webhook delivery event_id=%s trigger=%s uid=%s outcome=%s duplicate_of=%s ms=%.1f",
        event.pk, event.trigger_event or "-", event.booking_uid or "-", event.status,
        original.pk if original else "-", (time.monotonic() - started) * 1000,
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


def _insert_original_or_duplicate(*, fields: dict) -> tuple[WebhookEvent, WebhookEvent | None]:
    """Insert the delivery; if the same body was stored before, store it as its duplicate.

    The partial unique index on the fingerprint decides races between identical concurrent
    deliveries: exactly one becomes the original.
    """
    existing = (
        WebhookEvent.objects.filter(fingerprint=fields["fingerprint"], duplicate_of__isnull=True)
        .exclude(status=WebhookEventStatus.REJECTED)
        .only("id")
        .first()
    )
    if existing is None:
        try:
            with transaction.atomic():
                return WebhookEvent.objects.create(**fields), None
        except IntegrityError:
            existing = WebhookEvent.objects.filter(
                fingerprint=fields["fingerprint"], duplicate_of__isnull=True
            ).exclude(status=WebhookEventStatus.REJECTED).only("id").get()
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
    attempt, previous_status = claim
    started = time.monotonic()
    try:
        with transaction.atomic():
            event = WebhookEvent.objects.select_for_update().get(pk=event_id)
            outcome, reason = _apply(event=event)
            now = timezone.now()
            # A forced replay of an applied event that no longer changes anything (later events
            # superseded it) leaves the event processed: its effect stands.
            replay_of_applied = previous_status == WebhookEventStatus.PROCESSED
            event.status = (
                WebhookEventStatus.PROCESSED
                if outcome == AttemptOutcome.PROCESSED or replay_of_applied
                else WebhookEventStatus.IGNORED
            )
            event.status_reason = reason
            event.processed_at = now
            event.last_error = ""
            event.last_traceback = ""
            event.next_attempt_at = None
            event.save()
            attempt.outcome = outcome
            attempt.error = reason
            attempt.finished_at = now
            attempt.save()
    except Exception as exc:
        event = _record_failure(event_id=event_id, attempt=attempt, exc=exc)
    logger.info(
        "webhook processing event_id=%s trigger=%s uid=%s attempt=%s via=%s outcome=%s ms=%.1f",
        event.pk, event.trigger_event or "-", event.booking_uid or "-", attempt.number, via,
        event.status, (time.monotonic() - started) * 1000,
    )
    return event


def _claim(
    *, event_id: int, via: AttemptTrigger, mode: ProcessingMode, user
) -> tuple[ProcessingAttempt, str] | None:
    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update().get(pk=event_id)
        if event.status in NEVER_PROCESSED:
            raise ReprocessNotAllowed(
                f"event #{event.pk} is {event.status}; "
                f"{'rejected deliveries' if event.status == WebhookEventStatus.REJECTED else 'duplicates'}"
                " are never processed"
            )
        runnable = _RUNNABLE_STATUSES[mode]
        # A run left `processing` by a killed worker is taken over by the recovery sweep.
        if event.status not in runnable and not (
            event.status == WebhookEventStatus.PROCESSING and via == AttemptTrigger.RECOVERY
        ):
            return None
        previous_status = event.status
        event.status = WebhookEventStatus.PROCESSING
        event.attempts += 1
        event.save(update_fields=["status", "attempts"])
        attempt = ProcessingAttempt.objects.create(
            event=event, number=event.attempts, started_via=via, started_by=user
        )
        return attempt, previous_status


def _apply(*, event: WebhookEvent) -> tuple[AttemptOutcome, str]:
    from notifications.services import queue_hit_notifications

    try:
        if event.content_type.split(";")[0].strip().lower() == FORM_ENCODED:
            raise UnusableBody("body is form-encoded (custom payload template)")
        parsed = parse_event(decode_body(bytes(event.raw_body)))
    except UnusableBody as exc:
        return AttemptOutcome.IGNORED, str(exc)
    if parsed.trigger == "PING":
        return AttemptOutcome.PROCESSED, "PING: Cal.com test delivery, nothing to apply"
    if parsed.trigger not in KNOWN_TRIGGERS:
        return AttemptOutcome.IGNORED, f"unknown trigger {parsed.trigger!r}"

    result = apply_calcom_event(event=parsed, source=event)
    if result.meeting is not None:
        event.meeting = result.meeting
    if result.plan.ignored:
        if result.meeting is None and parsed.trigger not in _BOOKING_TRIGGERS:
            return AttemptOutcome.PROCESSED, f"recorded: {result.plan.ignored_reason}"
        return AttemptOutcome.IGNORED, result.plan.ignored_reason
    if result.plan.hit and result.meeting is not None:
        queue_hit_notifications(meeting=result.meeting, kind=result.plan.hit, event=event)
    return AttemptOutcome.PROCESSED, ""


_BOOKING_TRIGGERS = frozenset(
    {
        "BOOKING_CREATED", "BOOKING_REQUESTED", "BOOKING_RESCHEDULED", "BOOKING_CANCELLED",
        "BOOKING_REJECTED", "BOOKING_PAID", "BOOKING_PAYMENT_INITIATED", "MEETING_ENDED",
        "MEETING_STARTED", "BOOKING_NO_SHOW_UPDATED",
    }
)


def _record_failure(*, event_id: int, attempt: ProcessingAttempt, exc: Exception) -> WebhookEvent:
    error = f"{type(exc).__name__}: {exc}"[:2000]
    trace = "".join(traceback_module.format_exception(exc))[-20000:]
    logger.error("webhook processing failed event_id=%s error=%s", event_id, error)
    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update().get(pk=event_id)
        event.status = WebhookEventStatus.FAILED
        event.last_error = error
        event.last_traceback = trace
        event.save(update_fields=["status", "last_error", "last_traceback"])
        ProcessingAttempt.objects.filter(pk=attempt.pk).update(
            outcome=AttemptOutcome.FAILED, error=error, traceback=trace, finished_at=timezone.now()
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
