"""Which processing failures are retried, and when (the recovery sweep is in recovery.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import DataError

from common.backoff import backoff_seconds


def is_permanent_failure(*, exc: BaseException) -> bool:
    """A value the database refuses (out of range, too long, not encodable) is refused again on
    every retry: such a delivery is settled at once instead of retried into `dead`."""
    return isinstance(exc, (DataError, UnicodeError))


def retry_delay(*, attempt_number: int) -> timedelta:
    """How long to wait after failed attempt `attempt_number` (1-based) before the next one.

    Exponential from WEBHOOK_RETRY_BASE_SECONDS, capped at WEBHOOK_RETRY_MAX_SECONDS; the upper
    half is random ("equal jitter"), so events that failed together do not retry in step.
    """
    return timedelta(
        seconds=backoff_seconds(
            retry=attempt_number - 1,
            base=settings.WEBHOOK_RETRY_BASE_SECONDS,
            cap=settings.WEBHOOK_RETRY_MAX_SECONDS,
        )
    )


def next_attempt_at(*, attempts: int, now: datetime) -> datetime | None:
    """When to run an event again after its `attempts`-th run failed; None: out of attempts."""
    if attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        return None
    return now + retry_delay(attempt_number=attempts)
