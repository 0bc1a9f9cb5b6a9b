"""The production recipe's gunicorn (deploy/gunicorn.conf.py), started for real.

Slow clients must not stall Cal.com's deliveries and must be cut after the body deadline;
PROMETHEUS_MULTIPROC_DIR must be created when missing and wiped only by the master.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import pytest
import requests

from tests.support.bodies import fresh_raw_body as sample_body
from tests.support.delivery import TEST_SECRET
from tests.support.live import PROJECT_DIR, free_port, live_process, migrate, post_signed
from tests.support.metrics import samples

CONFIG = PROJECT_DIR / "deploy" / "gunicorn.conf.py"
BODY_TIMEOUT = 3  # seconds; the recipe's default is 10
COUNT_200 = ("vani_webhook_ingest_seconds_count", (("code", "200"),))


@pytest.fixture(scope="module")
def database_url(tmp_path_factory) -> str:
    """A migrated SQLite file of its own (whatever DATABASE_URL the suite runs on)."""
    url = "sqlite:///" + str(tmp_path_factory.mktemp("recipe") / "db.sqlite3")
    migrate(database_url=url, env=base_env())
    return url


def base_env() -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_SETTINGS_MODULE", "PROMETHEUS_MULTIPROC_DIR"}
        and not key.startswith("GUNICORN")
    }
    env.update(
        CAL_COM_WEBHOOK_SECRET=TEST_SECRET,
        ENVIRONMENT="development",
        TASKS_BACKEND="django_tasks_db.DatabaseBackend",
        METRICS_ALLOWED_IPS="127.0.0.1",
        GUNICORN_BODY_TIMEOUT=str(BODY_TIMEOUT),
        PYTHONUNBUFFERED="1",
    )
    return env


@contextmanager
def recipe_gunicorn(*, database_url: str, workers: int = 2, **extra_env: str):
    """`gunicorn vani.wsgi -c deploy/gunicorn.conf.py`, bound to a free local port. Yields the
    base URL, the master process and its log lines (collected as they come)."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "vani.wsgi",
        "-c",
        str(CONFIG),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--log-level",
        "info",
    ]
    env = {**base_env(), "DATABASE_URL": database_url, **extra_env}
    with live_process(command, port=port, env=env, stop_timeout=15) as (base, server, log):
        yield base, server, log


def scrape(base: str) -> dict:
    response = requests.get(f"{base}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    return samples(response.text)


def stored_events(base: str) -> float:
    return sum(value for (name, _), value in scrape(base).items() if name == "vani_webhook_events_24h")


# --- Slow clients --------------------------------------------------------------------------------


class SlowBodyClient:
    """Sends complete headers, then trickles the body a byte every 0.3 s, never finishing; reads
    whatever the server answers as it comes."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.sendall(
            b"POST /api/webhooks/cal-com HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"
        )
        self.started = time.monotonic()
        self.received = b""
        self.answered_after: float | None = None
        self.closed_after: float | None = None
        self.closed = threading.Event()
        threading.Thread(target=self._trickle, daemon=True).start()
        threading.Thread(target=self._read, daemon=True).start()

    def _trickle(self):
        while not self.closed.wait(0.3):
            try:
                self.sock.sendall(b" ")
            except OSError:
                return

    def _read(self):
        try:
            while chunk := self.sock.recv(65536):
                self.received += chunk
                if self.answered_after is None:
                    self.answered_after = time.monotonic() - self.started
        except OSError:  # reset: the server closed while bytes were still coming
            pass
        self.closed_after = time.monotonic() - self.started
        self.closed.set()


def test_slow_body_clients_neither_stall_deliveries_nor_keep_their_threads(database_url):
    with recipe_gunicorn(database_url=database_url, workers=2) as (base, _server, _log):
        port = int(base.rsplit(":", 1)[1])
        stored_before = stored_events(base)
        slow = [SlowBodyClient(port) for _ in range(4)]  # more than there are workers
        time.sleep(0.5)  # every slow request has reached the application
        started = time.monotonic()
        response = post_signed(base, sample_body())
        assert response.status_code == 200, response.text
        assert time.monotonic() - started < 2
        for client in slow:
            assert client.closed.wait(BODY_TIMEOUT + 10)
            assert client.received.startswith(b"HTTP/1.1 408"), client.received[:200]
            assert b"request body not received in time" in client.received
            # Cut at the deadline although it kept sending, long before gunicorn's 30 s timeout.
            assert BODY_TIMEOUT - 0.5 < client.answered_after < BODY_TIMEOUT + 1.5
            assert client.closed_after < BODY_TIMEOUT + 1.5
        assert stored_events(base) == stored_before + 1  # nothing was stored for them


# --- PROMETHEUS_MULTIPROC_DIR ----------------------------------------------------------------------


def test_missing_multiproc_dir_is_created(database_url, tmp_path):
    directory = tmp_path / "not" / "there"
    with recipe_gunicorn(database_url=database_url, PROMETHEUS_MULTIPROC_DIR=str(directory)) as (
        base,
        _server,
        _log,
    ):
        assert post_signed(base, sample_body()).status_code == 200
        assert scrape(base)[COUNT_200] == 1
    # Processes outside gunicorn (manage.py, db_worker) import the metrics too.
    other = tmp_path / "elsewhere"
    subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=PROJECT_DIR,
        env={**base_env(), "DATABASE_URL": database_url, "PROMETHEUS_MULTIPROC_DIR": str(other)},
        check=True,
        timeout=120,
        capture_output=True,
    )
    assert other.is_dir()


def test_multiproc_dir_is_wiped_when_the_master_starts_and_only_then(database_url, tmp_path):
    directory = tmp_path / "metrics"
    directory.mkdir()
    stale = (
        "import django; django.setup(); from webhooks.metrics import INGEST_SECONDS; "
        "[INGEST_SECONDS.labels(code='200').observe(0.01) for _ in range(5)]"
    )
    subprocess.run(
        [sys.executable, "-c", stale],
        cwd=PROJECT_DIR,
        env={
            **base_env(),
            "DJANGO_SETTINGS_MODULE": "vani.settings",
            "PROMETHEUS_MULTIPROC_DIR": str(directory),
        },
        check=True,
        timeout=60,
    )
    assert list(directory.glob("*.db"))  # a previous run's five observations
    (directory / "README").write_text("not ours")
    with recipe_gunicorn(database_url=database_url, workers=2, PROMETHEUS_MULTIPROC_DIR=str(directory)) as (
        base,
        server,
        log,
    ):
        for _ in range(2):
            assert post_signed(base, sample_body()).status_code == 200
        assert scrape(base)[COUNT_200] == 2  # the stale five are gone

        # New workers (a reload) keep what the earlier ones counted.
        booted = sum("Booting worker" in line for line in log)
        server.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while sum("Booting worker" in line for line in log) < booted + 2:
            assert time.monotonic() < deadline, "".join(log)
            time.sleep(0.1)
        assert post_signed(base, sample_body()).status_code == 200
        assert scrape(base)[COUNT_200] == 3
    assert (directory / "README").read_text() == "not ours"
