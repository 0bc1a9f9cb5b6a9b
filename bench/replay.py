"""Part "replay": a forced reprocess job over every stored event, against replaying one by one.

The situation it measures: a mapping bug is fixed and staff force-reprocess everything. Events
of the realistic mix (bench/bodies.py) are delivered through `record_delivery` and drained by
db_workers, as in production. Then:
- the baseline: the same events replayed one transaction each, the per-event path staff single
  replays and the admin's page of events still take (`webhooks.reprocessing.reprocess_events`:
  a claim transaction and an apply transaction per event), from as many processes as the job has
  workers, each taking its share of the ids; stopped after BENCH_REPLAY_BASELINE_SECONDS (its
  rate is steady, and replaying 100,000 events one by one would only make the bench long);
- the target: a force job created as the admin creates it (`create_reprocess_job` with a frozen
  filter selecting every event) and run by `manage.py db_worker` processes through its task:
  each batch claimed in one transaction and applied in one (webhooks/batch_processing.py).
Events/s = events run / (first attempt start -> last attempt end) for the baseline, and
done / (job started_at -> finished_at) for the job.

Subcommand (`python -m bench.replay one-by-one …`) is the baseline's helper process.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass

from .bodies import booking_lifecycles
from .processing import _feed_in_parallel, _start_workers, _wait_until_drained


@dataclass(frozen=True)
class ReplayConfig:
    events: int = 100_000
    workers: int = 1  # a job is one task, worked by one db_worker
    poll_interval: float = 0.05
    feeders: int = 2
    baseline_seconds: float = 60.0
    max_job_seconds: float = 1800.0


def one_by_one(*, part: int, parts: int, seconds: float) -> dict:
    """Replay this process's share of the events one transaction each, for at most `seconds`."""
    from webhooks.models import WebhookEvent
    from webhooks.reprocessing import reprocess_events

    ids = [
        pk for pk in WebhookEvent.objects.order_by("id").values_list("id", flat=True) if pk % parts == part
    ]
    started = time.time()
    deadline = time.monotonic() + seconds
    ran = 0
    outcomes: Counter[str] = Counter()
    for start in range(0, len(ids), 100):
        summary = reprocess_events(event_ids=ids[start : start + 100], force=True)
        ran += summary.ran
        outcomes.update(summary.outcomes)
        if time.monotonic() > deadline:
            break
    return {"ran": ran, "started": started, "finished": time.time(), "outcomes": dict(outcomes)}


def _one_by_one_in_parallel(*, processes: int, seconds: float) -> dict:
    from .infra import PYTHON, REPO_DIR, subprocess_env

    commands = [
        subprocess.Popen(
            [
                PYTHON,
                "-m",
                "bench.replay",
                "one-by-one",
                "--part",
                str(part),
                "--parts",
                str(processes),
                "--seconds",
                str(seconds),
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
        stdout, stderr = command.communicate(timeout=seconds + 900)
        if command.returncode != 0:
            raise RuntimeError(f"one-by-one replay exited {command.returncode}:\n{stderr[-4000:]}")
        results.append(json.loads(stdout.strip().splitlines()[-1]))
    ran = sum(r["ran"] for r in results)
    elapsed = max(r["finished"] for r in results) - min(r["started"] for r in results)
    outcomes: Counter[str] = Counter()
    for r in results:
        outcomes.update(r["outcomes"])
    return {
        "processes": processes,
        "events": ran,
        "seconds": elapsed,
        "events_per_s": ran / elapsed if elapsed else 0.0,
        "outcomes": dict(outcomes),
    }


def _job_run(*, config: ReplayConfig) -> dict:
    from django.db.models import Count

    from webhooks.models import ReprocessJob, ReprocessJobStatus, WebhookEvent
    from webhooks.reprocessing import create_reprocess_job, selection_of_filter
    from webhooks.selectors import EventFilter

    from .infra import peak_rss_kib, stop_process

    processes = _start_workers(count=config.workers, poll_interval=config.poll_interval)
    try:
        time.sleep(2)  # the workers are up before the job is created, as in production
        job = create_reprocess_job(selection=selection_of_filter(event_filter=EventFilter()), force=True)
        deadline = time.monotonic() + config.max_job_seconds
        while True:
            job = ReprocessJob.objects.get(pk=job.pk)
            if not job.is_active:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the reprocess job did not finish within {config.max_job_seconds:.0f} s")
            if any(p.poll() is not None for p in processes):
                raise RuntimeError("a db_worker exited during the job; see bench/results/db_worker.log")
            time.sleep(0.2)
        peak_rss = {str(p.pid): peak_rss_kib(p.pid) for p in processes}
    finally:
        for process in processes:
            stop_process(process)
    if job.status != ReprocessJobStatus.FINISHED:
        raise RuntimeError(f"the reprocess job ended {job.status}: {job.error}")
    seconds = (job.finished_at - job.started_at).total_seconds()
    statuses = dict(
        WebhookEvent.objects.order_by().values("status").annotate(n=Count("id")).values_list("status", "n")
    )
    return {
        "workers": config.workers,
        "total": job.total,
        "done": job.done,
        "failed": job.failed,
        "skipped": job.skipped,
        "seconds": seconds,
        "events_per_s": job.done / seconds if seconds else 0.0,
        "statuses_after": statuses,
        "worker_peak_rss_kib": peak_rss,
    }


def run_replay(*, config: ReplayConfig) -> dict:
    from .infra import truncate_service_tables, vacuum_analyze
    from .processing import _queue_tables

    truncate_service_tables()
    fed = _feed_in_parallel(events=config.events, prefix="replay", parts=config.feeders)
    vacuum_analyze(*_queue_tables())
    workers = _start_workers(count=2, poll_interval=config.poll_interval)
    try:
        if not _wait_until_drained(workers=workers, timeout=config.max_job_seconds):
            raise RuntimeError("the events to replay were not processed in time")
    finally:
        from .infra import stop_process

        for worker in workers:
            stop_process(worker)
    vacuum_analyze(*_queue_tables())
    baseline = _one_by_one_in_parallel(processes=config.workers, seconds=config.baseline_seconds)
    vacuum_analyze(*_queue_tables())
    job = _job_run(config=config)
    truncate_service_tables()
    mix = booking_lifecycles(events=config.events, run_prefix="mix")
    return {
        "config": {
            "events": config.events,
            "fed": fed["fed"],
            "bookings": len({delivery.booking for delivery in mix}),
            "mix": dict(Counter(delivery.trigger for delivery in mix).most_common()),
            "workers": config.workers,
            "baseline_seconds": config.baseline_seconds,
        },
        "baseline": baseline,
        "job": job,
        "ratio_to_baseline": (
            job["events_per_s"] / baseline["events_per_s"] if baseline["events_per_s"] else 0.0
        ),
    }


# --- Report (bench/report.py) ---------------------------------------------------------------------


def replay_rows(*, replay: dict, ratio: str) -> list[tuple[str, str, str, str, str]]:
    job, base = replay["job"], replay["baseline"]
    return [
        (
            "replay",
            f"force job events/s, {job['workers']} db_worker(s) vs one transaction each",
            f"{job['events_per_s']:.0f}",
            f"{base['events_per_s']:.0f}",
            ratio,
        ),
        (
            "replay",
            "events replayed",
            f"{job['done']:,} of {job['total']:,}",
            f"{base['events']:,} ({base['seconds']:.0f} s)",
            "-",
        ),
    ]


def replay_summary(*, replay: dict) -> dict:
    return {
        "events_per_s": round(replay["job"]["events_per_s"], 1),
        "one_by_one_events_per_s": round(replay["baseline"]["events_per_s"], 1),
        "ratio": round(replay["ratio_to_baseline"], 2),
        "workers": replay["job"]["workers"],
        "events": replay["job"]["done"],
    }


def replay_method(*, replay: dict) -> str:
    config, job, base = replay["config"], replay["job"], replay["baseline"]
    return (
        f"- **Replay**: {config['fed']:,} events of the same mix delivered and drained, then a force "
        "reprocess job created as the admin creates it (`create_reprocess_job`, a frozen filter "
        f"selecting every event) and run by {job['workers']} `manage.py db_worker`: each batch of "
        "the selection claimed in one transaction and applied in one, a savepoint per event. "
        "Events/s = done / (job started_at → finished_at). Baseline: the same events replayed "
        "one transaction each (`reprocess_events`, the per-event path: a claim and an apply "
        f"transaction per event) from {base['processes']} process(es), stopped after "
        f"{config['baseline_seconds']:.0f} s ({base['events']:,} events)."
    )


def main(argv: list[str] | None = None) -> int:
    import django

    parser = argparse.ArgumentParser(description="helper process of the replay benchmark")
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("one-by-one")
    one.add_argument("--part", type=int, default=0)
    one.add_argument("--parts", type=int, default=1)
    one.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args(argv)
    django.setup()
    result = one_by_one(part=args.part, parts=args.parts, seconds=args.seconds)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
