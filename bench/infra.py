"""Process and database plumbing shared by the benchmark parts (PostgreSQL only)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from django.apps import apps
from django.conf import settings
from django.db import connection

REPO_DIR = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_DIR / "bench" / "results"
PYTHON = sys.executable
# The service's own tables (and the task queue): emptied between rounds so that every round
# starts from the same state. Users and sessions stay (the admin part logs in).
SERVICE_APPS = ("webhooks", "meetings", "notifications", "django_tasks_database")


def service_tables() -> list[str]:
    return sorted(
        model._meta.db_table
        for app_label in SERVICE_APPS
        for model in apps.get_app_config(app_label).get_models()
    )


def truncate_service_tables() -> None:
    tables = ", ".join(connection.ops.quote_name(table) for table in service_tables())
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


def vacuum_analyze(*tables: str) -> None:
    """Fresh statistics (and visibility map) after a bulk load, as autovacuum would leave them."""
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(table)}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def peak_rss_kib(pid: int) -> int:
    """VmHWM (peak resident set size) of a live process, in KiB; 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return 0
    return 0


def child_pids(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children.extend(int(p) for p in (task / "children").read_text().split())
        except FileNotFoundError:
            continue
    return children


def current_database_url() -> str:
    """The database this process uses, as a DATABASE_URL (under pytest: the test database)."""
    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.postgresql":
        return f"sqlite:///{database['NAME']}"
    credentials = quote(database.get("USER") or "", safe="")
    if database.get("PASSWORD"):
        credentials += ":" + quote(database["PASSWORD"], safe="")
    host = database.get("HOST") or "127.0.0.1"
    port = database.get("PORT") or 5432
    return f"postgres://{credentials}@{host}:{port}/{quote(database['NAME'], safe='')}"


def subprocess_env(**overrides: str) -> dict[str, str]:
    """The environment of helper processes: the same database, task backend, URLconf and secret
    as this process, whatever the environment said when it started."""
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "vani.settings"),
        "DATABASE_URL": current_database_url(),
        "TASKS_BACKEND": settings.TASKS["default"]["BACKEND"],
        "ROOT_URLCONF": settings.ROOT_URLCONF,
        "CAL_COM_WEBHOOK_SECRET": settings.CAL_COM_WEBHOOK_SECRET,
        **overrides,
    }
    return env


def stop_process(process: subprocess.Popen, *, timeout: float = 10.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for_http(*, port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                # OPTIONS: answered by the webhook view without a log line.
                sock.sendall(b"OPTIONS /api/webhooks/cal-com HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                if sock.recv(16).startswith(b"HTTP/1."):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"nothing answered HTTP on 127.0.0.1:{port} within {timeout:.0f} s")


@dataclass(frozen=True)
class GunicornConfig:
    workers: int = 2
    worker_class: str = "gthread"
    threads: int = 4


@contextmanager
def gunicorn_server(*, config: GunicornConfig, log_path: Path):
    """Serve the project (ROOT_URLCONF from the environment) on a free local port."""
    port = free_port()
    command = [
        PYTHON,
        "-m",
        "gunicorn",
        "vani.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(config.workers),
        "--worker-class",
        config.worker_class,
        "--threads",
        str(config.threads),
        "--keep-alive",
        "5",
        "--backlog",
        "256",
        "--log-level",
        "warning",
    ]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command, cwd=REPO_DIR, env=subprocess_env(), stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_for_http(port=port)
            yield process, port
        finally:
            stop_process(process)


def run_json_command(command: list[str], *, log_path: Path | None = None, timeout: float = 600) -> dict:
    """Run a bench subprocess that prints its result as JSON on the last line of stdout."""
    import json

    completed = subprocess.run(
        command, cwd=REPO_DIR, env=subprocess_env(), capture_output=True, text=True, timeout=timeout
    )
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "a") as log:
            log.write(f"$ {' '.join(command)}\n{completed.stderr}\n")
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {completed.returncode}:\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])
