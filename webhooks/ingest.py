"""Storing what arrives at the webhook endpoint: an authenticated delivery, or a refused request.

An authenticated delivery is stored in one statement (or transaction) and handed to processing
after commit, unless the body settles it at the door (PING, unknown trigger, unusable body). A
byte-identical body is stored as a duplicate of the first. A refused request leaves a bounded
trace. Header values that are credentials never reach the database.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from common.logfields import log_fields
from common.sql_rows import insert_row
from common.tasks import tasks_run_inline

from .classification import BodyKind, classify_body
from .draining import insert_and_request_drain, queue_is_in_this_database
from .models import SignatureResult, WebhookEvent, WebhookEventStatus
from .processing import enqueue_processing

logger = logging.getLogger("webhooks")

# Headers whose values are credentials or signatures: stored and shown as "***". Any name
# containing one of these words, so that X-Password, X-Private-Key, Proxy-Authorization and
# the like are caught without being listed.
_SECRET_HEADER_NAME = re.compile(
    "password|passwd|key|secret|token|auth|signature|cookie|session|credential", re.IGNORECASE
)
# WebhookEvent.body_size is a PositiveIntegerField: 32 bits signed on PostgreSQL.
_BODY_SIZE_MAX = 2**31 - 1


@dataclass(frozen=True)
class DeliveryResult:
    event: WebhookEvent
    http_status: int
    body: dict


def mask_headers(*, headers: Mapping[str, str]) -> dict[str, str]:
    return {name: "***" if _is_secret_header(name) else value for name, value in headers.items()}


@lru_cache(maxsize=512)
def _is_secret_header(name: str) -> bool:
    # Cached: every delivery sends the same few names, and the search was most of the masking.
    return _SECRET_HEADER_NAME.search(name) is not None


# A refused delivery is unauthenticated: what it leaves in the headers column is bounded
# (REJECTED_HEADERS_CAP_BYTES in all). The headers that tell what it was come first.
_REFUSED_HEADERS_MAX_COUNT = 50
_REFUSED_HEADER_NAME_MAX = 64
_REFUSED_HEADER_VALUE_MAX = 256
_REFUSED_HEADERS_FIRST = (
    "X-Cal-Signature-256",
    "X-Cal-Webhook-Version",
    "Content-Type",
    "Content-Length",
    "User-Agent",
    "X-Forwarded-For",
    "Host",
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
        logger=logger,
        level=logging.WARNING,
        what="webhook rejected",
        event_id=event.pk,
        outcome=event.status,
        signature=signature_result,
        client=client_ip,
        size=body_size,
        cause=reason,
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
        body = classify_body(raw_body=raw_body, content_type=content_type)
    except Exception as exc:
        # A parser bug must not cost the delivery: Cal.com would retry it into the same 500.
        # Stored as unusable, it can be reprocessed once the parser is fixed.
        logger.exception("could not parse a signed delivery")
        problem = f"body could not be parsed ({type(exc).__name__}); stored for reprocessing"
        fields.update(status=WebhookEventStatus.IGNORED, status_reason=problem)
    else:
        if body.kind == BodyKind.UNUSABLE:
            problem = body.reason
            fields.update(status=WebhookEventStatus.IGNORED, status_reason=problem)
        else:
            parsed = body.event
            fields.update(
                trigger_event=parsed.trigger[:64],
                booking_uid=parsed.uid[:255],
                reschedule_uid=parsed.reschedule_uid[:255],
                booking_id=parsed.booking_id,
                attendee_email=(parsed.attendee.email if parsed.attendee else "")[:254],
                event_created_at=parsed.created_at,
            )
        if body.kind == BodyKind.PING:
            fields.update(
                status=WebhookEventStatus.PROCESSED,
                status_reason=body.reason,
                processed_at=timezone.now(),
            )
        elif body.kind == BodyKind.UNKNOWN_TRIGGER:
            fields.update(status=WebhookEventStatus.IGNORED, status_reason=body.reason)

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

    if original is None and event.status == WebhookEventStatus.RECEIVED and tasks_run_inline():
        # The embedded default has already processed it; answer with the real outcome.
        event.refresh_from_db(fields=["status"])
    log_fields(
        logger=logger,
        level=logging.INFO,
        what="webhook delivery",
        event_id=event.pk,
        trigger=event.trigger_event,
        uid=event.booking_uid,
        outcome=event.status,
        duplicate_of=original.pk if original else None,
        duration_ms=(time.monotonic() - started) * 1000,
    )
    if problem:
        return DeliveryResult(event=event, http_status=400, body={"error": problem, "event_id": event.pk})
    body = {"event_id": event.pk, "duplicate": original is not None, "status": event.status}
    if original is not None:
        body["duplicate_of"] = original.pk
    return DeliveryResult(event=event, http_status=200, body=body)


def _store_new_event(*, fields: dict) -> WebhookEvent:
    """Insert the delivery and make sure it gets processed once it is committed."""

    def insert() -> WebhookEvent:
        # Hand-written: the ORM's compilation of this 25-column INSERT cost more CPU than the
        # rest of the endpoint's own work (docs/decisions/0018-hand-written-row-writes.md).
        return insert_row(obj=WebhookEvent(**fields))

    if fields.get("status", WebhookEventStatus.RECEIVED) != WebhookEventStatus.RECEIVED:
        return insert()  # settled at the door (PING, unknown trigger, unusable body)
    if queue_is_in_this_database():
        # The event row is the queue entry; workers claim events in batches (draining.py).
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
