"""Writing model rows with one hand-written statement where the ORM's compilation is the cost.

Both helpers take table and column names from the model's metadata and every value through
the field's own `get_db_prep_save`, so a row is written as `save()` or `bulk_update()` would
write it; only the per-call SQL compilation is skipped (docs/decisions/0018-hand-written-row-writes.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from django.db import connections, models


def insert_row(*, obj: models.Model, using: str = "default") -> models.Model:
    """INSERT this unsaved instance (its defaults already applied by `__init__`) and set its pk.

    One autocommit statement outside a transaction, like `save()` of a model without parents;
    database errors arrive as Django's (an `IntegrityError` for a unique index). No signals are
    sent: only for models that have no receivers.
    """
    connection = connections[using]
    sql, fields, returns_pk = _insert_statement(type(obj), using)
    params = [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if returns_pk:
            pk = cursor.fetchone()[0]
        else:
            meta: Any = obj._meta
            pk = connection.ops.last_insert_id(cursor, meta.db_table, meta.pk.column)
    obj.pk = pk
    obj._state.adding = False
    obj._state.db = using
    return obj


@lru_cache(maxsize=32)
def _insert_statement(model: type[models.Model], using: str) -> tuple[str, tuple[Any, ...], bool]:
    """The INSERT of every concrete column but the auto primary key (built once per model), and
    whether it returns the new primary key."""
    connection = connections[using]
    qn = connection.ops.quote_name
    meta: Any = model._meta
    fields = tuple(field for field in meta.local_concrete_fields if field is not meta.auto_field)
    sql = (
        f"INSERT INTO {qn(meta.db_table)} ({', '.join(qn(field.column) for field in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))})"
    )
    returns_pk = connection.features.can_return_columns_from_insert
    if returns_pk:
        sql += f" RETURNING {qn(meta.pk.column)}"
    return sql, fields, returns_pk


def update_rows(*, model: Any, objects: Sequence, fields: Sequence[str], using: str = "default") -> None:
    """Write these fields of these rows in one statement (UPDATE … FROM VALUES on PostgreSQL).

    What `bulk_update` does, without building a CASE expression per row and field, whose
    compilation costs more CPU than the rows' processing.
    """
    if not objects:
        return
    connection = connections[using]
    qn = connection.ops.quote_name
    pk = model._meta.pk
    model_fields = [pk, *(model._meta.get_field(name) for name in fields)]
    rows = [
        [field.get_db_prep_save(getattr(obj, field.attname), connection) for field in model_fields]
        for obj in objects
    ]
    table = qn(model._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            sets = ", ".join(f"{qn(field.column)} = %s" for field in model_fields[1:])
            cursor.executemany(
                f"UPDATE {table} SET {sets} WHERE {qn(pk.column)} = %s", [[*row[1:], row[0]] for row in rows]
            )
            return
        # Typed placeholders: a column of NULLs would otherwise be taken for text.
        row_sql = "(" + ", ".join(f"%s::{field.db_type(connection)}" for field in model_fields) + ")"
        names = [f"c{index}" for index in range(len(model_fields))]
        sets = ", ".join(
            f"{qn(field.column)} = v.{name}" for field, name in zip(model_fields[1:], names[1:], strict=True)
        )
        cursor.execute(
            f"UPDATE {table} SET {sets} FROM (VALUES {', '.join([row_sql] * len(rows))}) "
            f"AS v({', '.join(names)}) WHERE {table}.{qn(pk.column)} = v.c0",
            [value for row in rows for value in row],
        )
