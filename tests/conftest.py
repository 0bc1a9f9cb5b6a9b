"""Fixtures every test folder shares: signed deliveries through the real endpoint, staff users,
the fake Cal.com API, a blank cache and drain state per test, database-kind markers.

Plain helpers (bodies, fake servers, live processes) are in tests/support/.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from calcom.signatures import sign_body
from tests.support.bodies import compact
from tests.support.delivery import TEST_SECRET, WEBHOOK_URL
from tests.support.fake_calcom import FakeCalCom
from tests.support.live import free_port
from tests.support.users import STAFF_API_PERMISSIONS, grant


def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            if os.environ.get("VANI_REQUIRE_POSTGRES"):
                raise pytest.UsageError("VANI_REQUIRE_POSTGRES is set but DATABASE_URL is not PostgreSQL")
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)"))


@pytest.fixture(scope="session")
def django_db_modify_db_settings(tmp_path_factory) -> None:
    """On SQLite, test against a file in WAL mode, as the embedded default runs, rather than
    Django's in-memory test database: its shared cache locks whole tables and fails a reader
    beside a writer at once ("database table is locked") instead of honouring the busy timeout."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        database.setdefault("TEST", {})["NAME"] = str(tmp_path_factory.mktemp("sqlite") / "test.sqlite3")


@pytest.fixture(autouse=True)
def _no_drain_task_known(monkeypatch):
    """The process remembers its pending drain task (webhooks/draining.py); tests start blank."""
    from webhooks import draining

    monkeypatch.setattr(draining, "_pending", draining._PendingDrain())


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate-limit counters and API throttles live in the cache; no test inherits another's."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def webhook_secret(settings):
    settings.CAL_COM_WEBHOOK_SECRET = TEST_SECRET
    settings.CAL_COM_WEBHOOK_SECRET_PROD = ""
    return TEST_SECRET


@pytest.fixture
def staff_user(db, django_user_model):
    user = django_user_model.objects.create_user("staff", "staff@vani.example", is_staff=True)
    return grant(user, *STAFF_API_PERMISSIONS)


@pytest.fixture
def staff_client(staff_user):
    """A DRF client authenticated as an active staff user."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user=staff_user)
    return client


@pytest.fixture
def deliver_now(deliver, django_capture_on_commit_callbacks):
    """`deliver`, with the processing it enqueues on commit run before returning (for tests
    whose transaction never commits)."""

    def _deliver(body, **options):
        with django_capture_on_commit_callbacks(execute=True):
            return deliver(body, **options)

    return _deliver


@pytest.fixture
def deliver(client, webhook_secret):
    """POST a body (dict or raw bytes) to the real endpoint, signed like Cal.com signs it."""

    def _deliver(
        body,
        *,
        secret: str | None = webhook_secret,
        signature: str | None = None,
        content_type: str = "application/json",
        path: str = WEBHOOK_URL,
        **headers,
    ):
        raw = body if isinstance(body, bytes) else compact(body)
        if signature is None and secret is not None:
            signature = sign_body(body=raw, secret=secret)
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
        if signature is not None:
            extra["HTTP_X_CAL_SIGNATURE_256"] = signature
        return client.generic("POST", path, raw, content_type=content_type, **extra)

    return _deliver


@pytest.fixture
def calcom_server() -> Iterator[FakeCalCom]:
    """A fresh, started fake Cal.com API (webhooks and bookings) per test: empty state, empty
    request log."""
    server = FakeCalCom().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def calcom_settings(settings, calcom_server: FakeCalCom):
    """Django settings pointing the Cal.com client at `calcom_server` with its valid API key and
    near-zero retry backoff (so retry tests stay fast)."""
    settings.CAL_COM_API_URL = calcom_server.url
    settings.CAL_COM_API_KEY = calcom_server.api_key
    settings.CAL_COM_API_TIMEOUT = 5.0
    settings.CAL_COM_API_MAX_RETRIES = 3
    settings.CAL_COM_API_BACKOFF_SECONDS = 0.001
    return settings


@pytest.fixture
def calcom_unreachable_url() -> str:
    """The origin of a port nobody listens on (connection refused)."""
    return f"http://127.0.0.1:{free_port()}"
