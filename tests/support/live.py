"""Real server and worker processes a test starts: gunicorn, runserver, db_worker.

`live_process` is the one way to start a web server in a subprocess: it waits until /healthz
answers 200, collects the process's output as it comes (so a full pipe never blocks it), and
stops it afterwards. `live_gunicorn` is the production layout on top of it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from calcom.signatures import sign_body
from tests.support.delivery import TEST_SECRET, WEBHOOK_URL

PROJECT_DIR = Path(__file__).resolve().parents[2]
REQUEST_TIMEOUT = 15  # a hung request fails the test instead of hanging it


def free_port() -> int:
    """A port nothing listens on right now (connections to it are refused until a server binds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def migrate(*, database_url: str, env: dict[str, str] | None = None) -> None:
    """`manage.py migrate` on a database of the test's own (a file or a throwaway cluster)."""
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=PROJECT_DIR,
        env={**(env if env is not None else os.environ), "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


@contextmanager
def live_process(
    command: list[str], *, port: int, env: dict[str, str], stop_timeout: float = 10
) -> Iterator[tuple[str, subprocess.Popen, list[str]]]:
    """Run `command` (a web server binding 127.0.0.1:`port`) from the project directory.
    Yields its base URL, the process and its output lines (collected as they come)."""
    server = subprocess.Popen(
        command, cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    log: list[str] = []
    reader = threading.Thread(target=lambda: log.extend(server.stdout), daemon=True)
    reader.start()
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
                server.kill()
                reader.join(5)
                raise RuntimeError(f"{' '.join(command)} did not start:\n" + "".join(log))
            time.sleep(0.1)
        yield base, server, log
    finally:
        server.terminate()
        try:
            server.wait(timeout=stop_timeout)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def server_env(**extra_env: str) -> dict[str, str]:
    """This process's environment for a child Django process (the settings module comes from
    manage.py / wsgi, the database from DATABASE_URL)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **extra_env}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


@contextmanager
def live_gunicorn(*, database_url: str, connect_timeout: int = 2, **extra_env: str) -> Iterator[str]:
    """gunicorn serving vani.wsgi as production runs it (the web process only stores and
    enqueues), on a free port. Yields the base URL."""
    port = free_port()
    env = server_env(
        **{
            "DATABASE_URL": database_url,
            "DB_CONNECT_TIMEOUT": str(connect_timeout),
            "CAL_COM_WEBHOOK_SECRET": TEST_SECRET,
            "TASKS_BACKEND": "django_tasks_db.DatabaseBackend",
            "ENVIRONMENT": "development",
            **extra_env,
        }
    )
    command = [
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
    ]
    with live_process(command, port=port, env=env) as (base, _server, _log):
        yield base


def post_signed(base: str, body: bytes) -> requests.Response:
    """POST `body` to a live server's webhook endpoint, signed with the suite's secret."""
    return requests.post(
        f"{base}{WEBHOOK_URL}",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-Cal-Signature-256": sign_body(body=body, secret=TEST_SECRET),
        },
        timeout=REQUEST_TIMEOUT,
    )


def start_worker(url: str, **settings_env: str) -> subprocess.Popen:
    """A real `db_worker` process on the database at `url` (`settings_env`: more environment)."""
    env = server_env(
        **{"DATABASE_URL": url, "TASKS_BACKEND": "django_tasks_db.DatabaseBackend", **settings_env}
    )
    return subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "db_worker",
            "--no-reload",
            "--no-startup-delay",
            "--interval",
            "0.1",
        ],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_until(condition, *, timeout: float = 30.0, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)
