"""Which kind of task backend runs the project's background work, and enqueueing in bulk."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.conf import settings
from django_tasks.base import Task
from django_tasks.signals import task_enqueued


def tasks_run_inline() -> bool:
    """Whether `enqueue` runs a task at once, in the caller (django-tasks' ImmediateBackend: the
    embedded default), rather than leaving it to a worker."""
    return settings.TASKS_BACKEND.endswith("ImmediateBackend")


def enqueue_at(*, task: Task, run_afters: Sequence[datetime]) -> None:
    """Enqueue `task` (one that takes no arguments) once for each due time in `run_afters`.

    With django-tasks-db, several due times are one multi-row INSERT of the rows its `enqueue`
    would write one statement each (tests/common/test_tasks.py holds the two to the same rows);
    other backends, or a single due time, go through `enqueue`.
    """
    from django_tasks_db.backend import DatabaseBackend
    from django_tasks_db.models import DBTaskResult

    backend = task.get_backend()
    if len(run_afters) == 1 or not isinstance(backend, DatabaseBackend):
        for run_after in run_afters:
            task.using(run_after=run_after).enqueue()
        return
    backend.validate_task(task)
    rows = DBTaskResult.objects.bulk_create(
        [
            DBTaskResult(
                id=backend._get_id(),  # the backend's id function (the model's uuid4 unless set)
                args_kwargs={"args": [], "kwargs": {}},
                priority=task.priority,
                task_path=task.module_path,
                queue_name=task.queue_name,
                run_after=run_after,
                backend_name=backend.alias,
            )
            for run_after in run_afters
        ]
    )
    for row in rows:
        task_enqueued.send(type(backend), task_result=row.task_result)
