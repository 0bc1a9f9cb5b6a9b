"""`python -m bench.run`: run the benchmark parts and write the table, JSON line and BENCHMARKS.md.

Started by bench/run.sh (`make bench`), which prepares PostgreSQL, the `vani_bench` database and
the environment. Settings (environment variables, defaults in brackets):

  BENCH_PARTS              parts to run [ingest,processing,replay,admin,scale]
  BENCH_INGEST_SECONDS     measured seconds per ingest round [20]
  BENCH_INGEST_PAIRS       baseline/target round pairs [3]
  BENCH_INGEST_OPEN_SECONDS   measured seconds per open-loop ingest round, requests due at half
                           the baseline's closed-loop rate [10; 0 = none]
  BENCH_CONCURRENCY        load-generator connections [8]
  BENCH_GUNICORN_WORKERS / _WORKER_CLASS / _THREADS   [2 / gthread / 4]
  BENCH_PROCESSING_EVENTS  events queued before each drain [10000]
  BENCH_DRAIN_SECONDS      a drain stops after this long, events left or not [120]
  BENCH_PACED_EVENTS / BENCH_PACED_RATE   paced latency run: at most this many events, for at most 15 s
                           at this rate per s [3000 / 200; rate 0 = half the 2-worker drain rate]
  BENCH_REPLAY_EVENTS      events of the replay part (a force reprocess job) [100000]
  BENCH_REPLAY_WORKERS     db_workers running the job; as many baseline processes [1]
  BENCH_REPLAY_BASELINE_SECONDS   the one-by-one baseline stops after this long [60]
  BENCH_ADMIN_EVENTS       seeded events for the admin pages [1000000]
  BENCH_SCALE_SIZES / BENCH_SCALE_REQUESTS   part "scale": sizes the
                           data grows through, pages timed at each [100000,1000000,5000000 / 7]
  BENCH_REPORT             report file [BENCHMARKS.md at the repo root]
  BENCH_NOISE_FSYNC_US / BENCH_NOISE_LOAD_PER_CORE / BENCH_NOISE_RERUNS   noise limits beyond
                           which a part runs once more, then is flagged [2000 / 2.5 / 1]
  BENCH_DB (bench/run.sh)  the database to recreate [vani_bench]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import django

DEFAULT_PARTS = "ingest,processing,replay,admin,scale"


def _parts() -> list[str]:
    return [p.strip() for p in os.environ.get("BENCH_PARTS", DEFAULT_PARTS).split(",") if p.strip()]


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vani.settings")
    django.setup()
    from django.conf import settings

    from . import gauges, report
    from .admin_pages import AdminConfig, run_admin
    from .infra import REPO_DIR, RESULTS_DIR, GunicornConfig
    from .ingest import IngestConfig, run_ingest
    from .noise import NoiseLimits, run_guarded
    from .processing import ProcessingConfig, run_processing
    from .pruning import PruneConfig, run_pruning
    from .replay import ReplayConfig, run_replay

    if not settings.TASKS_BACKEND.endswith("DatabaseBackend") or settings.ROOT_URLCONF != "bench.urls":
        sys.stderr.write("run through bench/run.sh (`make bench`): it sets the database and environment\n")
        return 2
    secret = settings.CAL_COM_WEBHOOK_SECRET
    if not secret:
        sys.stderr.write("CAL_COM_WEBHOOK_SECRET must be set for the ingest benchmark\n")
        return 2

    started = time.monotonic()
    results: dict = {
        "date": report.now_iso(),
        "machine": gauges.machine_facts(),
        "git": gauges.git_facts(),
        "noise_start": gauges.noise_gauges(),
    }
    parts = _parts()
    limits = NoiseLimits.from_env()
    if "ingest" in parts:
        print("ingest: gunicorn + load generator …", flush=True)
        ingest_config = IngestConfig(
            seconds=_float("BENCH_INGEST_SECONDS", 20.0),
            pairs=_int("BENCH_INGEST_PAIRS", 3),
            concurrency=_int("BENCH_CONCURRENCY", 8),
            open_loop_seconds=_float("BENCH_INGEST_OPEN_SECONDS", 10.0),
            gunicorn=GunicornConfig(
                workers=_int("BENCH_GUNICORN_WORKERS", 2),
                worker_class=os.environ.get("BENCH_GUNICORN_WORKER_CLASS", "gthread"),
                threads=_int("BENCH_GUNICORN_THREADS", 4),
            ),
        )
        results["ingest"] = run_guarded(
            name="ingest", run=lambda: run_ingest(config=ingest_config, secret=secret), limits=limits
        )
    if "processing" in parts:
        print("processing: record_delivery + db_worker drains …", flush=True)
        processing_config = ProcessingConfig(
            events=_int("BENCH_PROCESSING_EVENTS", 10_000),
            max_drain_seconds=_float("BENCH_DRAIN_SECONDS", 120.0),
            paced_events=_int("BENCH_PACED_EVENTS", ProcessingConfig.paced_events),
            paced_rate=_float("BENCH_PACED_RATE", ProcessingConfig.paced_rate),
        )
        results["processing"] = run_guarded(
            name="processing", run=lambda: run_processing(config=processing_config), limits=limits
        )
    if "replay" in parts:
        print("replay: a force reprocess job vs replaying one by one …", flush=True)
        replay_config = ReplayConfig(
            events=_int("BENCH_REPLAY_EVENTS", 100_000),
            workers=_int("BENCH_REPLAY_WORKERS", 1),
            baseline_seconds=_float("BENCH_REPLAY_BASELINE_SECONDS", 60.0),
        )
        results["replay"] = run_guarded(
            name="replay", run=lambda: run_replay(config=replay_config), limits=limits
        )
    if "admin" in parts:
        print("admin: seed_demo_data + page timings …", flush=True)
        results["admin"] = run_admin(
            config=AdminConfig(events=_int("BENCH_ADMIN_EVENTS", 1_000_000)), limits=limits
        )
        results["storage"] = results["admin"].pop("storage")
        print("pruning: prune_webhook_events on the seeded data …", flush=True)
        results["pruning"] = run_pruning(config=PruneConfig())
    if "scale" in parts:
        from .scale import ScaleConfig, run_scale

        print("scale: pages and pruning as the data grows …", flush=True)
        results["scale"] = run_scale(config=ScaleConfig.from_env(), log=lambda m: print(m, flush=True))
    results["memory"] = report.memory_summary(results)
    results["targets"] = report.targets(results)
    results["seconds"] = time.monotonic() - started
    results["noise_end"] = gauges.noise_gauges()

    report_path = Path(os.environ.get("BENCH_REPORT", REPO_DIR / "BENCHMARKS.md"))
    table = report.write_outputs(results=results, report_path=report_path, results_dir=RESULTS_DIR)
    print()
    print(table)
    print()
    for part, verdict in results["targets"].items():
        print(
            f"target {part}: {verdict['target']}: {'met' if verdict['met'] else 'MISSED'}"
            + report.verdict_remarks(verdict)
        )
    print(f"report: {report_path}")
    print(report.json_line(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
