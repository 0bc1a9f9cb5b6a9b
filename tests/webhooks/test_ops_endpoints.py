"""/healthz, /readyz and /metrics."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.support.bodies import fresh_booking_body as booking_body
from tests.support.live import PROJECT_DIR
from tests.support.metrics import samples
from webhooks.models import WebhookEvent, WebhookEventStatus


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_user("ops", password="x", is_staff=True)
    client.force_login(user)
    return client


def test_healthz_answers_without_the_database(client):
    # No django_db mark: pytest-django fails any database access in this test.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_reports_database_and_backlog(client):
    assert client.get("/readyz").json() == {
        "status": "ok",
        "database": "ok",
        "backlog": 0,
        "oldest_unprocessed_age_seconds": None,
    }
    WebhookEvent.objects.create(
        status=WebhookEventStatus.RECEIVED, received_at=timezone.now() - timedelta(minutes=2)
    )
    WebhookEvent.objects.create(status=WebhookEventStatus.FAILED)
    WebhookEvent.objects.create(status=WebhookEventStatus.PROCESSED)
    data = client.get("/readyz/").json()
    assert data["backlog"] == 2
    assert 110 < data["oldest_unprocessed_age_seconds"] < 3600


@pytest.mark.django_db
def test_metrics_are_for_staff_or_allow_listed_addresses(client, staff_client, settings):
    settings.METRICS_ALLOWED_IPS = []
    from django.test import Client

    anonymous = Client()
    assert anonymous.get("/metrics").status_code == 403
    assert staff_client.get("/metrics").status_code == 200
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    assert anonymous.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert anonymous.get("/metrics", REMOTE_ADDR="192.0.2.1").status_code == 403
    # Through a trusted proxy, the forwarded client address is the one checked.
    settings.TRUSTED_PROXY_IPS = ["127.0.0.1"]
    forwarded = anonymous.get("/metrics", HTTP_X_FORWARDED_FOR="10.9.9.9")
    assert forwarded.status_code == 200
    spoofed = anonymous.get("/metrics", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="10.9.9.9")
    assert spoofed.status_code == 403  # 192.0.2.1 is no proxy of ours: its header is not believed


@pytest.mark.django_db(transaction=True)
def test_metrics_count_deliveries_from_the_database(deliver, staff_client):
    before = samples(staff_client.get("/metrics").content.decode())
    for _ in range(2):
        assert deliver(booking_body()).status_code == 200
    assert deliver(booking_body(), signature="0" * 64).status_code == 401
    assert deliver(booking_body(), secret=None).status_code == 401
    body = booking_body()
    deliver(body)
    deliver(body)  # a duplicate
    WebhookEvent.objects.create(status=WebhookEventStatus.DEAD)
    WebhookEvent.objects.create(status=WebhookEventStatus.FAILED)
    WebhookEvent.objects.create(  # older than the 24-hour window
        status=WebhookEventStatus.PROCESSED, received_at=timezone.now() - timedelta(days=2)
    )

    response = staff_client.get("/metrics")
    assert response["Content-Type"].startswith("text/plain")
    after = samples(response.content.decode())
    assert after[("vani_database_up", ())] == 1
    assert after[("vani_webhook_events_24h", (("status", "processed"),))] == 3
    assert after[("vani_webhook_events_24h", (("status", "duplicate"),))] == 1
    assert after[("vani_webhook_events_24h", (("status", "rejected"),))] == 2
    assert after[("vani_webhook_events_24h", (("status", "dead"),))] == 1
    assert after[("vani_webhook_rejected_24h", (("cause", "signature_invalid"),))] == 1
    assert after[("vani_webhook_rejected_24h", (("cause", "signature_missing"),))] == 1
    assert after[("vani_webhook_rejected_24h", (("cause", "too_large"),))] == 0
    assert after[("vani_webhook_backlog_events", ())] == 1
    assert after[("vani_webhook_failed_events", ())] == 1
    assert after[("vani_webhook_dead_events", ())] == 1
    assert after[("vani_webhook_oldest_unprocessed_age_seconds", ())] >= 0
    # The in-process latency histogram saw every POST, by status code.
    count_200 = ("vani_webhook_ingest_seconds_count", (("code", "200"),))
    count_401 = ("vani_webhook_ingest_seconds_count", (("code", "401"),))
    assert after[count_200] - before.get(count_200, 0) == 4
    assert after[count_401] - before.get(count_401, 0) == 2


def test_multiprocess_mode_sums_the_in_process_metrics_over_processes(tmp_path):
    """With PROMETHEUS_MULTIPROC_DIR every gunicorn worker writes its own file; a scrape
    answered by any one of them reports the sum."""
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "vani.settings",
    }
    observe = (
        "import django, sys; django.setup(); from webhooks.metrics import INGEST_SECONDS, "
        "render_metrics; INGEST_SECONDS.labels(code='200').observe(0.01); "
        "sys.argv[1:] and sys.stdout.write(render_metrics()[0].decode())"
    )
    subprocess.run([sys.executable, "-c", observe], cwd=PROJECT_DIR, env=env, check=True, timeout=60)
    # The second worker answers the scrape. Its database gauges need a database; this one has
    # none and says so.
    env["DATABASE_URL"] = "sqlite:///" + str(tmp_path / "missing" / "db.sqlite3")
    scrape = subprocess.run(
        [sys.executable, "-c", observe, "render"],
        cwd=PROJECT_DIR,
        env=env,
        check=True,
        timeout=60,
        capture_output=True,
        text=True,
    )
    values = samples(scrape.stdout)
    assert values[("vani_webhook_ingest_seconds_count", (("code", "200"),))] == 2
    assert values[("vani_database_up", ())] == 0
