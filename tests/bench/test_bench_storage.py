"""Storage per event: production-sized demo bodies and the bytes-per-event report."""

from __future__ import annotations

import json
import statistics

import pytest
from django.db import connection

from bench import report, storage
from webhooks.models import WebhookEvent

BOOKING_TRIGGERS = ("BOOKING_CREATED", "BOOKING_RESCHEDULED", "BOOKING_CANCELLED", "BOOKING_PAID")


@pytest.mark.django_db
def test_demo_booking_bodies_are_production_sized():
    from devtools.demo.seeding import seed_demo_data

    seed_demo_data(events=400, seed=21)
    sizes = list(
        WebhookEvent.objects.filter(trigger_event__in=BOOKING_TRIGGERS).values_list("body_size", flat=True)
    )
    # A real Cal.com booking delivery is ~3.8 KB (bench/calcom_bodies/BOOKING_CREATED.json).
    assert 3500 <= statistics.median(sizes) <= 4300
    created = WebhookEvent.objects.filter(trigger_event="BOOKING_CREATED").first()
    booking = json.loads(bytes(created.raw_body))["payload"]
    assert len(booking["description"]) > 300 and len(booking["additionalNotes"]) > 200
    assert booking["responses"]["notes"]["value"] == booking["additionalNotes"]
    assert booking["uid"] == created.booking_uid


@pytest.mark.postgres
@pytest.mark.django_db
def test_storage_report_adds_up_and_renders():
    from devtools.demo.seeding import seed_demo_data

    seed_demo_data(events=300, seed=22)
    measured = storage.measure_storage()
    assert measured["events"] == 300
    assert measured["body_bytes"] == sum(WebhookEvent.objects.values_list("body_size", flat=True))
    assert (
        measured["heap_bytes"] + measured["toast_bytes"] + measured["index_bytes"] == measured["total_bytes"]
    )
    assert sum(measured["indexes"].values()) == measured["index_bytes"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'webhook_events'")
        in_database = {row[0] for row in cursor.fetchall()}
    assert set(measured["indexes"]) == in_database

    results = {"storage": measured}
    verdict = report.targets(results)["storage"]
    assert verdict["met"] == (measured["ratio_to_body"] <= report.STORAGE_MAX_RATIO)
    rows = [row for row in report.table_rows(results) if row[0] == "storage"]
    assert rows[0][2] == f"{measured['per_event']['total']:,.0f}"
    assert rows[0][4] == f"{measured['ratio_to_body']:.2f}"


@pytest.mark.django_db
def test_pruning_part_reports_its_longest_batch():
    from datetime import timedelta

    from django.utils import timezone

    from bench import pruning
    from devtools.demo.seeding import seed_demo_data

    seed_demo_data(events=300, seed=23)
    cutoff = timezone.now() - timedelta(days=pruning.PRUNE_DAYS)
    old = WebhookEvent.objects.filter(received_at__lt=cutoff, status="processed").count()
    result = pruning.run_pruning(config=pruning.PruneConfig(batch_size=10))
    assert result["deleted"] >= old > 0
    assert result["batches"] >= old // 10 and result["longest_batch_ms"] > 0
    assert not WebhookEvent.objects.filter(received_at__lt=cutoff, status="processed").exists()
    verdict = report.targets({"pruning": result})["pruning"]
    assert verdict["met"] == (result["longest_batch_ms"] < report.PRUNE_MAX_BATCH_MS)
    assert any(row[0] == "pruning" for row in report.table_rows({"pruning": result}))
