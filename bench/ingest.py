"""Part 1: ingest throughput and latency of the real endpoint against a bare-INSERT baseline.

One gunicorn (2 workers) serves both paths, with the production task backend
(django-tasks-db) and no db_worker running: the acknowledgement must not wait for processing,
which is verified after every target round (every event still `received`, one queued task each).
Rounds alternate baseline, target, baseline, target … with the service tables emptied before
each, and the medians are reported: first closed-loop rounds (a fixed number of connections kept
busy: throughput, and latency under saturation), then open-loop rounds (requests due at half the
baseline's closed-loop rate: the latency a delivery sees when the service is not saturated).
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Count, Max
from django_tasks_db.models import DBTaskResult

from webhooks.models import WebhookEvent

from .infra import (
    PYTHON,
    RESULTS_DIR,
    GunicornConfig,
    child_pids,
    gunicorn_server,
    peak_rss_kib,
    run_json_command,
    truncate_service_tables,
)
from .urls import BASELINE_INGEST_PATH

TARGET_PATH = settings.WEBHOOK_PATH
DRAIN_TASK_PATH = "webhooks.draining.drain_webhook_events"


@dataclass(frozen=True)
class IngestConfig:
    seconds: float = 20.0
    warmup_seconds: float = 2.0
    pairs: int = 3
    concurrency: int = 8
    gunicorn: GunicornConfig = field(default_factory=GunicornConfig)
    # Open loop, after the closed-loop pairs: requests due at a fixed share of the baseline's
    # closed-loop rate in this run, so latency is the service's, not the load generator's queue
    # (0 seconds: skipped). Informational: the latency target is the closed loop's p99.
    open_loop_seconds: float = 10.0
    open_loop_fraction: float = 0.5
    open_loop_connections: int = 16


def verify_acknowledged_without_processing() -> dict:
    """After a target round: nothing was processed, and a queued drain task will claim every
    event (one due at or after its arrival; the deliveries of a moment share one task)."""
    statuses = dict(
        WebhookEvent.objects.order_by()
        .values("status")
        .annotate(events=Count("id"))
        .values_list("status", "events")
    )
    drains = DBTaskResult.objects.filter(task_path=DRAIN_TASK_PATH, status="READY")
    latest_drain = drains.aggregate(latest=Max("run_after"))["latest"]
    uncovered = (
        WebhookEvent.objects.filter(received_at__gt=latest_drain).count()
        if latest_drain is not None
        else WebhookEvent.objects.count()
    )
    events = sum(statuses.values())
    return {
        "events": events,
        "statuses": statuses,
        "queued_tasks": drains.count(),
        "other_tasks": DBTaskResult.objects.exclude(task_path=DRAIN_TASK_PATH).count(),
        "uncovered_events": uncovered,
        "ok": events > 0 and set(statuses) == {"received"} and uncovered == 0,
    }


def _load(*, port: int, path: str, secret: str, prefix: str, config: IngestConfig, **options) -> dict:
    """One load-generator run against `path`; `options` as bench.loadgen's command line
    (concurrency, duration, warmup, rate), defaulting to the closed-loop round's."""
    options = {
        "concurrency": config.concurrency,
        "duration": config.seconds,
        "warmup": config.warmup_seconds,
        **options,
    }
    command = [PYTHON, "-m", "bench.loadgen", "--port", str(port), "--path", path, "--secret", secret]
    command += ["--prefix", prefix]
    for name, value in options.items():
        command += [f"--{name}", str(value)]
    return run_json_command(command, log_path=RESULTS_DIR / "ingest.log")


def _rounds(*, port: int, secret: str, config: IngestConfig, label: str, **options) -> list[dict]:
    """Pairs of rounds, baseline then target, each on emptied tables."""
    rounds: list[dict] = []
    for number in range(config.pairs * 2):
        kind = "baseline" if number % 2 == 0 else "target"
        truncate_service_tables()
        load = _load(
            port=port,
            path=BASELINE_INGEST_PATH if kind == "baseline" else TARGET_PATH,
            secret=secret,
            prefix=f"{label}{number}x",
            config=config,
            **options,
        )
        round_result = {"kind": kind, "load": load, "load_average_1m": os.getloadavg()[0]}
        if kind == "target":
            round_result["verification"] = verify_acknowledged_without_processing()
        rounds.append(round_result)
    return rounds


def run_ingest(*, config: IngestConfig, secret: str) -> dict:
    open_loop: dict | None = None
    with gunicorn_server(config=config.gunicorn, log_path=RESULTS_DIR / "gunicorn.log") as (
        server,
        port,
    ):
        # Unmeasured: warm both paths (worker imports, connections, PostgreSQL's caches) so the
        # first measured round, a baseline one, does not start cold.
        for kind, path in (("baseline", BASELINE_INGEST_PATH), ("target", TARGET_PATH)):
            _load(
                port=port,
                path=path,
                secret=secret,
                prefix=f"warm{kind}x",
                config=config,
                duration=1,
                warmup=3,
            )
        rounds = _rounds(port=port, secret=secret, config=config, label="ingest")
        if config.open_loop_seconds > 0:
            baseline_rate = _latencies(rounds, "baseline")["requests_per_s"]
            rate = max(1.0, round(baseline_rate * config.open_loop_fraction))
            open_rounds = _rounds(
                port=port,
                secret=secret,
                config=config,
                label="open",
                rate=rate,
                concurrency=config.open_loop_connections,
                duration=config.open_loop_seconds,
            )
            open_loop = summarise_open_loop(rounds=open_rounds, config=config, rate=rate)
        worker_pids = child_pids(server.pid)
        web_peak_rss = {str(pid): peak_rss_kib(pid) for pid in worker_pids}
    truncate_service_tables()
    summary = summarise(rounds=rounds, config=config, web_peak_rss_kib=web_peak_rss)
    if open_loop is not None:
        summary["open_loop"] = open_loop
    return summary


def _latencies(rounds: list[dict], kind: str) -> dict:
    """Medians over the rounds of one kind."""

    def median_of(pick) -> float:
        return statistics.median(pick(r["load"]) for r in rounds if r["kind"] == kind)

    return {
        "requests_per_s": median_of(lambda load: load["requests_per_s"]),
        "p50_ms": median_of(lambda load: load["latency_ms"]["p50"]),
        "p95_ms": median_of(lambda load: load["latency_ms"]["p95"]),
        "p99_ms": median_of(lambda load: load["latency_ms"]["p99"]),
        "errors": sum(r["load"]["errors"] for r in rounds if r["kind"] == kind),
        "ran_out_of_bodies": any(r["load"]["ran_out_of_bodies"] for r in rounds if r["kind"] == kind),
    }


def summarise_open_loop(*, rounds: list[dict], config: IngestConfig, rate: float) -> dict:
    return {
        "rate_per_s": rate,
        "fraction_of_baseline": config.open_loop_fraction,
        "connections": config.open_loop_connections,
        "seconds": config.open_loop_seconds,
        "baseline": _latencies(rounds, "baseline"),
        "target": _latencies(rounds, "target"),
        "acknowledged_without_processing": all(
            r["verification"]["ok"] for r in rounds if r["kind"] == "target"
        ),
        "rounds": rounds,
    }


def summarise(*, rounds: list[dict], config: IngestConfig, web_peak_rss_kib: dict) -> dict:
    summary = {kind: _latencies(rounds, kind) for kind in ("baseline", "target")}
    baseline_rate = summary["baseline"]["requests_per_s"]
    # Each target round against the baseline round just before it: the target holds in every pair.
    baselines = [r["load"] for r in rounds if r["kind"] == "baseline"]
    targets = [r["load"] for r in rounds if r["kind"] == "target"]
    pair_ratios = [
        t["requests_per_s"] / b["requests_per_s"] if b["requests_per_s"] else 0.0
        for b, t in zip(baselines, targets, strict=False)
    ]
    verifications = [r["verification"] for r in rounds if r["kind"] == "target"]
    return {
        "config": {
            "seconds": config.seconds,
            "warmup_seconds": config.warmup_seconds,
            "pairs": config.pairs,
            "concurrency": config.concurrency,
            "gunicorn_workers": config.gunicorn.workers,
            "gunicorn_worker_class": config.gunicorn.worker_class,
            "gunicorn_threads": config.gunicorn.threads,
        },
        **summary,
        "throughput_ratio": summary["target"]["requests_per_s"] / baseline_rate if baseline_rate else 0.0,
        "pair_ratios": pair_ratios,
        "target_p99s_ms": [t["latency_ms"]["p99"] for t in targets],
        "acknowledged_without_processing": all(v["ok"] for v in verifications),
        "verifications": verifications,
        "web_worker_peak_rss_kib": web_peak_rss_kib,
        "rounds": rounds,
    }
