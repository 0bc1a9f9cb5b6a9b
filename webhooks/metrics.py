"""Prometheus metrics for `/metrics`.

Totals come from the database at scrape time (cheap indexed queries over the last 24 hours and
over the few unfinished events), so every gunicorn worker answers the same numbers whichever
one is scraped. Only what the database cannot know is kept in the process: the ingest latency
histogram and the count of rate-limited refusals (which are deliberately not stored). With
several web processes set PROMETHEUS_MULTIPROC_DIR (deploy/gunicorn.conf.py creates it and wipes
its files when the gunicorn master starts) and those two are summed over all processes.
"""

from __future__ import annotations

import os

from django.db import DatabaseError
from django.utils import timezone
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

_MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _MULTIPROC_DIR:
    # prometheus_client opens this process's file there as soon as a metric exists; a missing
    # directory would crash every process at import. Wiping is the gunicorn master's job.
    os.makedirs(_MULTIPROC_DIR, exist_ok=True)

INGEST_SECONDS = Histogram(
    "vani_webhook_ingest_seconds",
    "Time to answer a POST to the webhook endpoint, by HTTP status.",
    ["code"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
REFUSED_RATE_LIMITED = Counter(
    "vani_webhook_refused_rate_limited",
    "Refused deliveries answered 429 and only counted (over the per-address limit).",
)


class DatabaseCollector:
    """Gauges read from the database when Prometheus scrapes."""

    def collect(self):
        from .ops_selectors import metrics_snapshot

        up = GaugeMetricFamily("vani_database_up", "1 if the database answered this scrape.")
        try:
            snapshot = metrics_snapshot(now=timezone.now())
        except DatabaseError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up

        by_status = GaugeMetricFamily(
            "vani_webhook_events_24h",
            "Deliveries received in the last 24 hours, by current status.",
            labels=["status"],
        )
        for status, count in snapshot.events_24h_by_status.items():
            by_status.add_metric([status], count)
        yield by_status

        rejected = GaugeMetricFamily(
            "vani_webhook_rejected_24h",
            "Refused deliveries stored in the last 24 hours, by cause.",
            labels=["cause"],
        )
        for cause, count in snapshot.rejected_24h_by_cause.items():
            rejected.add_metric([cause], count)
        yield rejected

        yield GaugeMetricFamily(
            "vani_webhook_backlog_events",
            "Events not finished yet (received, processing or failed awaiting a retry).",
            value=snapshot.backlog,
        )
        yield GaugeMetricFamily(
            "vani_webhook_failed_events",
            "Events failed and awaiting a retry.",
            value=snapshot.failed,
        )
        yield GaugeMetricFamily(
            "vani_webhook_dead_events", "Events that ran out of attempts.", value=snapshot.dead
        )
        yield GaugeMetricFamily(
            "vani_webhook_oldest_unprocessed_age_seconds",
            "Age of the oldest unfinished event (0 when there is none).",
            value=snapshot.oldest_unprocessed_age_seconds or 0.0,
        )
        yield from _sync_metrics()


def _sync_metrics():
    """The Cal.com sync (calsync/): a sync that keeps changing meetings means lost deliveries."""
    from calsync.models import SyncChangeKind
    from calsync.selectors import sync_metrics

    snapshot = sync_metrics(now=timezone.now())
    yield GaugeMetricFamily(
        "vani_calcom_sync_last_success_timestamp_seconds",
        "Unix time the last successful Cal.com sync finished (0: never).",
        value=snapshot.last_success_at.timestamp() if snapshot.last_success_at else 0.0,
    )
    yield GaugeMetricFamily(
        "vani_calcom_sync_last_run_failed",
        "1 if the last Cal.com sync failed.",
        value=int(snapshot.last_run_failed),
    )
    yield GaugeMetricFamily(
        "vani_calcom_sync_bookings_read_24h",
        "Bookings the Cal.com sync read in the last 24 hours.",
        value=snapshot.bookings_read_24h,
    )
    changed = GaugeMetricFamily(
        "vani_calcom_sync_meetings_changed_24h",
        "Meetings the Cal.com sync changed (healed) in the last 24 hours, by kind of change.",
        labels=["kind"],
    )
    for kind in SyncChangeKind.values:
        changed.add_metric([kind], snapshot.changed_24h_by_kind.get(kind, 0))
    yield changed


def render_metrics() -> tuple[bytes, str]:
    """The exposition text and its content type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        process_registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(process_registry)
    else:
        process_registry = REGISTRY
    database_registry = CollectorRegistry(auto_describe=False)
    database_registry.register(DatabaseCollector())
    return generate_latest(process_registry) + generate_latest(database_registry), CONTENT_TYPE_LATEST
