"""Storage per event: what a stored webhook event costs on disk against its raw body.

Read right after seeding (bench/admin_pages.py), from PostgreSQL's own size functions:
heap = pg_relation_size (main fork), indexes = pg_indexes_size, TOAST (and the free-space and
visibility maps) = pg_total_relation_size − both. The baseline is the raw body bytes of the
same rows (SUM(body_size), the bytes Cal.com sent): a ratio ≤ 1.0 means an event costs no more
than its body, every column and index included.
"""

from __future__ import annotations

from django.db import connection

from webhooks.models import WebhookEvent


def measure_storage() -> dict:
    table = WebhookEvent._meta.db_table
    with connection.cursor() as cursor:
        if not connection.in_atomic_block:  # VACUUM cannot run in a transaction (tests)
            # Fresh statistics and visibility map first, as autovacuum would leave a bulk load.
            cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(table)}")
        cursor.execute(
            "SELECT pg_relation_size(%s), pg_indexes_size(%s), pg_total_relation_size(%s)",
            [table, table, table],
        )
        heap, indexes, total = cursor.fetchone()
        cursor.execute(
            "SELECT i.relname, pg_relation_size(i.oid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = %s::regclass ORDER BY 2 DESC",
            [table],
        )
        index_sizes = dict(cursor.fetchall())
        cursor.execute(
            f"SELECT COUNT(*), COALESCE(SUM(body_size), 0) FROM {connection.ops.quote_name(table)}"
        )
        events, body_bytes = cursor.fetchone()
    toast = total - heap - indexes
    per_event = lambda size: size / events if events else 0.0  # noqa: E731
    return {
        "events": events,
        "body_bytes": body_bytes,
        "heap_bytes": heap,
        "toast_bytes": toast,
        "index_bytes": indexes,
        "total_bytes": total,
        "indexes": index_sizes,
        "per_event": {
            "body": per_event(body_bytes),
            "heap": per_event(heap),
            "toast": per_event(toast),
            "indexes": per_event(indexes),
            "total": per_event(total),
        },
        "ratio_to_body": total / body_bytes if body_bytes else 0.0,
    }
