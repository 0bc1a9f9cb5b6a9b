"""Fixtures the webhook pipeline's tests share."""

from __future__ import annotations

import pytest


@pytest.fixture
def database_tasks(settings):
    """The production task backend (django-tasks-db): enqueued tasks wait for a worker.

    A delivery's drain task is due at once, so that a worker run right after it finds it, and
    a drain does not linger for more (the worker runs until idle: it would only wait).
    """
    settings.TASKS_BACKEND = "django_tasks_db.DatabaseBackend"
    settings.TASKS = {"default": {"BACKEND": settings.TASKS_BACKEND}}
    settings.WEBHOOK_DRAIN_DELAY_SECONDS = 0
    settings.WEBHOOK_DRAIN_LINGER_SECONDS = 0
