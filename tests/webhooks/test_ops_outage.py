"""Database outages against a live server (gunicorn in a subprocess).

Cal.com retries 5xx, so while the database is down the endpoint must answer 503 quickly and
write nothing; once it is back the very next delivery must succeed without a restart.
"""

from __future__ import annotations

import socket
import time

import psycopg2
import pytest
import requests

from tests.support.bodies import fresh_raw_body as sample_body
from tests.support.db import database_url
from tests.support.freezable_proxy import FreezableProxy
from tests.support.live import REQUEST_TIMEOUT, live_gunicorn, migrate, post_signed
from tests.support.pg_cluster import ThrowawayCluster, postgres_bin_dir

PROMISED_SECONDS = 5  # a delivery is answered within this long, whatever the database does


@pytest.fixture
def cluster():
    if postgres_bin_dir() is None:
        pytest.fail("PostgreSQL server binaries are needed for the outage test")
    owned = ThrowawayCluster()
    try:
        owned.start()
        yield owned
    finally:
        owned.destroy()


@pytest.mark.postgres
def test_outage_answers_503_writes_nothing_and_recovers_by_itself(cluster):
    database_url = cluster.create_database("vani_outage")
    migrate(database_url=database_url)

    before, during = sample_body(), sample_body("BOOKING_CANCELLED")
    with live_gunicorn(database_url=database_url) as base:
        first = post_signed(base, before)
        assert first.status_code == 200, first.text
        assert requests.get(f"{base}/readyz", timeout=REQUEST_TIMEOUT).status_code == 200

        cluster.stop()
        refused = post_signed(base, during)
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "5"
        assert refused.json() == {"error": "database unavailable, retry later"}
        # A refused (badly signed) delivery cannot be recorded either: 503 too, not a 500.
        unsigned = requests.post(
            f"{base}/api/webhooks/cal-com",
            data=during,
            timeout=REQUEST_TIMEOUT,
            headers={"Content-Type": "application/json", "X-Cal-Signature-256": "0" * 64},
        )
        assert unsigned.status_code == 503
        assert requests.get(f"{base}/healthz", timeout=REQUEST_TIMEOUT).status_code == 200
        ready = requests.get(f"{base}/readyz", timeout=REQUEST_TIMEOUT)
        assert ready.status_code == 503
        assert ready.json()["database"] == "unreachable"

        cluster.start()
        # Cal.com's retry of the refused delivery: accepted by the same process, no restart.
        retried = post_signed(base, during)
        assert retried.status_code == 200, retried.text
        assert requests.get(f"{base}/readyz", timeout=REQUEST_TIMEOUT).status_code == 200

    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT id, status, trigger_event FROM webhook_events ORDER BY id")
        rows = cursor.fetchall()
        cursor.execute("SELECT count(*) FROM django_tasks_database_dbtaskresult")
        (tasks,) = cursor.fetchone()
    assert [(row[0], row[2]) for row in rows] == [
        (first.json()["event_id"], "BOOKING_CREATED"),
        (retried.json()["event_id"], "BOOKING_CANCELLED"),
    ]
    assert {row[1] for row in rows} == {"received"}  # waiting for a db_worker
    assert tasks == 2  # each stored delivery was enqueued once; the refused one not at all


def test_unanswering_database_host_gets_503_within_the_connect_timeout():
    """A database host that accepts TCP but never answers (a dead VM, a black-holed route):
    connect_timeout bounds the wait and the endpoint still answers 503."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # the kernel completes handshakes; nobody ever reads or answers
        port = silent.getsockname()[1]
        with live_gunicorn(
            database_url=f"postgres://postgres@127.0.0.1:{port}/vani", connect_timeout=1
        ) as base:
            # Without connect_timeout this would wait on the socket until requests gives up.
            response, seconds = timed_delivery(base, sample_body())
    assert response.status_code == 503
    assert seconds < PROMISED_SECONDS
    assert response.headers["Retry-After"] == "5"


def timed_delivery(base: str, body: bytes) -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = post_signed(base, body)
    return response, time.monotonic() - started


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_database_that_goes_silent_mid_session_gets_503_in_time_and_recovers_by_itself():
    """The database stops answering on an open connection (a hung host or route: the kernel
    still acknowledges, so TCP notices nothing): each delivery gets its 503 within the promised
    time, and once the database answers again the same process stores the next one."""
    from django.db import connection

    from webhooks.models import WebhookEvent

    params = connection.settings_dict
    proxy = FreezableProxy(upstream=(params.get("HOST") or "127.0.0.1", int(params.get("PORT") or 5432)))
    through_proxy = database_url().replace(
        f"@{params.get('HOST') or '127.0.0.1'}:{params.get('PORT') or 5432}/",
        f"@127.0.0.1:{proxy.port}/",
    )
    try:
        # Production defaults: DB_CONNECT_TIMEOUT 3 s, DB_REQUEST_TIMEOUT 4 s.
        with live_gunicorn(database_url=through_proxy, connect_timeout=3) as base:
            first = post_signed(base, sample_body())
            assert first.status_code == 200, first.text  # its connection stays open (reused)

            proxy.freeze()
            # The open connection goes silent; then a new connection is accepted and silent.
            for _ in range(2):
                refused, seconds = timed_delivery(base, sample_body("BOOKING_CANCELLED"))
                assert refused.status_code == 503, refused.text
                assert refused.headers["Retry-After"] == "5"
                assert seconds < PROMISED_SECONDS

            proxy.unfreeze()
            accepted, seconds = timed_delivery(base, sample_body("BOOKING_PAID"))
            assert accepted.status_code == 200, accepted.text
            assert seconds < PROMISED_SECONDS
    finally:
        proxy.close()
    stored = WebhookEvent.objects.order_by("id").values_list("pk", "trigger_event")
    assert list(stored) == [
        (first.json()["event_id"], "BOOKING_CREATED"),
        (accepted.json()["event_id"], "BOOKING_PAID"),
    ]
