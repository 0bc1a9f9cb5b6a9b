"""The test database: which kind it is, where it lives, and watching its locks (PostgreSQL)."""

from __future__ import annotations

import threading
import time
from urllib.parse import quote

from django.db import connection


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def database_url() -> str:
    """The test database as a DATABASE_URL, for processes the test starts (PostgreSQL)."""
    params = connection.settings_dict
    credentials = quote(params["USER"] or "postgres")
    if params.get("PASSWORD"):
        credentials += ":" + quote(params["PASSWORD"])
    host = params.get("HOST") or "127.0.0.1"
    port = params.get("PORT") or 5432
    return f"postgres://{credentials}@{host}:{port}/{params['NAME']}"


def a_backend_waits_for_a_lock() -> bool:
    """Whether some session of this database waits on a lock right now (PostgreSQL)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


def wait_for_lock_waiter(timeout: float = 10.0) -> None:
    """Until some session of this database waits on a lock (the blocked insert)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if a_backend_waits_for_a_lock():
            return
        time.sleep(0.02)
    raise AssertionError("no session ever waited on a lock")


def race(*, holder, holder_ready: threading.Event, waiter, release: threading.Event) -> None:
    """Run `holder` until it holds its lock, start `waiter`, wait until PostgreSQL shows the
    waiter blocked on that lock, then let the holder commit."""
    first = threading.Thread(target=holder)
    first.start()
    assert holder_ready.wait(10)
    second = threading.Thread(target=waiter)
    second.start()
    wait_for_lock_waiter()
    release.set()
    first.join(15)
    second.join(15)
