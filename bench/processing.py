"""Part 2: draining queued events with `manage.py db_worker`, against bare single-row UPDATEs.

Events are delivered through `webhooks.ingest.record_delivery` with django-tasks-db, so each
one is a stored `received` WebhookEvent with the drain tasks its deliveries enqueued, exactly as
the endpoint leaves them. The mix
is a realistic booking life cycle over thousands of bookings (bench/bodies.py). Then 1 and 2
db_worker processes drain the queue (events/s, enqueue-to-processed latency, peak RSS); the
baseline is the same number of `UPDATE webhook_events SET status='processed' WHERE id=…`, one
transaction each, from the same number of processes. Finally a paced run (events arriving at a
steady rate below capacity while 2 workers poll) gives the latency an event sees when the queue
is not a backlog.

Subcommands (`python -m bench.processing feed|bare-updates …`) are the helper processes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass

from calcom.signatures import SIGNATURE_HEADER, sign_body

from .bodies import BENCH_SECRET, booking_lifecycles

ACTIVE_EVENT_STATUSES = ("received", "processing")
PROCESS_TASK_PATH = "webhooks.processing.process_webhook_event"
NOTIFICATION_TASK_PATH = "notifications.services.send_notifications_task"


@dataclass(frozen=True)
class ProcessingConfig:
    events: int = 10_000
    worker_counts: tuple[int, ...] = (1, 2)
    poll_interval: float = 0.05
    feeders: int = 2
    paced_events: int = 3_000
    # The rate of the issue #17 reference figure (31 ms p50 at 200/s): far above Cal.com's real
    # traffic, yet leaving headroom on 2 cores, where the feeders run beside the workers and
    # PostgreSQL (at half the drain rate, ~400/s, feeders and workers saturate both cores and
    # the figure measures the run queue). 0: half the rate the same number of workers drained at.
    paced_rate: float = 200.0
    paced_seconds: float = 15.0
    paced_workers: int = 2
    # A drain stops after this long even if events are left: the rate over a long steady
    # stretch of a deep backlog is the figure; draining all of it at a few dozen events/s would
    # only make `make bench` long.
    max_drain_seconds: float = 120.0


# --- Helper processes ----------------------------------------------------------------------------


def feed(*, events: int, prefix: str, part: int, parts: int, rate: float = 0.0) -> dict:
    """Deliver this part's share of the mix through record_delivery (bookings split by number,
    so each booking's events keep their order). With a rate, pace the deliveries."""
    from webhooks.ingest import record_delivery
    from webhooks.models import SignatureResult

    deliveries = [
        d for d in booking_lifecycles(events=events, run_prefix=prefix) if d.booking % parts == part
    ]
    started = time.monotonic()
    statuses: dict[str, int] = {}
    for number, delivery in enumerate(deliveries):
        if rate:
            delay = started + number / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        result = record_delivery(
            raw_body=delivery.body,
            headers={
                "Content-Type": "application/json",
                "X-Cal-Webhook-Version": "2021-10-20",
                SIGNATURE_HEADER: sign_body(body=delivery.body, secret=BENCH_SECRET),
            },
            client_ip="127.0.0.1",
            content_type="application/json",
            signature_result=SignatureResult.VALID,
        )
        statuses[result.event.status] = statuses.get(result.event.status, 0) + 1
    return {"fed": len(deliveries), "seconds": time.monotonic() - started, "statuses": statuses}


def bare_updates(*, part: int, parts: int, limit: int | None = None) -> dict:
    """The baseline: one single-row UPDATE per event, each its own transaction (autocommit)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM webhook_events ORDER BY id")
        ids = [row[0] for row in cursor.fetchall()][:limit]
        ids = [event_id for event_id in ids if event_id % parts == part]
        started = time.time()
        for event_id in ids:
            cursor.execute("UPDATE webhook_events SET status = 'processed' WHERE id = %s", [event_id])
        finished = time.time()
    return {"updates": len(ids), "started": started, "finished": finished}


# --- Orchestration (runs inside the configured Django process) -----------------------------------


def _feed_in_parallel(*, events: int, prefix: str, parts: int, rate: float = 0.0) -> dict:
    from .infra import PYTHON, REPO_DIR, subprocess_env

    processes = [
        subprocess.Popen(
            [
                PYTHON,
                "-m",
                "bench.processing",
                "feed",
                "--events",
                str(events),
                "--prefix",
                prefix,
                "--part",
                str(part),
                "--parts",
                str(parts),
                "--rate",
                str(rate / parts if rate else 0),
            ],
            cwd=REPO_DIR,
            env=subprocess_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for part in range(parts)
    ]
    results = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=900)
        if process.returncode != 0:
            raise RuntimeError(f"feeder exited {process.returncode}:\n{stderr[-4000:]}")
        results.append(json.loads(stdout.strip().splitlines()[-1]))
    return {
        "fed": sum(r["fed"] for r in results),
        # From the first delivery to the last (the feeders' own clocks), not their start-up.
        "seconds": max(r["seconds"] for r in results),
        "statuses": _merge_counts(r["statuses"] for r in results),
    }


def _merge_counts(counts) -> dict[str, int]:
    merged: dict[str, int] = {}
    for count in counts:
        for key, value in count.items():
            merged[key] = merged.get(key, 0) + value
    return merged


def _start_workers(*, count: int, poll_interval: float) -> list[subprocess.Popen]:
    from .infra import PYTHON, REPO_DIR, RESULTS_DIR, subprocess_env

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    log = open(RESULTS_DIR / "db_worker.log", "ab")  # noqa: SIM115  (open for the workers' lifetime)
    return [
        subprocess.Popen(
            [
                PYTHON,
                "manage.py",
                "db_worker",
                "--interval",
                str(poll_interval),
                "--no-startup-delay",
                "--no-reload",
                "--verbosity",
                "0",
                "--worker-id",
                f"bench-{count}-{index}",
            ],
            cwd=REPO_DIR,
            env=subprocess_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for index in range(count)
    ]


def _queue_tables() -> tuple[str, str]:
    from django_tasks_db.models import DBTaskResult

    from webhooks.models import WebhookEvent

    return DBTaskResult._meta.db_table, WebhookEvent._meta.db_table


def _work_left() -> int:
    """Events not yet processed (or their tasks not yet finished).

    HIT notifications are an outbox of their own: their tasks queue in line with the drain tasks
    (first in, first out) and are not waited for; how many were sent by the end is reported.
    """
    from django_tasks_db.models import DBTaskResult

    from webhooks.models import WebhookEvent

    event_tasks = DBTaskResult.objects.filter(task_path=PROCESS_TASK_PATH)
    return (
        WebhookEvent.objects.filter(status__in=ACTIVE_EVENT_STATUSES).count()
        + event_tasks.ready().count()
        + event_tasks.running().count()
    )


def _wait_until_drained(*, workers: list[subprocess.Popen], timeout: float) -> bool:
    """Wait until every event is processed (True) or `timeout` seconds have passed (False)."""
    deadline = time.monotonic() + timeout
    while _work_left():
        if time.monotonic() > deadline:
            return False
        if any(worker.poll() is not None for worker in workers):
            raise RuntimeError("a db_worker exited while draining; see bench/results/db_worker.log")
        time.sleep(0.2)
    return True


def _event_outcomes() -> dict:
    from django.db.models import Count, Max, Min

    from webhooks.models import ProcessingAttempt, WebhookEvent

    statuses = dict(
        WebhookEvent.objects.order_by().values("status").annotate(n=Count("id")).values_list("status", "n")
    )
    window = ProcessingAttempt.objects.aggregate(first=Min("started_at"), last=Max("finished_at"))
    latencies = sorted(
        (processed - received).total_seconds() * 1000
        for received, processed in WebhookEvent.objects.filter(processed_at__isnull=False)
        .values_list("received_at", "processed_at")
        .iterator(chunk_size=5000)
    )
    return {"statuses": statuses, "window": window, "latencies_ms": latencies}


def _notification_tasks() -> dict[str, int]:
    from django.db.models import Count
    from django_tasks_db.models import DBTaskResult

    return dict(
        DBTaskResult.objects.filter(task_path=NOTIFICATION_TASK_PATH)
        .order_by()
        .values("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )


def _percentiles(values: list[float]) -> dict[str, float]:
    from .loadgen import percentile

    return {
        name: percentile(values, fraction) for name, fraction in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
    }


def drain_run(*, workers: int, config: ProcessingConfig, prefix: str) -> dict:
    from .infra import peak_rss_kib, stop_process, truncate_service_tables, vacuum_analyze

    truncate_service_tables()
    fed = _feed_in_parallel(events=config.events, prefix=prefix, parts=config.feeders)
    # Fresh statistics, as autovacuum leaves them within a minute of a bulk change. Without them
    # (right after TRUNCATE + 10,000 inserts) the planner expects ~30 queued tasks and answers
    # db_worker's "next task" query by sorting the whole backlog: ~12 ms per task instead of
    # ~0.5 ms, which would measure the statistics, not the pipeline.
    vacuum_analyze(*_queue_tables())
    processes = _start_workers(count=workers, poll_interval=config.poll_interval)
    try:
        drained = _wait_until_drained(workers=processes, timeout=config.max_drain_seconds)
        peak_rss = {str(p.pid): peak_rss_kib(p.pid) for p in processes}
        notification_tasks = _notification_tasks()
    finally:
        for process in processes:
            stop_process(process)
    outcomes = _event_outcomes()
    window = outcomes["window"]
    seconds = (window["last"] - window["first"]).total_seconds()
    processed = sum(n for status, n in outcomes["statuses"].items() if status in ("processed", "ignored"))
    result = {
        "workers": workers,
        "events": fed["fed"],
        "feed_seconds": fed["seconds"],
        "drained_fully": drained,
        "processed_events": processed,
        "drain_seconds": seconds,
        "events_per_s": processed / seconds if seconds else 0.0,
        "statuses": outcomes["statuses"],
        "notification_tasks": notification_tasks,
        "backlog_latency_ms": _percentiles(outcomes["latencies_ms"]),
        "worker_peak_rss_kib": peak_rss,
    }
    result["baseline"] = bare_update_run(processes=workers, updates=processed)
    result["ratio_to_baseline"] = (
        result["events_per_s"] / result["baseline"]["updates_per_s"]
        if result["baseline"]["updates_per_s"]
        else 0.0
    )
    return result


def bare_update_run(*, processes: int, updates: int) -> dict:
    from .infra import PYTHON, REPO_DIR, subprocess_env

    commands = [
        subprocess.Popen(
            [
                PYTHON,
                "-m",
                "bench.processing",
                "bare-updates",
                "--part",
                str(part),
                "--parts",
                str(processes),
                "--limit",
                str(updates),
            ],
            cwd=REPO_DIR,
            env=subprocess_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for part in range(processes)
    ]
    results = []
    for command in commands:
        stdout, stderr = command.communicate(timeout=900)
        if command.returncode != 0:
            raise RuntimeError(f"bare-updates exited {command.returncode}:\n{stderr[-4000:]}")
        results.append(json.loads(stdout.strip().splitlines()[-1]))
    updates = sum(r["updates"] for r in results)
    seconds = max(r["finished"] for r in results) - min(r["started"] for r in results)
    return {
        "processes": processes,
        "updates": updates,
        "seconds": seconds,
        "updates_per_s": updates / seconds if seconds else 0.0,
    }


def paced_run(*, config: ProcessingConfig, prefix: str, rate: float) -> dict:
    """Events arriving steadily while workers poll: the latency of a non-backlogged queue."""
    from .infra import peak_rss_kib, stop_process, truncate_service_tables

    events = max(20, min(config.paced_events, int(rate * config.paced_seconds)))
    truncate_service_tables()
    processes = _start_workers(count=config.paced_workers, poll_interval=config.poll_interval)
    try:
        time.sleep(2)  # let the workers start up before the first event arrives
        fed = _feed_in_parallel(events=events, prefix=prefix, parts=config.feeders, rate=rate)
        if not _wait_until_drained(workers=processes, timeout=120):
            raise RuntimeError("paced events not processed within 120 s of the last arrival")
        peak_rss = {str(p.pid): peak_rss_kib(p.pid) for p in processes}
    finally:
        for process in processes:
            stop_process(process)
    outcomes = _event_outcomes()
    return {
        "workers": config.paced_workers,
        "events": fed["fed"],
        "offered_rate": rate,
        "achieved_feed_rate": fed["fed"] / fed["seconds"] if fed["seconds"] else 0.0,
        "statuses": outcomes["statuses"],
        "latency_ms": _percentiles(outcomes["latencies_ms"]),
        "worker_peak_rss_kib": peak_rss,
    }


def run_processing(*, config: ProcessingConfig) -> dict:
    from .infra import truncate_service_tables

    drains = [
        drain_run(workers=workers, config=config, prefix=f"p{workers}w") for workers in config.worker_counts
    ]
    paced = None
    if config.paced_events:
        rate = config.paced_rate or 0.5 * next(
            (d["events_per_s"] for d in drains if d["workers"] == config.paced_workers),
            max(d["events_per_s"] for d in drains),
        )
        paced = paced_run(config=config, prefix="paced", rate=rate)
    truncate_service_tables()
    mix = booking_lifecycles(events=config.events, run_prefix="mix")
    return {
        "config": {
            "events": config.events,
            "bookings": len({delivery.booking for delivery in mix}),
            "mix": dict(Counter(delivery.trigger for delivery in mix).most_common()),
            "poll_interval_s": config.poll_interval,
            "max_drain_seconds": config.max_drain_seconds,
            "feeders": config.feeders,
        },
        "drains": drains,
        "paced": paced,
    }


def main(argv: list[str] | None = None) -> int:
    import django

    parser = argparse.ArgumentParser(description="helper processes of the processing benchmark")
    sub = parser.add_subparsers(dest="command", required=True)
    feed_parser = sub.add_parser("feed")
    feed_parser.add_argument("--events", type=int, required=True)
    feed_parser.add_argument("--prefix", required=True)
    feed_parser.add_argument("--part", type=int, default=0)
    feed_parser.add_argument("--parts", type=int, default=1)
    feed_parser.add_argument("--rate", type=float, default=0.0)
    updates_parser = sub.add_parser("bare-updates")
    updates_parser.add_argument("--part", type=int, default=0)
    updates_parser.add_argument("--parts", type=int, default=1)
    updates_parser.add_argument("--limit", type=int, default=None, help="only the first N events")
    args = parser.parse_args(argv)

    django.setup()
    if args.command == "feed":
        result = feed(
            events=args.events, prefix=args.prefix, part=args.part, parts=args.parts, rate=args.rate
        )
    else:
        result = bare_updates(part=args.part, parts=args.parts, limit=args.limit)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
