"""The embedded default (SQLite file, tasks inline) takes concurrent deliveries without
"database is locked": a real threaded server process, many parallel signed posts."""

from __future__ import annotations

import http.client
import os
import sqlite3
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from calcom.signatures import sign_body
from tests.support.bodies import at, booking_body, compact
from tests.support.delivery import WEBHOOK_URL
from tests.support.live import free_port, live_process, migrate

SECRET = "whsec_sqlite_concurrency"


@pytest.fixture
def sqlite_server(tmp_path):
    db = tmp_path / "embedded.sqlite3"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{db}",
        "CAL_COM_WEBHOOK_SECRET": SECRET,
        "TASKS_BACKEND": "django_tasks.backends.immediate.ImmediateBackend",
        "ENVIRONMENT": "development",
        "LOG_LEVEL": "WARNING",
    }
    migrate(database_url=env["DATABASE_URL"], env=env)
    port = free_port()
    command = [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
    with live_process(command, port=port, env=env):
        yield port, db


def post(port: int, raw: bytes) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request(
        "POST",
        WEBHOOK_URL,
        raw,
        {
            "Content-Type": "application/json",
            "X-Cal-Signature-256": sign_body(body=raw, secret=SECRET),
        },
    )
    status = connection.getresponse().status
    connection.close()
    return status


def test_parallel_deliveries_on_sqlite_are_all_stored_and_processed(sqlite_server):
    port, db = sqlite_server
    bodies = []
    for booking in range(10):
        uid = f"SQ{booking}"
        bodies.append(compact(booking_body("BOOKING_CREATED", uid=uid, created=at(0), start=at(100))))
        bodies.append(compact(booking_body("BOOKING_PAID", uid=uid, created=at(5))))
        bodies.append(compact(booking_body("BOOKING_CANCELLED", uid=uid, created=at(9))))
    with ThreadPoolExecutor(max_workers=12) as pool:
        codes = list(pool.map(lambda raw: post(port, raw), bodies))
    assert codes == [200] * len(bodies)
    with sqlite3.connect(db) as connection:
        statuses = dict(
            connection.execute("SELECT status, COUNT(*) FROM webhook_events GROUP BY status").fetchall()
        )
        meetings = connection.execute("SELECT COUNT(*) FROM meetings").fetchone()[0]
    assert statuses.get("processed", 0) + statuses.get("ignored", 0) == len(bodies), statuses
    assert meetings == 10
