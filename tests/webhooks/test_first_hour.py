"""The first hour: `make run` (scripts/run.sh) and the tools, run as a newcomer runs them.

Each bad start-up input gives one or two lines naming what to fix, before any banner, and no
traceback; the quick start writes one `.env` that the server and the tools in another shell
share; `send_test_webhook --story` leaves a completed meeting with its HITs.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from common.envfile import bind_address, ensure, read_values
from tests.support.live import PROJECT_DIR, free_port, live_gunicorn

BANNER = "VANI Cal.com webhook service"


def run_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A newcomer's shell: nothing VANI-specific set, the .env file of the test's own."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "VANI_"))}
    for key in ("DATABASE_URL", "PORT", "HOST", "PUBLIC_BASE_URL", "CAL_COM_WEBHOOK_SECRET", "TIME_ZONE"):
        env.pop(key, None)
    env.update(
        {
            "VANI_ENV_FILE": str(tmp_path / ".env"),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "PORT": str(free_port()),
            **extra,
        }
    )
    return env


def run_sh(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "scripts/run.sh"], cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=180
    )


def assert_short_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    assert BANNER not in output, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert 1 <= len(errors) <= 2, output
    for fragment in fragments:
        assert fragment in output, output
    assert len(output.splitlines()) <= 4, output  # the config line, the error(s)


@pytest.mark.parametrize(
    ("setting", "value", "fragments"),
    [
        (
            "DATABASE_URL",
            "postgress://postgres@127.0.0.1:5432/vani",
            ("DATABASE_URL", "unknown scheme 'postgress'"),
        ),
        ("DATABASE_URL", "postgres//postgres@127.0.0.1/vani", ("DATABASE_URL", "unknown scheme")),
        (
            "DATABASE_URL",
            "postgres://postgres@127.0.0.1:{free}/vani",
            ("DATABASE_URL", "cannot reach PostgreSQL"),
        ),
        ("DATABASE_URL", "sqlite:////nonexistent-folder/db.sqlite3", ("DATABASE_URL", "folder")),
        ("DJANGO_ALLOWED_HOSTS", "http://vani.example.com", ("DJANGO_ALLOWED_HOSTS", "bare host")),
        ("DJANGO_ALLOWED_HOSTS", "vani.example.com", ("DJANGO_ALLOWED_HOSTS", "does not include 127.0.0.1")),
        ("TIME_ZONE", "Europe/Atlantis", ("Europe/Atlantis",)),
        ("PORT", "80800", ("PORT", "not a port number")),
    ],
)
def test_bad_start_up_input_is_one_line_before_any_banner(tmp_path, setting, value, fragments):
    result = run_sh(run_env(tmp_path, **{setting: value.format(free=free_port())}))
    assert_short_error(result, *fragments)


@pytest.mark.postgres
def test_a_database_that_does_not_exist_is_named(tmp_path, settings):
    config = settings.DATABASES["default"]
    url = f"postgres://{config['USER']}@{config['HOST']}:{config['PORT'] or 5432}/vani_no_such_database"
    assert_short_error(run_sh(run_env(tmp_path, DATABASE_URL=url)), "vani_no_such_database", "does not exist")


def test_a_port_in_use_is_named(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_sh(run_env(tmp_path, PORT=str(port)))
    assert_short_error(result, f"PORT {port} is already in use")


def test_the_env_file_is_created_then_follows_the_shell(tmp_path):
    path = tmp_path / ".env"
    assert "created" in ensure(path=path, environ={"PORT": "8011"})
    first = read_values(path.read_text())
    assert len(first["CAL_COM_WEBHOOK_SECRET"]) >= 32 and first["PORT"] == "8011"
    assert "PUBLIC_BASE_URL" in path.read_text()  # the hint, commented out

    said = ensure(path=path, environ={"PORT": "8012", "CAL_COM_WEBHOOK_SECRET": "whsec_from_shell"})
    assert "PORT" in said and "CAL_COM_WEBHOOK_SECRET" in said
    second = read_values(path.read_text())
    assert second["PORT"] == "8012" and second["CAL_COM_WEBHOOK_SECRET"] == "whsec_from_shell"
    assert ensure(path=path, environ={}) == "config: .env"  # nothing to change
    assert bind_address(path=path, environ={}) == "127.0.0.1:8012"


def sqlite_rows(path: Path, query: str) -> list[tuple]:
    with sqlite3.connect(path) as connection:
        return connection.execute(query).fetchall()


def test_make_run_then_the_story_from_another_shell(tmp_path):
    """`CAL_COM_WEBHOOK_SECRET=… PORT=… make run`, then `send_test_webhook --story` in a shell
    that sets neither: it posts, signed, to the server's port, and the story ends completed."""
    env = run_env(tmp_path, CAL_COM_WEBHOOK_SECRET="whsec_first_hour_secret")
    port = env["PORT"]
    server = subprocess.Popen(
        ["bash", "scripts/run.sh"],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # runserver's reloader child goes with it
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while True:
            line = server.stdout.readline()
            if line:
                lines.append(line)
            if any(BANNER in seen for seen in lines) and any("Quit the server" in seen for seen in lines):
                break
            assert server.poll() is None and time.monotonic() < deadline, "".join(lines)
        assert requests.get(f"http://127.0.0.1:{port}/readyz", timeout=10).status_code == 200
        # The banner is on the first screen: installer noise does not push it away.
        first_screen = lines[:24]
        assert any(BANNER in line for line in first_screen), "".join(lines)
        assert "Traceback" not in "".join(lines)
        banner = "".join(lines)
        assert f"http://127.0.0.1:{port}/api/webhooks/cal-com" in banner
        assert "signing secret: configured" in banner and "migrations applied" in banner

        # Another shell: no PORT, no secret; the same .env.
        tool_env = {key: value for key, value in env.items() if key not in ("PORT", "CAL_COM_WEBHOOK_SECRET")}
        story = subprocess.run(
            [sys.executable, "manage.py", "send_test_webhook", "--story", "--uid", "firstHourStory1"],
            cwd=PROJECT_DIR,
            env=tool_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert story.returncode == 0, story.stdout + story.stderr
        assert story.stdout.count(", signed)") == 5 and "UNSIGNED" not in story.stdout
        assert f"127.0.0.1:{port}" in story.stdout
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)

    database = tmp_path / "db.sqlite3"
    assert sqlite_rows(database, "SELECT status, payment_status, payment_amount FROM meetings") == [
        ("completed", "paid", 15000)
    ]
    events = sqlite_rows(database, "SELECT trigger_event, status FROM webhook_events ORDER BY id")
    assert events == [
        ("BOOKING_CREATED", "processed"),
        ("BOOKING_PAID", "processed"),
        ("MEETING_ENDED", "processed"),
        ("BOOKING_NO_SHOW_UPDATED", "processed"),
        ("BOOKING_NO_SHOW_UPDATED", "processed"),
    ]
    statuses = sqlite_rows(database, "SELECT to_status FROM meetings_meetingstatuschange ORDER BY id")
    assert [row[0] for row in statuses][-3:] == ["completed", "no_show", "completed"]
    # The payment HIT at least (a completed HIT may wait for a grace period).
    assert sqlite_rows(
        database, "SELECT kind FROM notifications_notification WHERE kind = 'payment_received'"
    )


def test_readyz_and_the_webhook_name_missing_migrations(tmp_path):
    with live_gunicorn(database_url=f"sqlite:///{tmp_path / 'empty.sqlite3'}", DJANGO_DEBUG="1") as base:
        ready = requests.get(f"{base}/readyz", timeout=10)
        delivery = requests.post(
            f"{base}/api/webhooks/cal-com",
            data=b"{}",
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
    assert ready.status_code == 503 and ready.headers["Content-Type"] == "application/json"
    assert ready.json()["database"] == "migrations not applied"
    assert delivery.status_code == 503 and "migrations not applied" in delivery.json()["error"]
