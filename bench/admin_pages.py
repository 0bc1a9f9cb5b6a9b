"""Part 3: admin page times at a million events, the console against Django's stock ModelAdmin
(and, on the same seeded data, the storage per event: bench/storage.py).

The data comes from `manage.py seed_demo_data --events N` (BENCH_ADMIN_EVENTS). Each page is
requested in-process through Django's test Client as a logged-in superuser: one warm-up
request, then up to 10 timed ones (time around `client.get`, i.e. the server's work including
template rendering, without a network); the median is reported. The baseline is the same page
on bench/stock_admin.py. A stock page can take very long at this size (it counts every row, and
its change form lists every event in a <select>), so each page has a time budget: when the
budget is spent, fewer timed requests are kept and the count says so.
"""

from __future__ import annotations

import statistics
import subprocess
import time
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.test import Client

from webhooks.models import WebhookEvent, WebhookEventStatus

from .infra import PYTHON, REPO_DIR, RESULTS_DIR, subprocess_env, truncate_service_tables
from .noise import NoiseLimits, run_guarded
from .storage import measure_storage
from .urls import STOCK_ADMIN_PREFIX

CONSOLE_PREFIX = "/admin/"
EVENTS_PAGE = "webhooks/webhookevent/"
BENCH_SUPERUSER = "bench-admin"


@dataclass(frozen=True)
class AdminConfig:
    events: int = 1_000_000
    requests: int = 10
    page_budget_seconds: float = 60.0
    seed: int = 1


@dataclass(frozen=True)
class Page:
    name: str
    console_path: str
    stock_path: str


def seed(*, config: AdminConfig) -> dict:
    truncate_service_tables()
    started = time.monotonic()
    log_path = RESULTS_DIR / "seed_demo_data.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        subprocess.run(
            [
                PYTHON,
                "manage.py",
                "seed_demo_data",
                "--events",
                str(config.events),
                "--seed",
                str(config.seed),
            ],
            cwd=REPO_DIR,
            env=subprocess_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            check=True,
        )
    return {"events": WebhookEvent.objects.count(), "seconds": time.monotonic() - started}


def pages_to_measure() -> list[Page]:
    """The four pages, on a uid and an event from the middle of the data (not a cached edge)."""
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
    failed = WebhookEventStatus.FAILED
    return [
        Page("list", EVENTS_PAGE, EVENTS_PAGE),
        Page("list status=failed", f"{EVENTS_PAGE}?status={failed}", f"{EVENTS_PAGE}?status__exact={failed}"),
        Page(
            "uid search",
            f"{EVENTS_PAGE}?q={sample['booking_uid']}",
            f"{EVENTS_PAGE}?q={sample['booking_uid']}",
        ),
        Page("event detail", f"{EVENTS_PAGE}{sample['id']}/change/", f"{EVENTS_PAGE}{sample['id']}/change/"),
    ]


def time_page(*, client: Client, url: str, requests: int, budget_seconds: float) -> dict:
    started = time.perf_counter()
    warmup = client.get(url)
    if warmup.status_code != 200:
        raise RuntimeError(f"GET {url} answered {warmup.status_code}")
    warmup_ms = (time.perf_counter() - started) * 1000
    timings: list[float] = []
    spent = warmup_ms / 1000
    while len(timings) < requests and (not timings or spent < budget_seconds):
        before = time.perf_counter()
        response = client.get(url)
        elapsed = time.perf_counter() - before
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} answered {response.status_code}")
        timings.append(elapsed * 1000)
        spent += elapsed
    return {
        "url": url,
        "median_ms": statistics.median(timings),
        "min_ms": min(timings),
        "max_ms": max(timings),
        "warmup_ms": warmup_ms,
        "requests": len(timings),
        "bytes": len(warmup.content),
    }


def logged_in_client() -> Client:
    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(
        username=BENCH_SUPERUSER, defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    return client


def run_admin(*, config: AdminConfig, limits: NoiseLimits | None = None) -> dict:
    """Seed once, read the storage per event, then time the pages; only the timings are re-run
    on a noisy machine (sizes do not depend on it)."""
    seeded = seed(config=config)
    storage = measure_storage()
    timed = run_guarded(
        name="admin",
        run=lambda: {"pages": measure_pages(config=config)},
        limits=limits or NoiseLimits.from_env(),
    )
    return {
        "config": {"events": config.events, "requests": config.requests, "seed": config.seed},
        "seeded": seeded,
        "pages": timed["pages"],
        "noise": timed["noise"],
        "storage": storage,
    }


def measure_pages(*, config: AdminConfig) -> list[dict]:
    client = logged_in_client()
    results = []
    for page in pages_to_measure():
        console = time_page(
            client=client,
            url=CONSOLE_PREFIX + page.console_path,
            requests=config.requests,
            budget_seconds=config.page_budget_seconds,
        )
        stock = time_page(
            client=client,
            url=STOCK_ADMIN_PREFIX + page.stock_path,
            requests=config.requests,
            budget_seconds=config.page_budget_seconds,
        )
        results.append(
            {
                "page": page.name,
                "console": console,
                "stock": stock,
                "speedup": stock["median_ms"] / console["median_ms"] if console["median_ms"] else 0.0,
            }
        )
    return results
