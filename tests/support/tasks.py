"""Running the production task backend (django-tasks-db) inside the test process."""

from __future__ import annotations

from django_tasks_db.management.commands.db_worker import Worker


def run_worker_until_idle() -> None:
    """The real db_worker loop, in this process, until no task is ready."""
    Worker(
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="test-worker",
        excluded_queue_names=[],
    ).run()
