"""Database outages against a live server (gunicorn in a subprocess).

Cal.com retries 5xx, so while the database is down the endpoint must answer 503 quickly and
write nothing; once it is back the very next delivery must succeed without a restart.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import psycopg2
import pytest
import requests

from tests.conftest import TEST_SECRET
from tests.freezable_proxy import FreezableProxy
from tests.pg_cluster import ThrowawayCluster, free_port, postgres_bin_dir
from calcom.samples import build_sample_webhook_body, encode_webhook_body, new_sample_booking
from calcom.signatures import sign_body

PROJECT_DIR = Path(__file__).resolve().parents[1]
REQUEST_TIMEOUT = 15  # a hung request fails the test instead of hanging it
PROMISED_SECONDS = 5  # a delivery is answered within this long, whatever the database does


@contextmanager
def live_gunicorn(*, database_url: str, connect_timeout: int = 2, **extra_env: str):
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DB_CONNECT_TIMEOUT": str(connect_timeout),
        "CAL_COM_WEBHOOK_SECRET": TEST_SECRET,
        # The production layout: the web process only stores and enqueues.
        "TASKS_BACKEND": "django_tasks_db.DatabaseBackend",
        "ENVIRONMENT": "development",
        "PYTHONUNBUFFERED": "1",
        **extra_env,
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "vani.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--timeout",
            "60",
            "--log-level",
            "warning",
        ],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or its worker still booting
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start:\n{server.stdout.read()}")
            time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def post_signed(base: str, body: bytes) -> requests.Response:
    return requests.post(
        f"{base}/api/webhooks/cal-com",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-Cal-Signature-256": sign_body(body=body, secret=TEST_SECRET),
        },
        timeout=REQUEST_TIMEOUT,
    )


def sample_body(trigger: str = "BOOKING_CREATED") -> bytes:
    return encode_webhook_body(
        build_sample_webhook_body(trigger=trigger, booking=new_sample_booking())
    )


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
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=PROJECT_DIR,
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrate.returncode == 0, migrate.stderr

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

    from tests.test_ops_recovery import database_url
    from webhooks.models import WebhookEvent

    params = connection.settings_dict
    proxy = FreezableProxy(
        upstream=(params.get("HOST") or "127.0.0.1", int(params.get("PORT") or 5432))
    )
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
