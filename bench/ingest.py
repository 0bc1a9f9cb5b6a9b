"""Part 1: ingest throughput and latency of the real endpoint against a bare-INSERT baseline.

One gunicorn (2 workers) serves both paths, with the production task backend
(django-tasks-db) and no db_worker running: the acknowledgement must not wait for processing,
which is verified after every round (every delivered event still `received`, a queued drain
task for each). A round is a pair: the load generator's connections take turns between the
baseline and the target by slices of a second (bench/loadgen.py), so both see the same split
of connections over the workers and the same moments of the host; the service tables are
emptied before each round, and the medians over the rounds are reported. First closed-loop
rounds (a fixed number of connections kept busy: throughput, and latency under saturation),
then open-loop rounds (requests due at half the baseline's closed-loop rate: the latency a
delivery sees when the service is not saturated).
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
# The unmeasured round that warms both paths before the first measured one (seconds).
WARM_ROUND = {"warmup": 6, "duration": 2}


@dataclass(frozen=True)
class IngestConfig:
    seconds: float = 20.0  # measured seconds of each path per round
    warmup_seconds: float = 2.0
    pairs: int = 3
    concurrency: int = 8
    slice_seconds: float = 1.0
    gunicorn: GunicornConfig = field(default_factory=GunicornConfig)
    # Open loop, after the closed-loop pairs: requests due at a fixed share of the baseline's
    # closed-loop rate in this run, so latency is the service's, not the load generator's queue
    # (0 seconds: skipped). Informational: the latency target is the closed loop's p99.
    open_loop_seconds: float = 10.0
    open_loop_fraction: float = 0.5
    open_loop_connections: int = 16


def verify_acknowledged_without_processing() -> dict:
    """After a round: no delivered event was processed, and a queued drain task will claim every
    one (one due at or after its arrival; the deliveries of a moment share one task). The
    baseline's rows (no fingerprint: nothing was read) are not deliveries."""
    delivered = WebhookEvent.objects.exclude(fingerprint="")
    statuses = dict(
        delivered.order_by().values("status").annotate(events=Count("id")).values_list("status", "events")
    )
    drains = DBTaskResult.objects.filter(task_path=DRAIN_TASK_PATH, status="READY")
    latest_drain = drains.aggregate(latest=Max("run_after"))["latest"]
    uncovered = (
        delivered.filter(received_at__gt=latest_drain).count()
        if latest_drain is not None
        else delivered.count()
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


def _load(
    *, port: int, paths: list[str], secret: str, prefix: str, config: IngestConfig, **options
) -> list[dict]:
    """One load-generator run, its connections taking turns between `paths` by slices; one
    result per path. `options` as bench.loadgen's command line (concurrency, duration, warmup,
    rate), defaulting to the closed-loop round's (each path measured `config.seconds`)."""
    options = {
        "concurrency": config.concurrency,
        "duration": config.seconds * len(paths),
        "warmup": config.warmup_seconds,
        "slice": config.slice_seconds,
        **options,
    }
    command = [PYTHON, "-m", "bench.loadgen", "--port", str(port), "--secret", secret, "--prefix", prefix]
    for path in paths:
        command += ["--path", path]
    for name, value in options.items():
        command += [f"--{name}", str(value)]
    return run_json_command(command, log_path=RESULTS_DIR / "ingest.log")


def _rounds(*, port: int, secret: str, config: IngestConfig, label: str, **options) -> list[dict]:
    """`config.pairs` rounds on emptied tables, each interleaving the baseline and the target
    (which of them takes the first slice alternates); a baseline result, then a target one."""
    rounds: list[dict] = []
    for number in range(config.pairs):
        kinds = ["baseline", "target"] if number % 2 == 0 else ["target", "baseline"]
        truncate_service_tables()
        loads = _load(
            port=port,
            paths=[BASELINE_INGEST_PATH if kind == "baseline" else TARGET_PATH for kind in kinds],
            secret=secret,
            prefix=f"{label}{number}x",
            config=config,
            **options,
        )
        by_kind = dict(zip(kinds, loads, strict=True))
        load_average = os.getloadavg()[0]
        rounds.append({"kind": "baseline", "load": by_kind["baseline"], "load_average_1m": load_average})
        rounds.append(
            {
                "kind": "target",
                "load": by_kind["target"],
                "load_average_1m": load_average,
                "verification": verify_acknowledged_without_processing(),
            }
        )
    return rounds


def run_ingest(*, config: IngestConfig, secret: str) -> dict:
    open_loop: dict | None = None
    with gunicorn_server(config=config.gunicorn, log_path=RESULTS_DIR / "gunicorn.log") as (
        server,
        port,
    ):
        # Unmeasured: warm both paths (worker imports, connections, PostgreSQL's caches) so the
        # first measured round, a baseline one, does not start cold.
        _load(
            port=port,
            paths=[BASELINE_INGEST_PATH, TARGET_PATH],
            secret=secret,
            prefix="warmx",
            config=config,
            **WARM_ROUND,
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
                duration=config.open_loop_seconds * 2,
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
    # Each round's target against its own baseline (same connections, same moments): the
    # target holds in every pair.
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
            "slice_seconds": config.slice_seconds,
            "gunicorn_workers": config.gunicorn.workers,
            "gunicorn_worker_class": config.gunicorn.worker_class,
            "gunicorn_threads": config.gunicorn.threads,
        },
        **summary,
        "throughput_ratio": summary["target"]["requests_per_s"] / baseline_rate if baseline_rate else 0.0,
        "pair_ratios": pair_ratios,
        "target_p99s_ms": [t["latency_ms"]["p99"] for t in targets],
        "baseline_p99s_ms": [b["latency_ms"]["p99"] for b in baselines],
        "acknowledged_without_processing": all(v["ok"] for v in verifications),
        "verifications": verifications,
        "web_worker_peak_rss_kib": web_peak_rss_kib,
        "rounds": rounds,
    }
