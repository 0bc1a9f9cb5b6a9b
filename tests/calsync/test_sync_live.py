"""The sync as operators run it: `manage.py sync_calcom_bookings` in its own process.

The end-to-end story: a live web server receives a booking story's deliveries, goes down for
part of it (those deliveries are lost), and the sync run afterwards against the fake Cal.com
(holding the true state of every booking) leaves the meetings equal to what uninterrupted
deliveries produced on a second database. And every failure ends with one line, no traceback.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from tests.support.bodies import booking_body, compact, load_payload, meeting_ended_body, no_show_body
from tests.support.booking_api import api_booking
from tests.support.live import PROJECT_DIR, live_gunicorn, migrate, post_signed, server_env

INLINE = "django_tasks.backends.immediate.ImmediateBackend"
CANCEL_REASON = load_payload("BOOKING_CANCELLED")["payload"]["cancellationReason"]
RESCHEDULED_VIDEO = load_payload("BOOKING_RESCHEDULED")["payload"]["metadata"]["videoCallUrl"]
EMAILS = ["priya.shah@example.org", "tom.becker@example.org"]
COMPARED = (
    "cal_event_id, cal_booking_id, status, cal_status, start_time, end_time, title, attendee_name, "
    "attendee_email, organizer_name, organizer_email, location, video_url, cancellation_reason, "
    "no_show_emails"
)


def sync_command(*args: str, database_url: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "sync_calcom_bookings", *args],
        cwd=PROJECT_DIR,
        env=server_env(
            DATABASE_URL=database_url,
            CAL_COM_API_BACKOFF_SECONDS="0.001",
            CAL_COM_API_MAX_RETRIES="1",
            **env,
        ),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def _story(now):
    """(deliveries in order as (body, lost in the outage?), true bookings in Cal.com)."""
    h = lambda hours: now + timedelta(hours=hours)  # noqa: E731
    deliveries, bookings = [], []
    # M1 rescheduled to M2 during the outage; M2 then took place (MEETING_ENDED lost too).
    deliveries.append(
        (booking_body("BOOKING_CREATED", uid="M1", booking_id=101, created=h(-72), start=h(-24)), False)
    )
    deliveries.append(
        (
            booking_body(
                "BOOKING_RESCHEDULED",
                uid="M2",
                booking_id=102,
                created=h(-48),
                start=h(-4),
                reschedule_uid="M1",
            ),
            True,
        )
    )
    deliveries.append((meeting_ended_body(uid="M2", booking_id=102, start=h(-4)), True))
    bookings.append(
        api_booking(
            uid="M1",
            booking_id=101,
            start=h(-24),
            created=h(-72),
            updated=h(-48),
            status="cancelled",
            rescheduled_to="M2",
        )
    )
    bookings.append(
        api_booking(
            uid="M2",
            booking_id=102,
            start=h(-4),
            created=h(-48),
            rescheduled_from="M1",
            meeting_url=RESCHEDULED_VIDEO,
        )
    )
    # N1 booked during the outage: never delivered.
    deliveries.append(
        (booking_body("BOOKING_CREATED", uid="N1", booking_id=201, created=h(-40), start=h(30)), True)
    )
    bookings.append(api_booking(uid="N1", booking_id=201, start=h(30), created=h(-40)))
    # K1 cancelled during the outage.
    deliveries.append(
        (booking_body("BOOKING_CREATED", uid="K1", booking_id=301, created=h(-70), start=h(20)), False)
    )
    deliveries.append(
        (booking_body("BOOKING_CANCELLED", uid="K1", booking_id=301, created=h(-30), start=h(20)), True)
    )
    bookings.append(
        api_booking(
            uid="K1",
            booking_id=301,
            start=h(20),
            created=h(-70),
            updated=h(-30),
            status="cancelled",
            cancellation_reason=CANCEL_REASON,
        )
    )
    # Q1 took place with nobody there; both marks lost.
    deliveries.append(
        (booking_body("BOOKING_CREATED", uid="Q1", booking_id=401, created=h(-70), start=h(-6)), False)
    )
    deliveries.append((meeting_ended_body(uid="Q1", booking_id=401, start=h(-6)), True))
    deliveries.append((no_show_body(uid="Q1", created=h(-5), marks=dict.fromkeys(EMAILS, True)), True))
    bookings.append(
        api_booking(uid="Q1", booking_id=401, start=h(-6), created=h(-70), updated=h(-5), absent=True)
    )
    # P1 requested before the outage, confirmed during it.
    deliveries.append(
        (booking_body("BOOKING_REQUESTED", uid="P1", booking_id=501, created=h(-60), start=h(40)), False)
    )
    deliveries.append(
        (booking_body("BOOKING_CREATED", uid="P1", booking_id=501, created=h(-20), start=h(40)), True)
    )
    bookings.append(api_booking(uid="P1", booking_id=501, start=h(40), created=h(-60), updated=h(-20)))
    # C1 booked after the outage: delivered.
    deliveries.append(
        (booking_body("BOOKING_CREATED", uid="C1", booking_id=601, created=h(-1), start=h(50)), False)
    )
    bookings.append(api_booking(uid="C1", booking_id=601, start=h(50), created=h(-1)))
    return deliveries, bookings


def _meetings(database):
    with sqlite3.connect(database) as connection:
        rows = connection.execute(f"SELECT id, {COMPARED} FROM meetings ORDER BY cal_event_id").fetchall()
        result = {}
        for meeting_id, *values in rows:
            uids = connection.execute(
                "SELECT uid FROM meetings_bookinguid WHERE meeting_id = ? ORDER BY uid", (meeting_id,)
            ).fetchall()
            hits = connection.execute(
                "SELECT DISTINCT kind FROM notifications_notification WHERE meeting_id = ? ORDER BY kind",
                (meeting_id,),
            ).fetchall()
            result[values[0]] = (*values, [u for (u,) in uids], [k for (k,) in hits])
        return result


@pytest.fixture
def databases(tmp_path):
    paths = {name: tmp_path / f"{name}.sqlite3" for name in ("uninterrupted", "outage")}
    for path in paths.values():
        migrate(database_url=f"sqlite:///{path}")
    return paths


def test_the_sync_after_an_outage_leaves_the_meetings_uninterrupted_deliveries_would_have(
    databases, calcom_server
):
    now = timezone.now().replace(microsecond=0)
    deliveries, bookings = _story(now)
    for booking in bookings:
        calcom_server.put_booking(booking)

    reference_url = f"sqlite:///{databases['uninterrupted']}"
    with live_gunicorn(database_url=reference_url, TASKS_BACKEND=INLINE) as base:
        for body, _lost in deliveries:
            assert post_signed(base, compact(body)).status_code == 200

    outage_url = f"sqlite:///{databases['outage']}"
    delivered_before = [body for body, lost in deliveries[:-1] if not lost]
    with live_gunicorn(database_url=outage_url, TASKS_BACKEND=INLINE) as base:
        for body in delivered_before:
            assert post_signed(base, compact(body)).status_code == 200
    for body, lost in deliveries:
        if lost:  # the server is down: Cal.com's attempts fail and are never repeated
            with pytest.raises(requests.ConnectionError):
                post_signed(base, compact(body))
    with live_gunicorn(database_url=outage_url, TASKS_BACKEND=INLINE) as base:
        assert post_signed(base, compact(deliveries[-1][0])).status_code == 200
    before_sync = _meetings(databases["outage"])
    assert before_sync != _meetings(databases["uninterrupted"])  # the outage left them wrong

    result = sync_command(
        database_url=outage_url, CAL_COM_API_URL=calcom_server.url, CAL_COM_API_KEY=calcom_server.api_key
    )

    assert result.returncode == 0, result.stderr
    assert (
        result.stdout.strip().splitlines()[-1]
        == "read 7 bookings, changed 4 meetings, created 1, unchanged 2"
    )
    healed, expected = _meetings(databases["outage"]), _meetings(databases["uninterrupted"])
    # A no-show the sync finds sends no "meeting completed" HIT; MEETING_ENDED delivered before
    # the marks did. Every other field and notification is the same.
    assert expected["Q1"][-1] == ["meeting_completed"] and healed["Q1"][-1] == []
    healed["Q1"] = expected["Q1"] = healed["Q1"][:-1]
    assert healed == expected

    again = sync_command(
        database_url=outage_url, CAL_COM_API_URL=calcom_server.url, CAL_COM_API_KEY=calcom_server.api_key
    )
    assert again.returncode == 0 and "changed 0 meetings, created 0" in again.stdout


@pytest.fixture(scope="module")
def migrated_url(tmp_path_factory):
    url = "sqlite:///" + str(tmp_path_factory.mktemp("sync-errors") / "db.sqlite3")
    migrate(database_url=url)
    return url


@pytest.mark.parametrize(
    ("case", "cause"),
    [
        ("bad key", "HTTP 401"),
        ("missing key", "CAL_COM_API_KEY is not set"),
        ("unreachable", "could not reach Cal.com"),
        ("5xx", "HTTP 500"),
        ("bad since", "--since 'soon'"),
    ],
)
def test_errors_end_with_one_line_naming_the_cause_and_no_traceback(
    migrated_url, calcom_server, calcom_unreachable_url, case, cause
):
    env = {"CAL_COM_API_URL": calcom_server.url, "CAL_COM_API_KEY": calcom_server.api_key}
    args: list[str] = []
    if case == "bad key":
        env["CAL_COM_API_KEY"] = "cal_live_wrong"
    elif case == "missing key":
        env["CAL_COM_API_KEY"] = ""
    elif case == "unreachable":
        env["CAL_COM_API_URL"] = calcom_unreachable_url
    elif case == "5xx":
        calcom_server.failing_status = 500
    else:
        args = ["--since", "soon"]

    result = sync_command(*args, database_url=migrated_url, **env)

    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and cause in lines[0] and len(lines[0]) < 400, result.stderr
    assert "Traceback" not in result.stderr
    assert "cal_live_wrong" not in result.stderr


def test_a_terminal_gets_a_progress_bar_and_every_repeats(migrated_url, calcom_server):
    import fcntl
    import os
    import pty
    import select
    import struct
    import termios
    import time

    now = timezone.now()
    for n in range(3):
        calcom_server.put_booking(
            api_booking(
                uid=f"T{n}", booking_id=n + 1, start=now + timedelta(days=1), created=now - timedelta(hours=1)
            )
        )
    env = server_env(
        DATABASE_URL=migrated_url, CAL_COM_API_URL=calcom_server.url, CAL_COM_API_KEY=calcom_server.api_key
    )
    leader, follower = pty.openpty()
    # A terminal 120 columns wide (a fresh pty has none, and tqdm draws nothing in 0 columns).
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "manage.py", "sync_calcom_bookings", "--every", "0.2", "--since", "1d"],
        cwd=PROJECT_DIR,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=follower,
        text=True,
    )
    os.close(follower)
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while sum(line.startswith("read ") for line in lines) < 2 and time.monotonic() < deadline:
            lines.append(process.stdout.readline())
        terminal = b""
        while b"3/3" not in terminal and time.monotonic() < deadline:  # what the terminal showed
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                terminal += os.read(leader, 65536)
    finally:
        process.terminate()
        process.wait(timeout=10)
        os.close(leader)
    summaries = [line.strip() for line in lines if line.startswith("read ")]
    assert summaries[:2] == [
        "read 3 bookings, changed 0 meetings, created 3, unchanged 0",
        "read 3 bookings, changed 0 meetings, created 0, unchanged 3",
    ]
    assert b"3/3" in terminal and b"booking" in terminal  # tqdm's bar on the terminal
