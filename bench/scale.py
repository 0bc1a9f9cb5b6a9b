"""Part "scale": cost that stays flat as data grows (issue #17 item 3).

The data grows in steps (BENCH_SCALE_SIZES, default 100,000, 1,000,000 and 5,000,000 events):
each step tops the database up to the size with `manage.py seed_demo_data` (a new seed per step,
events over the same 30 days; the bulk path, which rebuilds the indexes, when the step at least
doubles the data) and is timed. At each size, as the admin part does (bench/admin_pages.py:
in-process test Client, one warm-up then the median of BENCH_SCALE_REQUESTS requests):

- the console: event list, list filtered on status=failed, uid search, e-mail search (the
  busiest attendee's, so that it fills the page at every size), event detail, the webhook
  dashboard;
- the REST API's list endpoints (webhook events, meetings, targets), first page;
- the dashboard's recount task (webhooks/daily_counts.py; a worker runs it, no page does) for
  14 days and for today: reported apart, not a page;

then `prune_webhook_events` deletes the events older than 20 of the 30 days (about a fifth of
the data: ~1,000,000 events at 5,000,000), reporting its longest batch (transaction, hence lock
held). The next step tops the pruned data back up, so every size is measured at its full count.

Targets: every page < 300 ms at the largest size and <= 1.5x its time at 1,000,000 (or at the
size before the largest when 1,000,000 is not measured); no prune batch over 1 s.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from dataclasses import dataclass
from datetime import timedelta

from django.core.cache import cache
from django.db import DatabaseError, connection
from django.db.models import Count
from django.utils import timezone

from webhooks.models import WebhookEvent, WebhookEventStatus

from .admin_pages import CONSOLE_PREFIX, EVENTS_PAGE, logged_in_client, time_page
from .infra import PYTHON, REPO_DIR, RESULTS_DIR, subprocess_env, truncate_service_tables
from .pruning import PruneConfig, run_pruning

SCALE_MAX_MS = 300.0
SCALE_MAX_GROWTH = 1.5
SCALE_PRUNE_DAYS = 20  # of the 30 days seeded: about the oldest fifth of the events goes
REFERENCE_SIZE = 1_000_000


@dataclass(frozen=True)
class ScaleConfig:
    sizes: tuple[int, ...] = (100_000, 1_000_000, 5_000_000)
    requests: int = 7
    page_budget_seconds: float = 30.0
    prune_days: int = SCALE_PRUNE_DAYS

    @classmethod
    def from_env(cls) -> ScaleConfig:
        raw = os.environ.get("BENCH_SCALE_SIZES", "")
        sizes = tuple(int(s) for s in raw.split(",") if s.strip()) or cls.sizes
        return cls(sizes=tuple(sorted(sizes)), requests=int(os.environ.get("BENCH_SCALE_REQUESTS", 7)))


def grow_to(*, events: int, seed: int) -> dict:
    """Top the database up to `events` events with a fresh seed; the seeding is timed."""
    have = WebhookEvent.objects.count()
    add = events - have
    started = time.monotonic()
    if add > 0:
        log_path = RESULTS_DIR / "seed_demo_data.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            subprocess.run(
                [PYTHON, "manage.py", "seed_demo_data", "--events", str(add), "--seed", str(seed)],
                cwd=REPO_DIR,
                env=subprocess_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                check=True,
            )
    checkpointed = add > 0 and flush_to_disk()
    seconds = time.monotonic() - started
    return {
        "had": have,
        "added": max(add, 0),
        "seconds": seconds,
        "events": WebhookEvent.objects.count(),
        "checkpointed": checkpointed,
    }


def flush_to_disk() -> bool:
    """A CHECKPOINT: the seed's gigabytes on disk before anything is timed (and inside the
    seed's own time); otherwise the checkpoints that flush them land in the page and prune
    timings. False where the database user may not (it needs pg_checkpoint)."""
    if connection.vendor != "postgresql":
        return False
    try:
        with connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")
    except DatabaseError:
        return False
    return True


def scale_pages(*, email: str) -> list[tuple[str, str]]:
    """(name, url) of every page measured, on a sample from the middle of the data; `email` is
    the one searched (the busiest attendee's: `busiest_attendee`)."""
    middle_id = (WebhookEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0) // 2
    sample = (
        WebhookEvent.objects.filter(id__gte=middle_id, meeting__isnull=False)
        .exclude(booking_uid="")
        .order_by("id")
        .values("id", "booking_uid")
        .first()
    )
    if sample is None:
        raise RuntimeError("no seeded event with a booking uid and a meeting to search for")
    events = CONSOLE_PREFIX + EVENTS_PAGE
    return [
        ("console list", events),
        ("console list status=failed", f"{events}?status={WebhookEventStatus.FAILED}"),
        ("console uid search", f"{events}?q={sample['booking_uid']}"),
        ("console e-mail search", f"{events}?q={email}"),
        ("console event detail", f"{events}{sample['id']}/change/"),
        ("console dashboard", f"{events}dashboard/"),
        ("api webhook-events", "/api/webhook-events/"),
        ("api webhook-events status=failed", f"/api/webhook-events/?status={WebhookEventStatus.FAILED}"),
        ("api meetings", "/api/meetings/"),
        ("api targets", "/api/targets/"),
    ]


def busiest_attendee() -> tuple[str, int]:
    """The attendee e-mail with the most events, and how many. Its search fills the page at every
    size from 1,000,000 on, so that sizes compare like with like: an address from the middle of
    the data could find 5 events at one size and a full page at the next, and the page's cost is
    mostly the rows it renders (25 against 73 ms for 5 and 50 rows, both at 4.1M events)."""
    busiest = (
        WebhookEvent.objects.exclude(attendee_email="")
        .values("attendee_email")
        .annotate(events=Count("id"))
        .order_by("-events", "attendee_email")
        .first()
    )
    if busiest is None:
        raise RuntimeError("no seeded event with an attendee e-mail to search for")
    return busiest["attendee_email"], busiest["events"]


def measure_size(*, config: ScaleConfig, email: str) -> tuple[dict, dict]:
    """The pages' timings (`email` the one searched), and the dashboard's recount task (a
    worker's job, not a page's)."""
    client = logged_in_client()
    pages = {}
    recount = {}
    for name, url in scale_pages(email=email):
        cache.clear()  # the API's per-user throttle
        if name == "console dashboard":
            recount = time_recount(requests=config.requests)  # the worker's share, up to date
        pages[name] = time_page(
            client=client, url=url, requests=config.requests, budget_seconds=config.page_budget_seconds
        )
        if name == "console dashboard":
            pages["console dashboard uncached"] = time_uncached(
                client=client, url=url, requests=config.requests
            )
    return pages, recount


def time_recount(*, requests: int) -> dict:
    """The dashboard's stored per-day counts are recounted by a task (webhooks/daily_counts.py):
    time that task's work for the 14 days (the worker's cost, every 15 minutes at most) and for
    today alone (every minute at most), and leave the counts fresh for the page."""
    from webhooks.daily_counts import recount_daily_event_counts

    today = timezone.localdate()
    figures = {}
    for name, first in (("14 days", today - timedelta(days=13)), ("today", today)):
        timings = []
        for _ in range(max(requests // 2, 1)):
            before = time.perf_counter()
            recount_daily_event_counts(first_day=first, last_day=today)
            timings.append((time.perf_counter() - before) * 1000)
        figures[name] = statistics.median(timings)
    return figures


def time_uncached(*, client, url: str, requests: int) -> dict:
    """The dashboard with a cold cache and stale stored counts (counted an hour ago): the
    request reads them and asks for a recount (a task row with the DatabaseBackend)."""
    from webhooks.models import DailyEventCount

    timings = []
    for _ in range(requests):
        cache.clear()
        DailyEventCount.objects.update(counted_at=timezone.now() - timedelta(hours=1))
        before = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - before) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} answered {response.status_code}")
    return {
        "url": url,
        "median_ms": statistics.median(timings),
        "min_ms": min(timings),
        "max_ms": max(timings),
    }


def table_bytes() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_total_relation_size('webhook_events')")
        return int(cursor.fetchone()[0])


def run_scale(*, config: ScaleConfig, log=print) -> dict:
    from .gauges import noise_gauges

    truncate_service_tables()
    steps = []
    for step, size in enumerate(config.sizes, start=1):
        log(f"scale: growing to {size:,} events …")
        seeded = grow_to(events=size, seed=100 + step)
        log(f"scale: seeded {seeded['added']:,} in {seeded['seconds']:.0f} s; timing pages …")
        noise = noise_gauges()
        email, found = busiest_attendee()  # a scan of every address: once per size
        log(f"scale: the e-mail searched ({email}) has {found:,} events")
        pages, recount = measure_size(config=config, email=email)
        pages["console e-mail search"]["events_found"] = found
        log("scale: pruning …")
        prune = run_pruning(config=PruneConfig(days=config.prune_days))
        steps.append(
            {
                "events": seeded["events"],
                "seed": seeded,
                "table_bytes": table_bytes(),
                "pages": pages,
                "dashboard_recount_ms": recount,
                "prune": prune,
                "noise": noise,
            }
        )
        # A long run keeps what it measured so far, whatever happens to the next step.
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        (RESULTS_DIR / "scale_partial.json").write_text(json.dumps(steps, indent=2, default=str))
        log(
            f"scale: at {seeded['events']:,}: "
            + ", ".join(f"{k} {v['median_ms']:.0f}" for k, v in pages.items())
        )
        log(f"scale: prune deleted {prune['deleted']:,}, longest batch {prune['longest_batch_ms']:.0f} ms")
    return {"config": {"sizes": list(config.sizes), "requests": config.requests}, "steps": steps}


# --- reporting (used by bench/report.py) ------------------------------------------------------


def _reference(scale: dict) -> dict | None:
    steps = scale["steps"]
    if len(steps) < 2:
        return None
    for step in steps[:-1]:
        if step["events"] >= REFERENCE_SIZE * 0.99:
            return step
    return steps[-2]


def scale_verdict(scale: dict) -> dict:
    last, ref = scale["steps"][-1], _reference(scale)
    fast = all(p["median_ms"] < SCALE_MAX_MS for p in last["pages"].values())
    flat = ref is not None and all(
        p["median_ms"] <= SCALE_MAX_GROWTH * ref["pages"][name]["median_ms"]
        for name, p in last["pages"].items()
    )
    prune_ok = all(s["prune"]["longest_batch_ms"] < 1000 for s in scale["steps"])
    return {
        "target": f"every page < {SCALE_MAX_MS:.0f} ms at {last['events']:,} events and <= "
        f"{SCALE_MAX_GROWTH}x its time at {ref['events'] if ref else 0:,}; prune batches < 1 s",
        "met": fast and flat and prune_ok,
    }


def scale_rows(scale: dict) -> list[tuple[str, str, str, str, str]]:
    """(part, measure, at the largest size, at the reference size, ratio) rows."""
    last, ref = scale["steps"][-1], _reference(scale)
    n, r = f"{last['events']:,}", f"{ref['events']:,}" if ref else "-"
    rows = []
    for name, page in last["pages"].items():
        before = ref["pages"][name]["median_ms"] if ref else 0.0
        rows.append(
            (
                "scale",
                f"{name} ms at {n} (vs {r})",
                f"{page['median_ms']:.1f}",
                f"{before:.1f}" if ref else "-",
                f"{page['median_ms'] / before:.2f}" if ref and before else "-",
            )
        )
    for step in scale["steps"]:
        rows.append(
            (
                "scale",
                f"seed +{step['seed']['added']:,} to {step['events']:,} events, s",
                f"{step['seed']['seconds']:.0f}",
                "-",
                "-",
            )
        )
        for span, ms in step.get("dashboard_recount_ms", {}).items():
            rows.append(
                (
                    "scale",
                    f"dashboard recount task ({span}, a worker's) at {step['events']:,}, ms",
                    f"{ms:.0f}",
                    "-",
                    "-",
                )
            )
        prune = step["prune"]
        rows.append(
            (
                "scale",
                f"prune at {step['events']:,}: {prune['deleted']:,} deleted, longest batch ms",
                f"{prune['longest_batch_ms']:.0f}",
                "-",
                "-",
            )
        )
    return rows


def scale_json(scale: dict) -> dict:
    return {
        str(step["events"]): {
            "seed_s": round(step["seed"]["seconds"], 1),
            "pages_ms": {name: round(p["median_ms"], 1) for name, p in step["pages"].items()},
            "dashboard_recount_ms": {k: round(v, 1) for k, v in step.get("dashboard_recount_ms", {}).items()},
            "prune_deleted": step["prune"]["deleted"],
            "prune_longest_batch_ms": round(step["prune"]["longest_batch_ms"], 1),
            "load_average": list(step["noise"]["load_average"]),
        }
        for step in scale["steps"]
    }


def scale_method() -> list[str]:
    return [
        "- **Scale**: the data grows in steps (`BENCH_SCALE_SIZES`, default 100,000, 1,000,000, "
        "5,000,000 events), each topped up by `manage.py seed_demo_data` with a new seed (timed). At each "
        "size: the console pages (list, status=failed, uid search, e-mail search, detail, dashboard) and the "
        "REST list endpoints (first page); the uid and the event detail are sampled from the middle of the "
        "data, the e-mail is the busiest attendee's (its results fill the page at every size, so that sizes "
        "compare the same page), each page timed as the "
        "median of `BENCH_SCALE_REQUESTS` requests after a warm-up (the "
        'dashboard after its recount task ran, as a worker would; "uncached": cache cleared and stored '
        "counts an hour old, so the request asks for a recount; the task itself is timed apart); then "
        f"`prune_webhook_events` removes the events older than {SCALE_PRUNE_DAYS} of the 30 days "
        "(about a fifth) and its longest batch is the longest lock it holds. The next step tops the data "
        f"back up. Targets: every page < {SCALE_MAX_MS:.0f} ms at the largest size and "
        f"<= {SCALE_MAX_GROWTH}x its 1,000,000 time.",
    ]
