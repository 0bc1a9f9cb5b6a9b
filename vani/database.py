"""Bounded database waits in web processes.

psycopg2 waits inside libpq for as long as the server takes to answer. A database that accepts
TCP but stops answering (a hung host, a stalled route or proxy) would hold a gunicorn worker
until gunicorn kills it, and Cal.com would get no answer at all; the kernel still acknowledges
every packet, so neither TCP keepalives nor tcp_user_timeout notice. Web processes therefore
run psycopg2 with a wait callback (`install_wait_callback`, called by vani/wsgi.py) that polls
the socket against a deadline:

- a request waits on the database DB_REQUEST_TIMEOUT seconds at most, in total
  (`DatabaseDeadlineMiddleware`); a wait outside a request (Django's health check of a
  persistent connection) as long;
- a connect at most DB_CONNECT_TIMEOUT seconds (libpq ignores connect_timeout once psycopg2
  connects asynchronously, which the callback makes it do).

Past the deadline the callback raises OperationalError and psycopg2 closes the connection (its
protocol state is unknown), so it is never reused: the next request connects afresh.
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable
from contextvars import ContextVar

from django.conf import settings
from django.http import HttpRequest, HttpResponse

_request_deadline: ContextVar[float | None] = ContextVar("vani_db_deadline", default=None)


def install_wait_callback() -> None:
    """Bound every database wait of this process (PostgreSQL only; SQLite is a local file)."""
    if not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return
    import psycopg2.extensions

    psycopg2.extensions.set_wait_callback(_wait)


def _wait(conn) -> None:
    import psycopg2
    import psycopg2.extensions as ext

    now = time.monotonic()
    deadline = _request_deadline.get() or now + settings.DB_REQUEST_TIMEOUT
    connecting = conn.status == ext.STATUS_SETUP
    if connecting:
        deadline = min(deadline, now + settings.DB_CONNECT_TIMEOUT)
    while True:
        state = conn.poll()
        if state == ext.POLL_OK:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            what = "connect" if connecting else "answer"
            raise psycopg2.OperationalError(f"the database did not {what} in time")
        poller = select.poll()
        poller.register(conn.fileno(), select.POLLIN if state == ext.POLL_READ else select.POLLOUT)
        poller.poll(remaining * 1000)


class DatabaseDeadlineMiddleware:
    """Give each request DB_REQUEST_TIMEOUT seconds of database waits in total."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _request_deadline.set(time.monotonic() + settings.DB_REQUEST_TIMEOUT)
        try:
            return self.get_response(request)
        finally:
            _request_deadline.reset(token)
