"""Enqueueing a task for several due times at once (django-tasks-db: one INSERT)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from common.tasks import enqueue_at
from webhooks.draining import drain_webhook_events

# Everything but what differs between two rows by nature: their ids, due and enqueue times.
SAME_FIELDS = [
    f.name for f in DBTaskResult._meta.concrete_fields if f.name not in {"id", "run_after", "enqueued_at"}
]


@pytest.fixture
def database_tasks(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


@pytest.mark.django_db
def test_several_due_times_are_one_insert_of_the_rows_enqueue_writes(database_tasks):
    now = timezone.now()
    drain_webhook_events.using(run_after=now).enqueue()
    one_by_one = DBTaskResult.objects.get()
    due = [now + timedelta(seconds=s) for s in (1, 2, 3)]

    with CaptureQueriesContext(connection) as queries:
        enqueue_at(task=drain_webhook_events, run_afters=due)

    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["INSERT"]
    chained = list(DBTaskResult.objects.exclude(pk=one_by_one.pk).order_by("run_after"))
    assert [row.run_after for row in chained] == due
    expected = {name: getattr(one_by_one, name) for name in SAME_FIELDS}
    assert [{name: getattr(row, name) for name in SAME_FIELDS} for row in chained] == [expected] * 3
    assert len({row.pk for row in chained}) == 3
    # A worker runs them as it runs any enqueued task.
    result = chained[0].task_result
    assert result.task.func is drain_webhook_events.func and result.args == [] and result.kwargs == {}


@pytest.mark.django_db
def test_one_due_time_goes_through_enqueue(database_tasks):
    due = timezone.now() + timedelta(seconds=5)
    enqueue_at(task=drain_webhook_events, run_afters=[due])
    assert DBTaskResult.objects.get().run_after == due
