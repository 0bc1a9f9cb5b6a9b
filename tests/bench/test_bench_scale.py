"""The scale part (bench/scale.py) works end to end at tiny sizes, and renders. No timing asserts."""

from __future__ import annotations

import json

import pytest

from bench import gauges, report, scale
from webhooks.models import WebhookEvent


def test_sizes_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("BENCH_SCALE_SIZES", "50000, 10000")
    monkeypatch.setenv("BENCH_SCALE_REQUESTS", "3")
    config = scale.ScaleConfig.from_env()
    assert config.sizes == (10_000, 50_000) and config.requests == 3
    monkeypatch.delenv("BENCH_SCALE_SIZES")
    assert scale.ScaleConfig.from_env().sizes == (100_000, 1_000_000, 5_000_000)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_scale_grows_measures_every_page_and_prunes():
    result = scale.run_scale(config=scale.ScaleConfig(sizes=(150, 400), requests=1), log=lambda m: None)
    steps = result["steps"]
    assert [s["events"] for s in steps] == [150, 400]
    # The second step topped the pruned data back up to its size.
    assert steps[1]["seed"]["had"] == 150 - steps[0]["prune"]["deleted"]
    assert WebhookEvent.objects.count() == 400 - steps[1]["prune"]["deleted"]
    for step in steps:
        assert set(step["pages"]) >= {
            "console list",
            "console uid search",
            "console e-mail search",
            "console event detail",
            "console dashboard",
            "console dashboard uncached",
            "api webhook-events",
            "api meetings",
            "api targets",
        }
        assert all(page["median_ms"] > 0 for page in step["pages"].values())
        assert step["pages"]["console e-mail search"]["events_found"] >= 1
        assert step["prune"]["deleted"] > 0 and step["prune"]["batches"] > 0
        # The dashboard's recount is a worker's task: timed apart from the pages.
        assert set(step["dashboard_recount_ms"]) == {"14 days", "today"}


def _step(events: int, ms: float, longest: float = 100.0) -> dict:
    return {
        "events": events,
        "seed": {"had": 0, "added": events, "seconds": 1.0, "events": events},
        "table_bytes": 1,
        "pages": {"console list": {"median_ms": ms}, "api meetings": {"median_ms": ms / 2}},
        "dashboard_recount_ms": {"14 days": ms * 10, "today": ms},
        "prune": {"deleted": events // 5, "batches": 3, "longest_batch_ms": longest},
        "noise": gauges.noise_gauges(),
    }


def test_verdict_compares_the_largest_size_with_a_million():
    flat = {"steps": [_step(100_000, 40), _step(1_000_000, 50), _step(5_000_000, 70)]}
    assert scale.scale_verdict(flat)["met"] is True
    grown = {"steps": [_step(100_000, 40), _step(1_000_000, 50), _step(5_000_000, 80)]}
    assert scale.scale_verdict(grown)["met"] is False  # 1.6x its 1M time
    slow = {"steps": [_step(1_000_000, 250), _step(5_000_000, 310)]}
    assert scale.scale_verdict(slow)["met"] is False  # over 300 ms
    long_lock = {"steps": [_step(1_000_000, 50), _step(5_000_000, 50, longest=1200)]}
    assert scale.scale_verdict(long_lock)["met"] is False


def test_report_rows_json_and_method_include_scale():
    results = {"scale": {"config": {}, "steps": [_step(1_000_000, 50), _step(5_000_000, 60)]}}
    rows = report.table_rows(results)
    assert ("scale", "console list ms at 5,000,000 (vs 1,000,000)", "60.0", "50.0", "1.20") in rows
    assert ("scale", "dashboard recount task (14 days, a worker's) at 5,000,000, ms", "600", "-", "-") in rows
    assert any(r[1].startswith("prune at 5,000,000: 1,000,000 deleted") for r in rows)
    assert report.targets(results)["scale"]["met"] is True
    line = scale.scale_json(results["scale"])
    assert json.loads(json.dumps(line))["5000000"]["pages_ms"]["console list"] == 60.0
    assert any("**Scale**" in text for text in scale.scale_method())


@pytest.mark.django_db
def test_the_e_mail_searched_is_the_busiest_attendees():
    for number, email in enumerate(["few@example.com", "most@example.com", "most@example.com", "", ""]):
        WebhookEvent.objects.create(raw_body=f"{{{number}}}".encode(), attendee_email=email)
    assert scale.busiest_attendee() == ("most@example.com", 2)
