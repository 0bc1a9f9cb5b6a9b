"""The per-address limit on refused deliveries: junk cannot fill the database, yet stays visible.

Counted per minute in the cache; only ever applied after a delivery has been refused, so valid
Cal.com traffic is never limited. When the cache is down nothing is limited.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from common.logfields import log_fields

from .ingest import record_rejected_delivery
from .metrics import REFUSED_RATE_LIMITED
from .models import SignatureResult, WebhookEvent

logger = logging.getLogger("webhooks")


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
        return RefusedDelivery(event=record_rejected_delivery(**record, reason=reason), rate_limited=False)
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
        log_fields(
            logger=logger,
            level=logging.WARNING,
            what="rate limiter cache unavailable",
            error=repr(exc),
        )
        return None
