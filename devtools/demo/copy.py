"""Writing the demo rows fast: COPY on PostgreSQL, executemany elsewhere, in batches with
explicit ids, optionally in other processes (each with its own connection) while the next
batch is generated.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import queue
import traceback
from datetime import UTC

from django.db import connection, connections, models, transaction
from django.db.models import Max

from devtools.demo.catalogue import HEADERS_SIGNED, HEADERS_UNSIGNED


def _copy_escape(text: str) -> str:
    """Backslash, tab, newline and CR escaped for COPY text (most values have none: check first)."""
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def _copy_plain(value) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return _copy_escape(value)
    return str(value)


def _copy_binary(value) -> str:
    return "\\N" if value is None else "\\\\x" + bytes(value).hex()


def _copy_json(value) -> str:
    if value is None:
        return "\\N"
    constant = _CONSTANT_JSON.get(id(value))
    if constant is not None and constant[0] is value:
        return constant[1]
    return _copy_escape(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def _copy_bool(value) -> str:
    return "\\N" if value is None else ("t" if value else "f")


def _copy_datetime(value) -> str:
    return "\\N" if value is None else value.isoformat()


# The same headers go on every event: encode them once.
_CONSTANT_JSON = {
    id(headers): (headers, _copy_escape(json.dumps(headers, separators=(",", ":"))))
    for headers in (HEADERS_SIGNED, HEADERS_UNSIGNED)
}

# Values in PostgreSQL's COPY text format, by field kind.
_COPY_ENCODERS = {
    "plain": _copy_plain,
    "binary": _copy_binary,
    "json": _copy_json,
    "bool": _copy_bool,
    "datetime": _copy_datetime,
}


def _sqlite_value(value, kind: str):
    """One value as Django stores it on SQLite (UTC datetimes as naive text, JSON as text)."""
    if value is None:
        return None
    if kind == "datetime":
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
    if kind == "json":
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if kind == "binary":
        return bytes(value)
    return value


def _field_kind(model_field: models.Field) -> str:
    internal = model_field.get_internal_type()
    return {
        "BinaryField": "binary",
        "JSONField": "json",
        "BooleanField": "bool",
        "DateTimeField": "datetime",
    }.get(internal, "plain")


class TableWriter:
    """Buffers rows of one table (dicts of attname → value) and writes them in one statement.

    Columns a row leaves out get the model field's default, so fields added later still work.
    """

    def __init__(self, model: type[models.Model]):
        self.model = model
        self.fields = list(model._meta.concrete_fields)
        self.table = model._meta.db_table
        self.kinds = [_field_kind(f) for f in self.fields]
        self.defaults = [(f.attname, f.get_default()) for f in self.fields]
        self.rows: list[tuple] = []
        self.written = 0
        start = model.objects.aggregate(top=Max("pk"))["top"] or 0
        self.next_id = start + 1

    def allocate_id(self) -> int:
        allocated = self.next_id
        self.next_id += 1
        return allocated

    def add(self, values: dict) -> None:
        self.rows.append(values)

    def copy_text(self, rows: list[dict]) -> str:
        """Rows as COPY text. Rows built by the same code have the same keys: for each key set,
        a line template with the other columns' defaults baked in is made once."""
        plans: dict[tuple, tuple[str, list]] = {}
        lines = []
        for row in rows:
            keys = tuple(row)
            plan = plans.get(keys)
            if plan is None:
                plan = plans[keys] = self._line_plan(keys)
            template, picks = plan
            values = list(row.values())
            lines.append(template % tuple([encode(values[index]) for index, encode in picks]))
        lines.append("")
        return "\n".join(lines)

    def _line_plan(self, keys: tuple) -> tuple[str, list]:
        unknown = set(keys) - {name for name, _ in self.defaults}
        if unknown:
            raise ValueError(f"{self.table} has no columns {sorted(unknown)}")
        position = {name: index for index, name in enumerate(keys)}
        slots: list[str] = []
        picks: list = []  # (index in the row's values, encoder), in column order
        for (name, default), kind in zip(self.defaults, self.kinds, strict=True):
            encode = _COPY_ENCODERS[kind]
            if name in position:
                slots.append("%s")
                picks.append((position[name], encode))
            else:
                slots.append(encode(default).replace("%", "%%"))
        return "\t".join(slots), picks

    def sqlite_rows(self, rows: list[dict]) -> list[tuple]:
        kinds = self.kinds
        return [
            tuple(
                _sqlite_value(row.get(name, default), kind)
                for (name, default), kind in zip(self.defaults, kinds, strict=True)
            )
            for row in rows
        ]

    def take(self) -> list[dict]:
        """Hand over the buffered rows (to be written by `write`) and count them as written."""
        rows, self.rows = self.rows, []
        self.written += len(rows)
        return rows

    def flush(self) -> None:
        self.write(self.take())

    def write(self, rows: list[dict]) -> None:
        """Insert rows (safe from another thread: touches no buffer)."""
        if not rows:
            return
        columns = ", ".join(connection.ops.quote_name(f.column) for f in self.fields)
        table = connection.ops.quote_name(self.table)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.cursor.copy_expert(
                    f"COPY {table} ({columns}) FROM STDIN", io.StringIO(self.copy_text(rows))
                )
            else:
                placeholders = ", ".join(["%s"] * len(self.fields))
                cursor.executemany(
                    f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", self.sqlite_rows(rows)
                )


def table_rows(model: type[models.Model]) -> int:
    return model.objects.count()


def drop_secondary_indexes(tables) -> list[str]:
    """Drop the plain (non-primary, non-constraint) indexes and the foreign keys of these tables;
    return how to recreate them (indexes first, then the foreign keys, which are validated
    again in one pass each). PostgreSQL only; they are recreated even when seeding fails."""
    indexes: list[str] = []
    foreign_keys: list[str] = []
    with connection.cursor() as cursor:
        for model in tables:
            table = model._meta.db_table
            cursor.execute(
                """
                SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
                FROM pg_index i
                WHERE i.indrelid = %s::regclass AND NOT i.indisprimary
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
                """,
                [table],
            )
            for name, definition in cursor.fetchall():
                cursor.execute(f"DROP INDEX {name}")
                indexes.append(definition)
            # A foreign key is checked row by row (a trigger and a locking lookup per row);
            # adding it back checks all rows in one join.
            cursor.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = %s::regclass AND contype = 'f'",
                [table],
            )
            quoted = connection.ops.quote_name(table)
            for name, definition in cursor.fetchall():
                constraint = connection.ops.quote_name(name)
                cursor.execute(f"ALTER TABLE {quoted} DROP CONSTRAINT {constraint}")
                foreign_keys.append(f"ALTER TABLE {quoted} ADD CONSTRAINT {constraint} {definition}")
    return indexes + foreign_keys


def create_indexes(statements: list[str]) -> None:
    """Run what drop_secondary_indexes returned (CREATE INDEX, then ADD CONSTRAINT)."""
    if not statements:
        return
    with connection.cursor() as cursor:
        # Sorting in memory instead of in temporary files: index builds take half the time.
        cursor.execute("SET maintenance_work_mem TO '512MB'")
        for statement in statements:
            cursor.execute(statement)
        cursor.execute("RESET maintenance_work_mem")


def write_batch(batch: list[tuple[TableWriter, list[dict]]]) -> None:
    """One transaction per batch, parents first (meetings before their uids and events)."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Demo data: losing the last batch to a crash is fine; waiting for each flush is not.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        for writer, rows in batch:
            writer.write(rows)


def _process_worker(writers: tuple[TableWriter, ...], tasks, errors) -> None:
    """A writer process: batches of (writer index, rows), each in one transaction."""
    failed = False
    try:
        while (batch := tasks.get()) is not None:
            if failed:
                continue  # keep draining so the generating process never blocks
            try:
                write_batch([(writers[index], rows) for index, rows in batch])
            except BaseException:
                failed = True
                errors.put(traceback.format_exc())
    finally:
        connections.close_all()


class WriterProcesses:
    """Writes batches in `processes` forked processes, each with its own connection, while the
    next batch is generated: encoding rows as COPY text and PostgreSQL's work on them run on
    other cores than the generator (PostgreSQL only, outside a transaction).

    Batches are independent (a batch holds whole meetings with all their rows), so they may
    commit in any order; the first error is raised in the caller.
    """

    def __init__(self, writers: tuple[TableWriter, ...], processes: int):
        self.writers = writers
        context = multiprocessing.get_context("fork")
        # A forked child must not share this process's socket: close it, reopen lazily after.
        connections.close_all()
        self.tasks = context.Queue(maxsize=processes * 2)
        self.errors = context.Queue()
        self.processes = [
            context.Process(
                target=_process_worker, args=(writers, self.tasks, self.errors), name=f"seed-writer-{n}"
            )
            for n in range(processes)
        ]
        for process in self.processes:
            process.start()

    def _raise_error(self) -> None:
        try:
            message = self.errors.get_nowait()
        except queue.Empty:
            return
        raise RuntimeError(f"a seed writer process failed:\n{message}")

    def submit(self, batch: list[tuple[TableWriter, list[dict]]]) -> None:
        self._raise_error()
        index = {id(writer): n for n, writer in enumerate(self.writers)}
        self.tasks.put([(index[id(writer)], rows) for writer, rows in batch if rows])

    def close(self) -> None:
        for _ in self.processes:
            self.tasks.put(None)
        for process in self.processes:
            process.join()
        self._raise_error()
        crashed = [p.name for p in self.processes if p.exitcode != 0]
        if crashed:
            raise RuntimeError(f"seed writer processes exited abnormally: {crashed}")
