"""The benchmark code works: a second of real load, a tiny drain, the report. No timing asserts."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import Counter
from urllib.parse import urlsplit

import pytest

from bench import admin_pages, bodies, gauges, infra, ingest, loadgen, processing, report
from bench.urls import BASELINE_INGEST_PATH, STOCK_ADMIN_PREFIX
from calcom.signatures import verify_signature
from meetings.models import Meeting
from tests.support.db import is_postgres
from tests.support.delivery import WEBHOOK_URL
from webhooks.models import SignatureResult, WebhookEvent, WebhookEventStatus


@pytest.fixture
def bench_urls(settings):
    settings.ROOT_URLCONF = "bench.urls"


def test_generated_bodies_are_distinct_signed_calcom_bodies():
    factory = bodies.BookingCreatedFactory(secret="s3cret", run_prefix="smoke")
    made = [factory.make(number) for number in range(50)]
    assert len({m.body for m in made}) == 50
    for signed in made[:3]:
        payload = json.loads(signed.body)
        assert payload["triggerEvent"] == "BOOKING_CREATED"
        assert payload["payload"]["uid"].startswith("smoke")
        assert isinstance(payload["payload"]["bookingId"], int)
        assert 3000 < len(signed.body) < 5000
        assert verify_signature(body=signed.body, signature=signed.signature, secrets=["s3cret"]) == (
            SignatureResult.VALID
        )


def test_load_generator_drives_the_real_endpoint_and_the_baseline(live_server, bench_urls, webhook_secret):
    address = urlsplit(live_server.url)
    # pytest-django's live server shares one in-memory SQLite connection between its threads,
    # so concurrent requests are only meaningful on PostgreSQL.
    concurrency = 2 if is_postgres() else 1
    # Both paths in one run, taking turns by slices over the same connections.
    target, baseline = asyncio.run(
        loadgen.run_load(
            host=address.hostname,
            port=address.port,
            paths=[WEBHOOK_URL, BASELINE_INGEST_PATH],
            secret=webhook_secret,
            prefix="smoke",
            concurrency=concurrency,
            duration=1.6,
            warmup=0.2,
            bodies=5000,
            slice_seconds=0.2,
        )
    )
    outcomes = {"target": target, "baseline": baseline}
    for result in outcomes.values():
        assert result.duration_s == pytest.approx(0.8)
        assert result.requests > 0
        assert result.errors == 0, result.error_samples
        assert 0 < result.latency_ms["p50"] <= result.latency_ms["p99"] <= result.latency_ms["max"]
    delivered = WebhookEvent.objects.filter(trigger_event="BOOKING_CREATED")
    # Only the real endpoint parses (and, inline here, processes) what it stores.
    assert delivered.count() >= outcomes["target"].requests
    assert not delivered.exclude(status=WebhookEventStatus.PROCESSED).exists()
    assert WebhookEvent.objects.filter(trigger_event="").count() >= outcomes["baseline"].requests


async def _slow_http_server(*, delay: float) -> asyncio.Server:
    """A keep-alive HTTP/1.1 server on 127.0.0.1 that answers every request `delay` s late."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
                await asyncio.sleep(delay)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0)


def _against_slow_server(*, delay: float, **load_options) -> loadgen.LoadResult:
    (result,) = _against_slow_server_by_path(delay=delay, paths=["/x"], **load_options)
    return result


def _against_slow_server_by_path(
    *, delay: float, paths: list[str], **load_options
) -> list[loadgen.LoadResult]:
    async def run() -> list[loadgen.LoadResult]:
        server = await _slow_http_server(delay=delay)
        port = server.sockets[0].getsockname()[1]
        async with server:
            return await loadgen.run_load(
                host="127.0.0.1",
                port=port,
                paths=paths,
                secret="s",
                prefix="slow",
                bodies=500,
                **load_options,
            )

    return asyncio.run(run())


def test_paths_take_turns_by_slices_over_the_same_connections():
    # Two paths, 0.1 s slices, 0.5 s measured: the first path has slices 1, 3 and 5 (0.3 s), the
    # second 2 and 4 (0.2 s); each counts only what went out in its own slices.
    first, second = _against_slow_server_by_path(
        delay=0.01, paths=["/a", "/b"], concurrency=2, duration=0.5, warmup=0.1, slice_seconds=0.1
    )
    assert (first.duration_s, second.duration_s) == (pytest.approx(0.3), pytest.approx(0.2))
    assert first.errors == second.errors == 0
    # ~2 connections x 10 ms: about 200 answers per second in each path's own slices.
    assert 80 <= first.requests_per_s <= 220 and 80 <= second.requests_per_s <= 220
    assert first.requests > second.requests


def test_slices_cover_the_window_between_the_paths():
    assert loadgen.path_seconds(duration=20, slice_seconds=1, paths=1) == [20]
    assert loadgen.path_seconds(duration=40, slice_seconds=1, paths=2) == [20, 20]
    assert loadgen.path_seconds(duration=2.5, slice_seconds=1, paths=2) == [1.5, 1.0]


def test_open_loop_counts_the_wait_for_a_connection():
    # One connection, a server that takes 40 ms, requests due every 10 ms: the server falls
    # behind, and a request's latency runs from when it fell due, not from when it was sent.
    open_loop = _against_slow_server(delay=0.04, concurrency=1, rate=100, duration=0.6, warmup=0.0)
    assert open_loop.rate == 100 and open_loop.errors == 0
    assert 5 <= open_loop.requests <= 20  # ~25 answered per second, not 100
    assert open_loop.latency_ms["p99"] > 200  # the last ones waited behind a dozen others
    # The closed loop on the same server measures the server alone.
    closed_loop = _against_slow_server(delay=0.04, concurrency=1, duration=0.6, warmup=0.0)
    assert closed_loop.rate == 0
    assert 40 <= closed_loop.latency_ms["p50"] < 100


def test_open_loop_below_capacity_sends_at_the_rate():
    # Four connections, 10 ms per request: 50 requests due per second are answered as they come.
    result = _against_slow_server(delay=0.01, concurrency=4, rate=50, duration=1.0, warmup=0.2)
    assert 30 <= result.requests <= 55
    assert 10 <= result.latency_ms["p50"] < 100


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert loadgen.percentile(values, 0.5) == 50.0
    assert loadgen.percentile(values, 0.99) == 99.0
    assert loadgen.percentile([], 0.5) == 0.0


@pytest.mark.django_db
def test_processing_mix_goes_through_the_real_pipeline(django_capture_on_commit_callbacks):
    mix = bodies.booking_lifecycles(events=40, run_prefix="smokemix")
    assert {"BOOKING_CREATED", "MEETING_ENDED"} <= set(Counter(d.trigger for d in mix))
    with django_capture_on_commit_callbacks(execute=True):
        fed = processing.feed(events=40, prefix="smokemix", part=0, parts=1)
    assert fed["fed"] == 40
    # Inline backend: every delivery is processed at once, each booking is one meeting.
    assert WebhookEvent.objects.count() == 40
    assert not WebhookEvent.objects.exclude(
        status__in=[WebhookEventStatus.PROCESSED, WebhookEventStatus.IGNORED]
    ).exists()
    assert Meeting.objects.count() == len({d.booking for d in mix})
    updated = processing.bare_updates(part=0, parts=1)
    assert updated["updates"] == 40


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_db_worker_drain_and_bare_update_baseline(settings):
    settings.TASKS_BACKEND = "django_tasks_db.DatabaseBackend"
    settings.TASKS = {"default": {"BACKEND": settings.TASKS_BACKEND}}
    config = processing.ProcessingConfig(events=20, worker_counts=(1,), feeders=1)
    result = processing.drain_run(workers=1, config=config, prefix="smokedrain")
    assert result["events"] == 20
    assert result["drained_fully"] and result["processed_events"] == 20
    assert sum(result["statuses"].values()) == 20
    assert set(result["statuses"]) <= {"processed", "ignored"}
    assert result["events_per_s"] > 0
    assert result["baseline"]["updates"] == 20
    assert all(kib > 0 for kib in result["worker_peak_rss_kib"].values())


@pytest.mark.django_db
def test_admin_pages_console_and_stock_baseline(bench_urls):
    from devtools.demo.seeding import seed_demo_data

    seed_demo_data(events=300, seed=99)
    client = admin_pages.logged_in_client()
    for page in admin_pages.pages_to_measure():
        for url in (admin_pages.CONSOLE_PREFIX + page.console_path, STOCK_ADMIN_PREFIX + page.stock_path):
            timing = admin_pages.time_page(client=client, url=url, requests=2, budget_seconds=5)
            assert timing["requests"] == 2
            assert timing["bytes"] > 0


def test_report_renders_every_part():
    load = {
        "body_bytes": 3800.0,
        "requests_per_s": 100.0,
        "latency_ms": {"p50": 5.0, "p95": 9.0, "p99": 12.0, "max": 20.0},
        "errors": 0,
        "ran_out_of_bodies": False,
    }
    ingest_results = ingest.summarise(
        rounds=[
            {"kind": "baseline", "load": {**load, "requests_per_s": 125.0}},
            {
                "kind": "target",
                "load": load,
                "verification": {
                    "events": 10,
                    "statuses": {"received": 10},
                    "queued_tasks": 2,
                    "uncovered_events": 0,
                    "ok": True,
                },
            },
        ],
        config=ingest.IngestConfig(),
        web_peak_rss_kib={"1": 60_000},
    )
    assert ingest_results["throughput_ratio"] == pytest.approx(0.8)
    results = {
        "date": "2030-01-01 00:00 UTC",
        "seconds": 60.0,
        "noise_start": {"load_average": (0.1, 0.1, 0.1), "fdatasync_us": 150.0, "pressure_avg60": {}},
        "noise_end": gauges.noise_gauges(),
        "git": {"commit": "0123456789abcdef", "uncommitted_files": 0},
        "machine": {
            "nproc": "2",
            "cpu_model": "CPU",
            "hypervisor": "",
            "memory": "Mem: 1",
            "kernel": "6",
            "python": "3.11",
            "postgres": {
                "version": "15",
                "shared_buffers": "128MB",
                "synchronous_commit": "on",
                "fsync": "on",
                "wal_sync_method": "fdatasync",
            },
        },
        "ingest": ingest_results,
    }
    results["memory"] = report.memory_summary(results)
    results["targets"] = report.targets(results)
    assert results["targets"]["ingest"]["met"] is False  # 0.80 of the baseline: under 0.85
    assert "| ingest | requests/s (median) | 100 | 125 | 0.80 |" in report.markdown(results)
    assert json.loads(report.json_line(results))["ingest"]["ratio"] == 0.8


def test_report_shows_the_open_loop_beside_the_closed_one():
    closed = []
    for _ in range(3):
        closed.append(_ingest_round(kind="baseline", requests_per_s=100, p99=10.0))
        closed.append(_ingest_round(kind="target", requests_per_s=90, p99=25.0))
    config = ingest.IngestConfig()
    results = {"ingest": ingest.summarise(rounds=closed, config=config, web_peak_rss_kib={})}
    open_rounds = []
    for p99 in (6.0, 7.0, 9.0):
        open_rounds.append(_ingest_round(kind="baseline", requests_per_s=50, p99=4.0))
        open_rounds.append(_ingest_round(kind="target", requests_per_s=50, p99=p99))
    results["ingest"]["open_loop"] = ingest.summarise_open_loop(rounds=open_rounds, config=config, rate=50)
    open_loop = results["ingest"]["open_loop"]
    assert (open_loop["target"]["p99_ms"], open_loop["baseline"]["p99_ms"]) == (7.0, 4.0)
    assert open_loop["acknowledged_without_processing"]
    rows = report.table_rows(results)
    assert ("ingest", "open loop, 50 requests/s due: latency p99 ms", "7.0", "4.0", "1.75") in rows
    # Informational: the target stays the closed loop's (a p99 of 25 ms misses it).
    assert report.targets(results)["ingest"]["met"] is False
    line = {**results, "targets": report.targets(results), "git": {"commit": "0123"}, "date": "2030"}
    assert json.loads(report.json_line(line))["ingest"]["open_loop_p99_ms"] == 7.0


def _ingest_round(*, kind: str, requests_per_s: float, p99: float) -> dict:
    load = {
        "body_bytes": 3800.0,
        "requests_per_s": requests_per_s,
        "latency_ms": {"p50": 5.0, "p95": 9.0, "p99": p99, "max": 30.0},
        "errors": 0,
        "ran_out_of_bodies": False,
    }
    verification = {"events": 1, "statuses": {}, "queued_tasks": 1, "uncovered_events": 0, "ok": True}
    return {"kind": kind, "load": load, **({"verification": verification} if kind == "target" else {})}


@pytest.mark.parametrize(
    ("pairs", "met"),
    [
        ([(100, 90, 12), (100, 88, 15), (100, 95, 19)], True),
        # The medians pass (target 90 of baseline 100) but one pair is under 0.85.
        ([(100, 90, 12), (100, 80, 15), (100, 95, 12)], False),
        # Throughput holds; one round's p99 is over 20 ms.
        ([(100, 90, 12), (100, 90, 25), (100, 90, 12)], False),
    ],
)
def test_ingest_target_holds_in_every_pair(pairs, met):
    rounds = []
    for baseline_rps, target_rps, p99 in pairs:
        rounds.append(_ingest_round(kind="baseline", requests_per_s=baseline_rps, p99=10.0))
        rounds.append(_ingest_round(kind="target", requests_per_s=target_rps, p99=p99))
    results = {"ingest": ingest.summarise(rounds=rounds, config=ingest.IngestConfig(), web_peak_rss_kib={})}
    assert results["ingest"]["pair_ratios"] == pytest.approx([t / b for b, t, _ in pairs])
    assert report.targets(results)["ingest"]["met"] is met


def test_service_tables_cover_the_queue():
    assert "webhook_events" in infra.service_tables()
    assert any(table.startswith("django_tasks_database") for table in infra.service_tables())


@pytest.mark.django_db
def test_helper_processes_get_this_processes_database():
    url = infra.subprocess_env()["DATABASE_URL"]
    assert url.startswith("postgres://" if is_postgres() else "sqlite:///")


@pytest.mark.django_db
def test_round_verification_counts_deliveries_not_baseline_rows():
    from datetime import timedelta

    from django.utils import timezone
    from django_tasks_db.models import DBTaskResult

    def delivered(received_at):
        body = f'{{"at": "{received_at.isoformat()}"}}'.encode()
        return WebhookEvent.objects.create(
            raw_body=body,
            fingerprint=hashlib.sha256(body).hexdigest(),
            status=WebhookEventStatus.RECEIVED,
            received_at=received_at,
        )

    now = timezone.now()
    DBTaskResult.objects.create(
        task_path=ingest.DRAIN_TASK_PATH,
        args_kwargs={"args": [], "kwargs": {}},
        queue_name="default",
        backend_name="default",
        run_after=now,
        exception_class_path="",
        traceback="",
    )
    delivered(now - timedelta(seconds=1))
    # The baseline's rows (nothing read, so no fingerprint) arrive after the last drain task too.
    WebhookEvent.objects.create(raw_body=b"{}", status=WebhookEventStatus.RECEIVED)
    check = ingest.verify_acknowledged_without_processing()
    assert (check["events"], check["uncovered_events"], check["ok"]) == (1, 0, True)
    # A delivery that no queued drain task will claim fails the round.
    delivered(now + timedelta(seconds=1))
    check = ingest.verify_acknowledged_without_processing()
    assert (check["events"], check["uncovered_events"], check["ok"]) == (2, 1, False)
