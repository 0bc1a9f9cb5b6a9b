"""Deliveries framed with `Transfer-Encoding: chunked` (no Content-Length), under a real gunicorn.

Django reads CONTENT_LENGTH bytes of the body; without the header it read nothing, so a signed
chunked delivery was refused 401 "does not match" and stored with body_size 0.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
import requests

from calcom.signatures import sign_body
from tests.support.bodies import fresh_raw_body as sample_body
from tests.support.delivery import TEST_SECRET
from tests.support.delivery import WEBHOOK_URL as WEBHOOK
from tests.support.live import REQUEST_TIMEOUT, live_gunicorn, migrate

MAX_BODY = 4096


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory):
    """gunicorn on a migrated SQLite file of its own (the framing is the server's business,
    whatever the database), with a small body limit."""
    database = tmp_path_factory.mktemp("chunked") / "db.sqlite3"
    database_url = f"sqlite:///{database}"
    migrate(database_url=database_url)
    with live_gunicorn(database_url=database_url, WEBHOOK_MAX_BODY_BYTES=str(MAX_BODY)) as base:
        yield base, database


def in_chunks(body: bytes, size: int = 700) -> Iterator[bytes]:
    """A generator: requests sends it with Transfer-Encoding: chunked and no Content-Length."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def post_chunked(base: str, body: bytes, *, signature: str | None) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if signature:
        headers["X-Cal-Signature-256"] = signature
    response = requests.post(base + WEBHOOK, data=in_chunks(body), headers=headers, timeout=REQUEST_TIMEOUT)
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in response.request.headers
    return response


def stored(database, event_id: int) -> tuple:
    with sqlite3.connect(database) as connection:
        return connection.execute(
            "SELECT status, signature_result, body_size, raw_body, status_reason "
            "FROM webhook_events WHERE id = ?",
            (event_id,),
        ).fetchone()


def test_a_signed_chunked_delivery_is_read_whole_and_accepted(gunicorn):
    base, database = gunicorn
    body = sample_body()
    assert 700 < len(body) <= MAX_BODY
    response = post_chunked(base, body, signature=sign_body(body=body, secret=TEST_SECRET))
    assert response.status_code == 200, response.text
    status, signature, size, raw, _ = stored(database, response.json()["event_id"])
    assert (status, signature, size, bytes(raw)) == ("received", "valid", len(body), body)


def test_a_chunked_body_over_the_limit_is_413(gunicorn):
    base, database = gunicorn
    body = b'{"triggerEvent":"BOOKING_CREATED","junk":"' + b"x" * (2 * MAX_BODY) + b'"}'
    response = post_chunked(base, body, signature=sign_body(body=body, secret=TEST_SECRET))
    assert response.status_code == 413, response.text
    status, _, size, raw, reason = stored(database, response.json()["event_id"])
    assert (status, size, bytes(raw)) == ("rejected", MAX_BODY + 1, b"")
    assert f"over the {MAX_BODY}-byte limit" in reason
