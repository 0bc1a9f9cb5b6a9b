"""Shared fixtures: signed deliveries through the real endpoint, database-kind markers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from django.db import connection

from calcom.samples import PAYLOADS_DIR
from calcom.signatures import sign_body

WEBHOOK_URL = "/api/webhooks/cal-com"
TEST_SECRET = "whsec_test_secret_for_the_suite"


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            if os.environ.get("VANI_REQUIRE_POSTGRES"):
                raise pytest.UsageError("VANI_REQUIRE_POSTGRES is set but DATABASE_URL is not PostgreSQL")
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)"))


def compact(obj) -> bytes:
    """Bytes as Cal.com's JSON.stringify emits them: compact, raw UTF-8."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def load_payload(name: str) -> dict:
    return json.loads((PAYLOADS_DIR / f"{name}.json").read_text(encoding="utf-8"))


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


# What a staff member using the API day to day is granted (the API checks model permissions,
# like the admin); reprocessing is left out so tests can show it is needed.
STAFF_API_PERMISSIONS = (
    "view_meeting", "add_meeting", "change_meeting", "view_target", "add_target",
    "view_webhookevent",
)


def grant(user, *codenames: str):
    """The user, reloaded (fresh permission cache), with these permissions added."""
    from django.contrib.auth.models import Permission

    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return type(user).objects.get(pk=user.pk)


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

    def _deliver(body, *, secret: str | None = webhook_secret, signature: str | None = None,
                 content_type: str = "application/json", path: str = WEBHOOK_URL, **headers):
        raw = body if isinstance(body, bytes) else compact(body)
        if signature is None and secret is not None:
            signature = sign_body(body=raw, secret=secret)
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
        if signature is not None:
            extra["HTTP_X_CAL_SIGNATURE_256"] = signature
        return client.generic("POST", path, raw, content_type=content_type, **extra)

    return _deliver
from tests.conftest_calcom import *  # noqa: F401,F403  (calcom_server, calcom_settings, calcom_unreachable_url)
