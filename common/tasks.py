"""Which kind of task backend runs the project's background work."""

from __future__ import annotations

from django.conf import settings


def tasks_run_inline() -> bool:
    """Whether `enqueue` runs a task at once, in the caller (django-tasks' ImmediateBackend: the
    embedded default), rather than leaving it to a worker."""
    return settings.TASKS_BACKEND.endswith("ImmediateBackend")
