"""BENCHMARKS.md's "How each figure was measured": the method of every part, from its results."""

from __future__ import annotations

from .ingest import WARM_ROUND
from .replay import replay_method


def method_section(results: dict) -> list[str]:
    lines = ["## How each figure was measured", ""]
    ingest = results.get("ingest")
    if ingest:
        config = ingest["config"]
        checks = ingest["verifications"]
        lines += [
            f"- **Ingest**: gunicorn, {config['gunicorn_workers']} workers, `{config['gunicorn_worker_class']}` "
            f"with {config['gunicorn_threads']} threads each, `TASKS_BACKEND=django_tasks_db.DatabaseBackend`, "
            "`ENVIRONMENT=development`, `DJANGO_DEBUG=false`, a signing secret set, no db_worker running. "
            f"A separate load-generator process (`bench/loadgen.py`) keeps {config['concurrency']} keep-alive "
            "connections busy (closed loop) with distinct, pre-signed "
            f"{ingest['rounds'][-1]['load']['body_bytes'] / 1000:.1f} KB `BOOKING_CREATED` bodies. "
            f"{config['pairs']} rounds (pairs), tables emptied before each; in a round the same connections "
            f"take turns between the baseline and the target by slices of {config['slice_seconds']:.0f} s, "
            f"{config['seconds']:.0f} s of each measured after {config['warmup_seconds']:.0f} s of warm-up "
            f"(and one unmeasured {sum(WARM_ROUND.values())} s round before the first), so that both share "
            "the connections' split over "
            "the workers and the host's slow and fast moments; which of them takes the first slice "
            "alternates from round to round. The baseline "
            "(`bench/views.py`) is one `WebhookEvent.objects.create(raw_body=…)` without verification in the "
            "same gunicorn. After every round: "
            + "; ".join(
                f"{c['events']} events all `received`: {'yes' if set(c['statuses']) == {'received'} else 'NO'}, "
                f"{c['queued_tasks']} drain tasks queued (events not covered by one: {c['uncovered_events']})"
                for c in checks
            )
            + ".",
        ]
        open_loop = ingest.get("open_loop")
        if open_loop:
            lines += [
                f"- **Ingest, open loop**: then, in the same gunicorn, {config['pairs']} more rounds, "
                f"{open_loop['seconds']:.0f} s of each path by the same slices, in which a request falls due every "
                f"1/{open_loop['rate_per_s']:.0f} s ({open_loop['fraction_of_baseline']:.0%} of the baseline's "
                "closed-loop rate above), whether or not earlier ones were answered, and goes out on the "
                f"first free of {open_loop['connections']} connections; its latency runs from when it fell "
                "due, so a wait for a connection counts. The latency a delivery sees when the service keeps "
                f"up, where the closed loop's is mostly its own queue ({config['concurrency']} requests always "
                "in flight). "
                "Informational: the issue's target is the closed loop's p99.",
            ]
    processing = results.get("processing")
    if processing:
        config = processing["config"]
        drains = processing["drains"]
        lines += [
            f"- **Processing**: {config['events']:,} events delivered through `webhooks.ingest.record_delivery` "
            "with the DatabaseBackend (each a stored `received` event, with the drain tasks the deliveries "
            "enqueued), a realistic life-cycle mix "
            f"over {config['bookings']:,} bookings, interleaved ("
            + ", ".join(f"{trigger} {count:,}" for trigger, count in config["mix"].items())
            + f"); then drained by `manage.py db_worker --interval "
            f"{config['poll_interval_s']}` processes, after `VACUUM ANALYZE` of the queue (as autovacuum would "
            f"leave it), for at most {config['max_drain_seconds']:.0f} s each. Events/s = events processed / "
            "(first attempt start → last attempt end). HIT notifications (paid, "
            "ended) are queued as one task per drained batch, in line with the drain tasks, and sent (log "
            "channel) by the same workers; they are not waited for (sent by the end of the drain: "
            + ", ".join(
                f"{d['workers']} worker(s) {d['notification_tasks'].get('SUCCESSFUL', 0):,} of "
                f"{sum(d['notification_tasks'].values()):,}"
                for d in drains
            )
            + "). The p50 processed_at − received_at of a drain ("
            + ", ".join(
                f"{d['workers']} worker(s) {d['backlog_latency_ms']['p50'] / 1000:.0f} s" for d in drains
            )
            + ") measures the backlog, not the pipeline: the paced run below does. Baseline: the same number "
            "of `UPDATE webhook_events SET status='processed' WHERE id=…`, one transaction each, from as many "
            "processes as workers.",
        ]
        paced = processing.get("paced")
        if paced:
            lines.append(
                f"- **Paced latency**: {paced['events']:,} events offered at {paced['offered_rate']:.0f}/s "
                f"(achieved {paced['achieved_feed_rate']:.0f}/s) while {paced['workers']} db_workers poll: "
                f"p50 {paced['latency_ms']['p50']:.0f} ms, p95 {paced['latency_ms']['p95']:.0f} ms, "
                f"p99 {paced['latency_ms']['p99']:.0f} ms enqueue → processed."
            )
    replay = results.get("replay")
    if replay:
        lines.append(replay_method(replay=replay))
    admin = results.get("admin")
    if admin:
        lines += [
            f"- **Admin**: `manage.py seed_demo_data --events {admin['config']['events']:,}` "
            f"({admin['seeded']['seconds']:.0f} s), then each page in-process with Django's test Client as a "
            f"logged-in superuser: 1 warm-up, then up to {admin['config']['requests']} timed requests (median). "
            "Baseline: the stock `ModelAdmin` of `bench/stock_admin.py` (same columns, stock filter and search, "
            "read-only) on a separate AdminSite. Requests kept: "
            + ", ".join(
                f"{p['page']} {p['console']['requests']}/{p['stock']['requests']}" for p in admin["pages"]
            )
            + " (console/stock).",
        ]
    storage = results.get("storage")
    if storage:
        lines.append(
            "- **Storage**: right after seeding, `VACUUM (ANALYZE) webhook_events`, then PostgreSQL's sizes: "
            "heap = `pg_relation_size`, indexes = `pg_indexes_size` (largest: "
            + ", ".join(
                f"{name} {size / storage['events']:.0f}"
                for name, size in list(storage["indexes"].items())[:4]
            )
            + " bytes per event), TOAST = `pg_total_relation_size` − both; divided by the events, against "
            "`SUM(body_size)` (the raw bodies as Cal.com sent them) of the same rows."
        )
    if results.get("memory"):
        lines.append(
            "- **Memory**: VmHWM from /proc/PID/status of each gunicorn worker at the end of the ingest runs "
            "and of each db_worker at the end of its drain (highest shown)."
        )
    if results.get("scale"):
        from .scale import scale_method

        lines += scale_method()
    return lines
