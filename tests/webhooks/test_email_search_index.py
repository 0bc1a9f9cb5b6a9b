"""The e-mail search index (migration 0008): built and dropped online, and used by the search."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from webhooks.models import WebhookEvent
from webhooks.selectors import search_webhook_events


def _index_names() -> set[str]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, WebhookEvent._meta.db_table)
    return {name for name, info in constraints.items() if info["index"]}


def _migrate(target: tuple[str, str]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target])


@pytest.mark.django_db(transaction=True)
def test_the_migration_swaps_the_e_mail_index_both_ways():
    assert "wh_email_received_idx" in _index_names()
    assert "wh_attendee_email_idx" not in _index_names()
    try:
        _migrate(("webhooks", "0007_daily_event_counts"))
        assert "wh_attendee_email_idx" in _index_names()
        assert "wh_email_received_idx" not in _index_names()
    finally:
        _migrate(("webhooks", "0008_email_search_index"))
    assert "wh_email_received_idx" in _index_names()
    assert "wh_attendee_email_idx" not in _index_names()


@pytest.mark.django_db
def test_an_e_mail_search_is_answered_from_the_index_newest_first():
    if connection.vendor != "postgresql":
        pytest.skip("the plan is PostgreSQL's (SQLite does not infer the partial index's condition)")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
    plan = (
        search_webhook_events(queryset=WebhookEvent.objects.all(), term="Ana@Example.com")
        .order_by("-received_at", "-id")[:50]
        .explain()
    )
    assert "wh_email_received_idx" in plan  # its condition (not '') follows from the search
    assert "Sort" not in plan  # read in order off the index, however many events match
