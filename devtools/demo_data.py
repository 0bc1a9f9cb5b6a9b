"""Realistic demo data, fast: targets, meetings with reschedule chains, and webhook events.

Used by `manage.py seed_demo_data`, the tests, the benchmarks and demos. The same `seed` gives
the same data, shifted to end at the current hour. Bodies are compact Cal.com bodies of every trigger (the
envelope shape, and the flat MEETING_* shape), statuses follow a plausible production mix
(mostly processed; some ignored, duplicate, failed, dead, rejected; a few still waiting), and
meeting state, uids, status changes and processing attempts agree with the events.

Rows are written in batches with explicit ids: COPY on PostgreSQL (a million events in well
under a minute), executemany elsewhere. Run it on a quiet database (no deliveries arriving).
"""

from __future__ import annotations

import hashlib
import io
import json
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.contrib.auth import get_user_model
from django.core.management.color import no_style
from django.db import connection, models, transaction
from django.db.models import Max
from django.utils import timezone

from meetings.models import BookingUid, Meeting, MeetingStatusChange, Target

from webhooks.models import ProcessingAttempt, WebhookEvent

SPAN = timedelta(days=30)

FIRST_NAMES = (
    "Priya", "Tom", "Ana", "Lukas", "Mei", "Omar", "Sofia", "James", "Aisha", "Daniel", "Yuki",
    "Elena", "Kwame", "Ingrid", "Rahul", "Chloe", "Mateo", "Fatima", "Noah", "Hana",
)
LAST_NAMES = (
    "Shah", "Becker", "Silva", "Novak", "Chen", "Haddad", "Rossi", "Walker", "Okafor", "Kim",
    "Tanaka", "Petrova", "Mensah", "Larsen", "Gupta", "Martin", "Lopez", "Rahman", "Evans", "Sato",
)
COMPANIES = (
    ("Northwind", "northwind.example"), ("Acme Logistics", "acme-logistics.example"),
    ("Globex", "globex.example"), ("Initech", "initech.example"), ("Umbrella Health", "umbrella.example"),
    ("Hooli", "hooli.example"), ("Stark Retail", "stark-retail.example"), ("Wayne Foods", "waynefoods.example"),
    ("Tyrell Robotics", "tyrell.example"), ("Soylent Labs", "soylent.example"),
)
ORGANIZERS = (
    (4821, "Alex Rivera", "alex@rivera-consulting.com", "alexrivera"),
    (4822, "Jordan Lee", "jordan@rivera-consulting.com", "jordanlee"),
    (4823, "Sam Patel", "sam@rivera-consulting.com", "sampatel"),
)
EVENT_TYPES = (("30 Min Meeting", "30min", 30, 0), ("Discovery Call", "discovery", 45, 0),
               ("Paid Consultation", "paid-consultation", 60, 15000))
CALCOM_IPS = tuple(f"3.121.45.{n}" for n in range(10, 30))
PROBE_IPS = tuple(f"185.220.101.{n}" for n in range(1, 60))
CANCEL_REASONS = ("Conflict with another call", "No longer needed", "Budget freeze", "")

HEADERS_SIGNED = {
    "Content-Type": "application/json", "X-Cal-Signature-256": "***",
    "X-Cal-Webhook-Version": "2021-10-20", "User-Agent": "node", "Accept": "*/*",
    "Content-Length": "0", "Host": "vani.example.com",
}
HEADERS_UNSIGNED = {k: v for k, v in HEADERS_SIGNED.items() if k != "X-Cal-Signature-256"}

FAILURES = (
    ("OperationalError: could not obtain lock on row in relation \"meetings\"",
     "django/db/backends/utils.py", "psycopg2.errors.LockNotAvailable"),
    ("IntegrityError: duplicate key value violates unique constraint \"meetings_bookinguid_uid_key\"",
     "django/db/models/query.py", "psycopg2.errors.UniqueViolation"),
    ("DataError: value too long for type character varying(255)",
     "django/db/models/sql/compiler.py", "psycopg2.errors.StringDataRightTruncation"),
)


def _traceback(error: str, where: str, cause: str) -> str:
    return (
        "Traceback (most recent call last):\n"
        '  File "/srv/vani/webhooks/services.py", line 243, in process_event\n'
        "    outcome, reason = _apply(event=event)\n"
        '  File "/srv/vani/meetings/services.py", line 47, in apply_calcom_event\n'
        "    meeting, created = _lock_meeting(event=event, uids=uids, booking_ids=booking_ids)\n"
        f'  File "/srv/vani/.venv/lib/python3.11/site-packages/{where}", line 105, in execute\n'
        "    return self.cursor.execute(sql, params)\n"
        f"{cause}: {error.split(': ', 1)[1]}\n"
    )


# --- Body templates: compact JSON with %-placeholders, built once -------------------------------


def _template(body: dict) -> str:
    """Compact JSON text where "{{name}}" becomes %(name)s and "{{#name}}" a bare number/literal."""
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False).replace("%", "%%")
    while "{{" in text:
        start = text.index("{{")
        end = text.index("}}", start) + 2
        name = text[start + 2:end - 2]
        if name.startswith("#"):
            # A bare value (number, true/false): drop the surrounding quotes too.
            text = text[:start - 1] + f"%({name[1:]})s" + text[end + 1:]
        else:
            text = text[:start] + f"%({name})s" + text[end:]
    return text


_ORGANIZER = {"id": "{{#organizer_id}}", "name": "{{organizer_name}}", "email": "{{organizer_email}}",
              "username": "{{organizer_username}}", "timeZone": "America/New_York",
              "language": {"locale": "en"}, "timeFormat": "h:mma", "utcOffset": -240}
_ATTENDEE = {"email": "{{attendee_email}}", "name": "{{attendee_name}}", "firstName": "{{attendee_first}}",
             "lastName": "{{attendee_last}}", "timeZone": "Europe/London", "language": {"locale": "en"},
             "utcOffset": 60}
_RESPONSES = {"name": {"label": "your_name", "value": "{{attendee_name}}", "isHidden": False},
              "email": {"label": "email_address", "value": "{{attendee_email}}", "isHidden": False},
              "location": {"label": "location", "value": {"optionValue": "", "value": "integrations:daily"},
                           "isHidden": False}}


def _booking_payload(status: str, **extra) -> dict:
    payload = {
        "bookerUrl": "https://cal.com", "title": "{{title}}", "startTime": "{{start}}",
        "endTime": "{{end}}", "type": "{{event_slug}}", "description": "", "eventTypeId": "{{#event_type_id}}",
        "organizer": _ORGANIZER, "attendees": [_ATTENDEE], "responses": _RESPONSES,
        "location": "integrations:daily", "uid": "{{uid}}", "bookingId": "{{#booking_id}}",
        "iCalUID": "{{uid}}@Cal.com", "eventTitle": "{{event_title}}", "price": "{{#price}}",
        "currency": "usd", "length": "{{#length}}",
        "metadata": {"videoCallUrl": "https://app.cal.com/video/{{uid}}"}, "status": status,
    }
    payload.update(extra)
    return payload


def _envelope(trigger: str, payload: dict) -> str:
    return _template({"triggerEvent": trigger, "createdAt": "{{created}}", "payload": payload})


def _flat(trigger: str) -> str:
    return _template({
        "triggerEvent": trigger, "id": "{{#booking_id}}", "uid": "{{uid}}", "userId": "{{#organizer_id}}",
        "userPrimaryEmail": "{{organizer_email}}", "eventTypeId": "{{#event_type_id}}", "title": "{{title}}",
        "description": "", "responses": _RESPONSES, "startTime": "{{start}}", "endTime": "{{end}}",
        "location": "integrations:daily", "createdAt": "{{booked}}", "status": "ACCEPTED",
        "paid": False, "metadata": {}, "isRecorded": False, "iCalUID": "{{uid}}@Cal.com",
        "user": {"email": "{{organizer_email}}", "name": "{{organizer_name}}",
                 "timeZone": "America/New_York", "username": "{{organizer_username}}"},
        "attendees": [{"email": "{{attendee_email}}", "name": "{{attendee_name}}",
                       "timeZone": "Europe/London", "locale": "en", "bookingId": "{{#booking_id}}",
                       "noShow": False}],
        "payment": [], "references": [],
    })


TEMPLATES: dict[str, str] = {
    "BOOKING_CREATED": _envelope("BOOKING_CREATED", _booking_payload("ACCEPTED")),
    "BOOKING_REQUESTED": _envelope("BOOKING_REQUESTED", _booking_payload("PENDING", requiresConfirmation=True)),
    "BOOKING_RESCHEDULED": _envelope("BOOKING_RESCHEDULED", _booking_payload(
        "ACCEPTED", rescheduleUid="{{reschedule_uid}}", rescheduleId="{{#reschedule_id}}",
        rescheduledBy="{{attendee_email}}")),
    "BOOKING_CANCELLED": _envelope("BOOKING_CANCELLED", _booking_payload(
        "CANCELLED", cancellationReason="{{reason}}", cancelledBy="{{attendee_email}}")),
    "BOOKING_REJECTED": _envelope("BOOKING_REJECTED", _booking_payload(
        "REJECTED", rejectionReason="{{reason}}")),
    "BOOKING_PAYMENT_INITIATED": _envelope("BOOKING_PAYMENT_INITIATED", _booking_payload(
        "ACCEPTED", paymentId="{{#payment_id}}")),
    "BOOKING_PAID": _envelope("BOOKING_PAID", _booking_payload(
        "ACCEPTED", paymentId="{{#payment_id}}", paid=True)),
    "MEETING_STARTED": _flat("MEETING_STARTED"),
    "MEETING_ENDED": _flat("MEETING_ENDED"),
    "BOOKING_NO_SHOW_UPDATED": _envelope("BOOKING_NO_SHOW_UPDATED", {
        "message": "{{attendee_email}} marked as no-show",
        "attendees": [{"email": "{{attendee_email}}", "noShow": True}],
        "bookingUid": "{{uid}}", "bookingId": "{{#booking_id}}"}),
    "AFTER_GUESTS_CAL_VIDEO_NO_SHOW": _envelope("AFTER_GUESTS_CAL_VIDEO_NO_SHOW", {
        "title": "{{title}}", "bookingId": "{{#booking_id}}", "bookingUid": "{{uid}}",
        "startTime": "{{start}}", "endTime": "{{end}}",
        "attendees": [{"email": "{{attendee_email}}", "name": "{{attendee_name}}", "noShow": False}],
        "participants": [], "hostEmail": "{{organizer_email}}",
        "message": "Guests did not join the call"}),
    "RECORDING_READY": _envelope("RECORDING_READY", {
        "type": "{{title}}", "title": "{{title}}", "startTime": "{{start}}", "endTime": "{{end}}",
        "organizer": _ORGANIZER, "attendees": [_ATTENDEE], "uid": "{{uid}}",
        "downloadLink": "https://app.cal.com/api/video/recording?token={{uid}}"}),
    "RECORDING_TRANSCRIPTION_GENERATED": _envelope("RECORDING_TRANSCRIPTION_GENERATED", {
        "type": "{{title}}", "title": "{{title}}", "startTime": "{{start}}", "endTime": "{{end}}",
        "organizer": _ORGANIZER, "attendees": [_ATTENDEE], "uid": "{{uid}}",
        "downloadLinks": {"transcription": [
            {"format": "txt", "link": "https://daily-transcripts.example/cal/{{uid}}/t.txt"},
            {"format": "vtt", "link": "https://daily-transcripts.example/cal/{{uid}}/t.vtt"}],
            "recording": "https://app.cal.com/api/video/recording?token={{uid}}"}}),
    "PING": _envelope("PING", {
        "type": "Test", "title": "Test trigger event", "description": "", "startTime": "{{created}}",
        "endTime": "{{created}}", "attendees": [{"email": "jdoe@example.com", "name": "John Doe"}],
        "organizer": {"name": "Cal", "email": "no-reply@cal.com"}}),
    "FORM_SUBMITTED": _template({
        "email": "{{attendee_email}}", "triggerEvent": "FORM_SUBMITTED", "createdAt": "{{created}}",
        "payload": {"formId": "e4d2c6b8-1a3f-4b5c-9d7e-2f0a8c6b4e13", "formName": "Sales routing",
                    "teamId": 701, "responses": {"email": {"value": "{{attendee_email}}",
                                                           "response": "{{attendee_email}}"}}}}),
    "OOO_CREATED": _envelope("OOO_CREATED", {"oooEntry": {
        "id": "{{#booking_id}}", "start": "{{start}}", "end": "{{end}}", "notes": "Out of office",
        "reason": {"emoji": "🏝️", "reason": "ooo_reasons_vacation"},
        "user": {"id": "{{#organizer_id}}", "name": "{{organizer_name}}", "email": "{{organizer_email}}"}}}),
    "BOOKING_SEATS_CHANGED": _envelope("BOOKING_SEATS_CHANGED", {"uid": "{{uid}}", "seats": 3}),
}


def _iso(moment: datetime) -> str:
    """Cal.com's createdAt form: milliseconds and a Z."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _iso_seconds(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


# --- Writing rows fast --------------------------------------------------------------------------


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
    "plain": _copy_plain, "binary": _copy_binary, "json": _copy_json, "bool": _copy_bool,
    "datetime": _copy_datetime,
}


def _sqlite_value(value, kind: str):
    """One value as Django stores it on SQLite (UTC datetimes as naive text, JSON as text)."""
    if value is None:
        return None
    if kind == "datetime":
        return value.astimezone(dt_timezone.utc).replace(tzinfo=None).isoformat(" ")
    if kind == "json":
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if kind == "binary":
        return bytes(value)
    return value


def _field_kind(model_field: models.Field) -> str:
    internal = model_field.get_internal_type()
    return {
        "BinaryField": "binary", "JSONField": "json", "BooleanField": "bool",
        "DateTimeField": "datetime",
    }.get(internal, "plain")


class _TableWriter:
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
        for (name, default), kind in zip(self.defaults, self.kinds):
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
            tuple(_sqlite_value(row.get(name, default), kind) for (name, default), kind in zip(self.defaults, kinds))
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


BULK_TABLES = (WebhookEvent, ProcessingAttempt, MeetingStatusChange)


def _tables_empty(tables) -> bool:
    return not any(model.objects.exists() for model in tables)


def _drop_secondary_indexes(tables) -> list[str]:
    """Drop the plain (non-primary, non-constraint) indexes of these tables; return how to
    recreate them. PostgreSQL only; they are recreated even when seeding fails."""
    statements: list[str] = []
    with connection.cursor() as cursor:
        for model in tables:
            cursor.execute(
                """
                SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
                FROM pg_index i
                WHERE i.indrelid = %s::regclass AND NOT i.indisprimary
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
                """,
                [model._meta.db_table],
            )
            for name, definition in cursor.fetchall():
                cursor.execute(f"DROP INDEX {name}")
                statements.append(definition)
    return statements


def _create_indexes(statements: list[str]) -> None:
    if not statements:
        return
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem TO '256MB'")
        for statement in statements:
            cursor.execute(statement)
        cursor.execute("RESET maintenance_work_mem")


def _write_batch(batch: list[tuple[_TableWriter, list[dict]]]) -> None:
    """One transaction per batch, parents first (meetings before their uids and events)."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Demo data: losing the last batch to a crash is fine; waiting for each flush is not.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        for writer, rows in batch:
            writer.write(rows)


class _BackgroundWriter:
    """Writes batches on a second connection while the next batch is generated (PostgreSQL).

    One batch in flight at a time, written in order; an error is raised in the caller.
    """

    def __init__(self):
        self.queue: queue.Queue = queue.Queue(maxsize=1)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._work, name="seed-writer", daemon=True)
        self.thread.start()

    def _work(self) -> None:
        try:
            while (batch := self.queue.get()) is not None:
                if self.error is None:
                    try:
                        _write_batch(batch)
                    except BaseException as exc:  # reported to the generating thread
                        self.error = exc
        finally:
            connection.close()

    def submit(self, batch) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(batch)

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error


# --- The generator ----------------------------------------------------------------------------


@dataclass
class SeedSummary:
    targets: int = 0
    meetings: int = 0
    booking_uids: int = 0
    events: int = 0
    attempts: int = 0
    status_changes: int = 0
    seconds: float = 0.0
    by_status: dict[str, int] = field(default_factory=dict)


class AlreadySeeded(Exception):
    """The same seed was already loaded into this database (its booking uids exist)."""


class _Seeder:
    def __init__(self, *, events: int, seed: int, now: datetime, batch_size: int,
                 progress: Callable[[str], None] | None, background_writes: bool = False):
        self.background_writes = background_writes
        self.background: _BackgroundWriter | None = None
        self.target_events = events
        self.rng = random.Random(seed)
        # Uids come from their own stream: a seed always starts with the same uids, whatever
        # the number of events, so loading a seed twice is detected (AlreadySeeded).
        self.uid_rng = random.Random(f"booking-uids-{seed}")
        self.now = now
        self.start = now - SPAN
        self.batch_size = batch_size
        self.progress = progress or (lambda message: None)
        self.events = _TableWriter(WebhookEvent)
        self.attempts = _TableWriter(ProcessingAttempt)
        self.meetings = _TableWriter(Meeting)
        self.uids = _TableWriter(BookingUid)
        self.changes = _TableWriter(MeetingStatusChange)
        self.summary = SeedSummary()
        self.booking_id = 900_000 + seed * 1_000_000 % 50_000_000
        self.payment_id = 30_000
        self.targets: list[Target] = []
        self.ping_times: set[str] = set()

    # helpers

    def uid(self) -> str:
        alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
        return "".join(self.uid_rng.choices(alphabet, k=22))

    def next_booking_id(self) -> int:
        self.booking_id += 1
        return self.booking_id

    def run(self) -> SeedSummary:
        started = time.monotonic()
        self.make_targets()
        parallel = self.background_writes and connection.vendor == "postgresql"
        # Filling an empty database: build the big tables' secondary indexes once at the end
        # (a sort) instead of updating them row by row (random writes into large B-trees).
        deferred_indexes = _drop_secondary_indexes(BULK_TABLES) if parallel and _tables_empty(BULK_TABLES) else []
        try:
            if parallel:
                self.background = _BackgroundWriter()
            try:
                self.generate()
            finally:
                if self.background is not None:
                    self.background.close()
        finally:
            _create_indexes(deferred_indexes)
        self.finish()
        self.summary.seconds = time.monotonic() - started
        return self.summary

    def generate(self) -> None:
        while self.summary.events < self.target_events:
            fraction = self.summary.events / self.target_events
            moment = self.start + SPAN * fraction + timedelta(seconds=self.rng.uniform(0, 60))
            roll = self.rng.random()
            if roll < 0.006:
                self.noise_event(moment, "PING")
            elif roll < 0.02:
                self.noise_event(moment, "FORM_SUBMITTED")
            elif roll < 0.024:
                self.noise_event(moment, "OOO_CREATED")
            elif roll < 0.028:
                self.noise_event(moment, "BOOKING_SEATS_CHANGED")
            elif roll < 0.058:
                self.rejected_event(moment)
            else:
                self.meeting(moment)
            if len(self.events.rows) >= self.batch_size:
                self.flush()
        self.flush()

    def flush(self) -> None:
        writers = (self.meetings, self.uids, self.events, self.attempts, self.changes)
        batch = [(writer, writer.take()) for writer in writers]
        if self.background is not None:
            self.background.submit(batch)
        else:
            _write_batch(batch)
        self.progress(f"{self.events.written} events generated")

    def finish(self) -> None:
        models_written = [WebhookEvent, ProcessingAttempt, Meeting, BookingUid, MeetingStatusChange, Target]
        with connection.cursor() as cursor:
            for statement in connection.ops.sequence_reset_sql(no_style(), models_written):
                cursor.execute(statement)
            if connection.vendor == "postgresql":
                # Fresh planner statistics and pg_class.reltuples for the admin's estimated
                # counts; outside a transaction also the visibility map, for index-only scans.
                command = "ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE"
                for model in models_written:
                    cursor.execute(f"{command} {connection.ops.quote_name(model._meta.db_table)}")
        self.summary.meetings = self.meetings.written
        self.summary.booking_uids = self.uids.written
        self.summary.events = self.events.written
        self.summary.attempts = self.attempts.written
        self.summary.status_changes = self.changes.written

    def make_targets(self) -> None:
        owners = []
        user_model = get_user_model()
        for _id, name, email, username in ORGANIZERS:
            user, _ = user_model.objects.get_or_create(
                username=f"demo-{username}",
                defaults={"email": email, "first_name": name.split()[0], "last_name": name.split()[1]},
            )
            owners.append(user)
        count = max(3, min(2000, self.target_events // 400))
        existing = set(Target.objects.values_list("email", flat=True))
        rows = []
        for index in range(count):
            first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
            company, domain = self.rng.choice(COMPANIES)
            email = f"{first}.{last}.{index}@{domain}".lower()
            if email in existing:
                continue
            rows.append(Target(name=f"{first} {last}", email=email, company=company,
                               owner=self.rng.choice(owners)))
        Target.objects.bulk_create(rows, batch_size=1000)
        self.targets = list(Target.objects.filter(email__in=[t.email for t in rows]))
        self.summary.targets = len(self.targets)

    # one meeting and its story

    def meeting(self, booked_at: datetime) -> None:
        rng = self.rng
        organizer = rng.choice(ORGANIZERS)
        event_title, slug, length, price = rng.choices(EVENT_TYPES, weights=(6, 3, 1))[0]
        target = rng.choice(self.targets) if self.targets and rng.random() < 0.35 else None
        if target is not None:
            attendee_name, attendee_email = target.name, target.email
        else:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            attendee_name = f"{first} {last}"
            attendee_email = f"{first}.{last}{rng.randrange(10_000)}@example.org".lower()
        start = (booked_at + timedelta(hours=rng.uniform(2, 24 * 10))).replace(second=0, microsecond=0)
        start = start.replace(minute=(start.minute // 15) * 15)
        uid = self.uid()
        if self.summary.meetings == 0 and BookingUid.objects.filter(uid=uid).exists():
            raise AlreadySeeded(f"booking uid {uid} of this seed is already in the database")
        self.summary.meetings += 1
        meeting_id = self.meetings.allocate_id()
        facts = {
            "organizer_id": organizer[0], "organizer_name": organizer[1],
            "organizer_email": organizer[2], "organizer_username": organizer[3],
            "attendee_name": attendee_name, "attendee_email": attendee_email,
            "attendee_first": attendee_name.split()[0], "attendee_last": attendee_name.split()[-1],
            "title": f"{event_title} between {organizer[1]} and {attendee_name}",
            "event_title": event_title, "event_slug": slug, "event_type_id": 1180342 + len(slug),
            "length": length, "price": price, "booked": _iso(booked_at), "reason": "",
            "reschedule_uid": "", "reschedule_id": 0, "payment_id": 0,
        }
        state = {
            "uid": uid, "booking_id": self.next_booking_id(), "start": start, "status": "",
            "cal_status": "", "payment": "none", "paid_at": None, "last_event_at": None,
            "cancellation_reason": "", "no_show": [], "recording_url": "", "transcripts": [],
            "uids": [uid],
        }
        story = self.story(price=price)
        moment = booked_at
        for trigger, delay in story:
            moment = self.event_time(trigger=trigger, previous=moment, delay=delay, state=state, length=length)
            if moment > self.now or self.summary.events >= self.target_events:
                break
            if trigger == "BOOKING_RESCHEDULED":
                facts["reschedule_uid"], facts["reschedule_id"] = state["uid"], state["booking_id"]
                state["uid"], state["booking_id"] = self.uid(), self.next_booking_id()
                state["uids"].append(state["uid"])
                state["start"] = (state["start"] + timedelta(days=rng.randint(1, 5))).replace(minute=0)
            if trigger in ("BOOKING_CANCELLED", "BOOKING_REJECTED"):
                facts["reason"] = rng.choice(CANCEL_REASONS)
            if trigger in ("BOOKING_PAYMENT_INITIATED", "BOOKING_PAID") and not facts["payment_id"]:
                self.payment_id += 1
                facts["payment_id"] = self.payment_id
            self.booking_event(trigger=trigger, moment=moment, facts=facts, state=state, meeting_id=meeting_id)
        self.write_meeting(meeting_id=meeting_id, facts=facts, state=state, booked_at=booked_at, target=target)

    def story(self, *, price: int) -> list[tuple[str, float]]:
        """The triggers of one booking, each with a typical delay (hours) after the previous."""
        rng = self.rng
        steps: list[tuple[str, float]] = [("BOOKING_REQUESTED" if rng.random() < 0.1 else "BOOKING_CREATED", 0)]
        if steps[0][0] == "BOOKING_REQUESTED" and rng.random() < 0.3:
            return steps + [("BOOKING_REJECTED", rng.uniform(1, 20))]
        if price:
            steps += [("BOOKING_PAYMENT_INITIATED", 0.01), ("BOOKING_PAID", rng.uniform(0.02, 2))]
        for _ in range(rng.choices((0, 1, 2), weights=(80, 15, 5))[0]):
            steps.append(("BOOKING_RESCHEDULED", rng.uniform(2, 72)))
        if rng.random() < 0.15:
            return steps + [("BOOKING_CANCELLED", rng.uniform(1, 48))]
        steps.append(("MEETING_STARTED", -1))
        if rng.random() < 0.08:
            steps += [("AFTER_GUESTS_CAL_VIDEO_NO_SHOW", 0.1), ("BOOKING_NO_SHOW_UPDATED", rng.uniform(0.5, 3))]
            return steps
        steps.append(("MEETING_ENDED", -2))
        if rng.random() < 0.5:
            steps += [("RECORDING_READY", 0.2), ("RECORDING_TRANSCRIPTION_GENERATED", 0.1)]
        return steps

    def event_time(self, *, trigger: str, previous: datetime, delay: float, state: dict, length: int) -> datetime:
        jitter = timedelta(milliseconds=self.rng.randint(40, 900))
        if delay == -1:  # MEETING_STARTED fires at the start
            return max(previous, state["start"]) + jitter
        if delay == -2:  # MEETING_ENDED fires at the end
            return max(previous, state["start"] + timedelta(minutes=length)) + jitter
        return previous + timedelta(hours=delay) + jitter

    def booking_event(self, *, trigger: str, moment: datetime, facts: dict, state: dict, meeting_id: int) -> None:
        rng = self.rng
        start = state["start"]
        values = facts  # the meeting's facts, with this event's own filled in
        values.update(uid=state["uid"], booking_id=state["booking_id"], created=_iso(moment),
                      start=_iso_seconds(start),
                      end=_iso_seconds(start + timedelta(minutes=facts["length"])))
        body = (TEMPLATES[trigger] % values).encode("utf-8")
        flat = trigger in ("MEETING_STARTED", "MEETING_ENDED")
        received_at = moment + timedelta(milliseconds=rng.randint(30, 400))
        status, reason = self.pick_status(received_at=received_at)
        if status == "processed":
            self.apply(trigger=trigger, moment=moment, state=state, event_id=self.events.next_id,
                       meeting_id=meeting_id)
        event_id = self.write_event(
            trigger=trigger, body=body, received_at=received_at, status=status, reason=reason,
            uid=state["uid"], booking_id=state["booking_id"], attendee_email=facts["attendee_email"],
            created_at=None if flat else moment,
            meeting_id=meeting_id if status in ("processed", "ignored") else None,
        )
        if rng.random() < 0.02 and received_at + timedelta(seconds=5) < self.now:
            # Cal.com retried a delivery it thought failed: same bytes, stored as a duplicate.
            self.write_event(
                trigger=trigger, body=body, received_at=received_at + timedelta(seconds=rng.uniform(1, 5)),
                status="duplicate", reason=f"same body as event #{event_id}", uid=state["uid"],
                booking_id=state["booking_id"], attendee_email=facts["attendee_email"],
                created_at=None if flat else moment, meeting_id=None, duplicate_of=event_id,
            )

    def pick_status(self, *, received_at: datetime) -> tuple[str, str]:
        roll = self.rng.random()
        if received_at > self.now - timedelta(minutes=10) and roll < 0.3:
            return "received", ""
        if roll < 0.014:
            return "failed", ""
        if roll < 0.019:
            return "dead", ""
        if roll < 0.0195:
            return "processing", ""
        if roll < 0.035:
            return "ignored", "stale event: older than the last applied event"
        return "processed", ""

    def apply(self, *, trigger: str, moment: datetime, state: dict, event_id: int, meeting_id: int) -> None:
        """What processing did to the meeting, in the spirit of meetings/status_mapping.py."""
        new_status = {
            "BOOKING_CREATED": "scheduled", "BOOKING_REQUESTED": "scheduled",
            "BOOKING_RESCHEDULED": "scheduled", "BOOKING_CANCELLED": "cancelled",
            "BOOKING_REJECTED": "cancelled", "BOOKING_PAID": "scheduled",
            "BOOKING_PAYMENT_INITIATED": "scheduled", "MEETING_ENDED": "completed",
            "BOOKING_NO_SHOW_UPDATED": "no_show",
        }.get(trigger)
        cal_status = {"BOOKING_CREATED": "ACCEPTED", "BOOKING_REQUESTED": "PENDING",
                      "BOOKING_RESCHEDULED": "ACCEPTED", "BOOKING_CANCELLED": "CANCELLED",
                      "BOOKING_REJECTED": "REJECTED"}.get(trigger)
        if cal_status:
            state["cal_status"] = cal_status
        if trigger == "BOOKING_PAYMENT_INITIATED" and state["payment"] != "paid":
            state["payment"] = "pending"
        if trigger == "BOOKING_PAID":
            state["payment"], state["paid_at"] = "paid", moment
        if trigger == "BOOKING_NO_SHOW_UPDATED":
            state["no_show"] = ["marked"]
        if trigger == "RECORDING_READY":
            state["recording_url"] = f"https://app.cal.com/api/video/recording?token={state['uid']}"
        if trigger == "RECORDING_TRANSCRIPTION_GENERATED":
            state["transcripts"] = [f"https://daily-transcripts.example/cal/{state['uid']}/t.txt"]
        if new_status and new_status != state["status"]:
            self.changes.add({
                "id": self.changes.allocate_id(), "meeting_id": meeting_id,
                "from_status": state["status"], "to_status": new_status, "event_id": event_id,
                "reason": trigger if trigger != "BOOKING_RESCHEDULED" else f"{trigger} (from {state['uids'][-2]})",
                "changed_at": moment + timedelta(milliseconds=500),
            })
            state["status"] = new_status
        if new_status:
            state["last_event_at"] = moment

    def write_meeting(self, *, meeting_id: int, facts: dict, state: dict, booked_at: datetime, target) -> None:
        start = state["start"]
        no_show = [facts["attendee_email"]] if state["no_show"] else []
        self.meetings.add({
            "id": meeting_id, "cal_event_id": state["uid"], "cal_booking_id": state["booking_id"],
            "status": state["status"] or "scheduled", "cal_status": state["cal_status"],
            "start_time": start, "end_time": start + timedelta(minutes=facts["length"]),
            "title": facts["title"], "attendee_name": facts["attendee_name"],
            "attendee_email": facts["attendee_email"], "organizer_name": facts["organizer_name"],
            "organizer_email": facts["organizer_email"], "location": "integrations:daily",
            "video_url": f"https://app.cal.com/video/{state['uid']}",
            "recording_url": state["recording_url"], "transcript_urls": state["transcripts"],
            "target_id": target.pk if target else None, "payment_status": state["payment"],
            "payment_id": str(facts["payment_id"] or ""), "payment_amount": facts["price"] or None,
            "payment_currency": "USD" if facts["price"] else "", "paid_at": state["paid_at"],
            "cancellation_reason": facts["reason"] if state["status"] == "cancelled" else "",
            "no_show_emails": no_show, "last_event_at": state["last_event_at"],
            "created_at": booked_at, "updated_at": state["last_event_at"] or booked_at,
        })
        for index, uid in enumerate(state["uids"]):
            self.uids.add({"id": self.uids.allocate_id(), "uid": uid, "meeting_id": meeting_id,
                           "created_at": booked_at + timedelta(hours=index)})

    # events that belong to no meeting

    def noise_event(self, moment: datetime, trigger: str) -> None:
        rng = self.rng
        organizer = rng.choice(ORGANIZERS)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = f"{first}.{last}{rng.randrange(10_000)}@example.org".lower()
        uid = self.uid() if trigger == "BOOKING_SEATS_CHANGED" else ""
        values = {
            "created": _iso(moment), "attendee_email": email, "organizer_id": organizer[0],
            "organizer_name": organizer[1], "organizer_email": organizer[2], "uid": uid,
            "booking_id": rng.randint(1000, 9999), "start": _iso(moment + timedelta(days=20)),
            "end": _iso(moment + timedelta(days=27)),
        }
        if trigger == "PING":
            # Test pings are identical but for their time; identical bodies would be duplicates.
            while values["created"] in self.ping_times:
                moment += timedelta(milliseconds=1)
                values["created"] = _iso(moment)
            self.ping_times.add(values["created"])
        body = (TEMPLATES[trigger] % values).encode("utf-8")
        if trigger == "BOOKING_SEATS_CHANGED":
            status, reason = "ignored", f"unknown trigger {trigger!r}"
        elif trigger == "PING":
            status, reason = "processed", "PING: Cal.com test delivery, nothing to apply"
        else:
            status, reason = "processed", f"recorded: {trigger} is not about a booking"
        self.write_event(
            trigger=trigger, body=body, received_at=moment + timedelta(milliseconds=rng.randint(30, 400)),
            status=status, reason=reason, uid=uid, booking_id=None,
            attendee_email=email if trigger == "FORM_SUBMITTED" else "", created_at=moment, meeting_id=None,
        )

    def rejected_event(self, moment: datetime) -> None:
        rng = self.rng
        kind = rng.choices(("invalid", "missing", "no_secret_provided"), weights=(6, 3, 1))[0]
        if kind == "missing":
            body = rng.choice((b'{"hello":"world"}', b"", b"<?xml version=\"1.0\"?><probe/>",
                               b'{"triggerEvent":"BOOKING_CREATED","payload":{}}'))
            headers, ip = HEADERS_UNSIGNED, rng.choice(PROBE_IPS)
            reason = "missing X-Cal-Signature-256 header"
        else:
            values = {"created": _iso(moment), "attendee_email": "jdoe@example.com"}
            body = (TEMPLATES["PING"] % values).encode("utf-8")
            headers, ip = HEADERS_SIGNED, rng.choice(CALCOM_IPS)
            reason = (
                "X-Cal-Signature-256 does not match the body under any configured secret"
                if kind == "invalid" else
                "X-Cal-Signature-256 is 'no-secret-provided': the Cal.com webhook has no secret; "
                "set the same secret on both sides"
            )
        self.events.add({
            "id": self.events.allocate_id(), "received_at": moment, "raw_body": body,
            "body_size": len(body), "headers": headers, "client_ip": ip,
            "content_type": "application/json", "webhook_version": "2021-10-20",
            "signature_result": kind, "status": "rejected", "status_reason": reason,
        })
        self.count("rejected")

    def write_event(self, *, trigger: str, body: bytes, received_at: datetime, status: str, reason: str,
                    uid: str, booking_id: int | None, attendee_email: str, created_at: datetime | None,
                    meeting_id: int | None, duplicate_of: int | None = None) -> int:
        rng = self.rng
        event_id = self.events.allocate_id()
        row = {
            "id": event_id, "trigger_event": trigger, "booking_uid": uid, "booking_id": booking_id,
            "attendee_email": attendee_email, "event_created_at": created_at, "received_at": received_at,
            "raw_body": body, "body_size": len(body), "headers": HEADERS_SIGNED,
            "client_ip": rng.choice(CALCOM_IPS), "content_type": "application/json",
            "webhook_version": "2021-10-20", "signature_result": "valid",
            "fingerprint": hashlib.sha256(body).hexdigest(), "duplicate_of_id": duplicate_of,
            "status": status, "status_reason": reason, "meeting_id": meeting_id,
        }
        if status in ("processed", "ignored"):
            tries = 2 if rng.random() < 0.03 else 1
            row.update(attempts=tries, processed_at=received_at + timedelta(milliseconds=rng.randint(5, 80)))
            self.write_attempts(event_id=event_id, received_at=received_at, tries=tries,
                                final=status, final_error=reason)
        elif status in ("failed", "dead"):
            error, where, cause = rng.choice(FAILURES)
            tries = 5 if status == "dead" else rng.randint(1, 3)
            row.update(attempts=tries, last_error=error, last_traceback=_traceback(error, where, cause))
            if status == "failed":
                row["next_attempt_at"] = received_at + timedelta(minutes=2 ** tries)
            self.write_attempts(event_id=event_id, received_at=received_at, tries=tries,
                                final="failed", final_error=error, failure=(error, where, cause))
        elif status == "processing":
            row["attempts"] = 1
            self.attempts.add({"id": self.attempts.allocate_id(), "event_id": event_id, "number": 1,
                               "started_at": received_at, "outcome": "running", "started_via": "delivery"})
        self.events.add(row)
        self.count(status)
        return event_id

    def write_attempts(self, *, event_id: int, received_at: datetime, tries: int, final: str,
                       final_error: str, failure: tuple[str, str, str] | None = None) -> None:
        for number in range(1, tries + 1):
            started = received_at + timedelta(minutes=(2 ** number - 2))
            last = number == tries
            error, where, cause = failure or self.rng.choice(FAILURES)
            outcome = final if last else "failed"
            self.attempts.add({
                "id": self.attempts.allocate_id(), "event_id": event_id, "number": number,
                "started_at": started, "finished_at": started + timedelta(milliseconds=40),
                "outcome": outcome,
                "error": (final_error if last else error) if outcome != "processed" else "",
                "traceback": _traceback(error, where, cause) if outcome == "failed" else "",
                "started_via": "delivery" if number == 1 else "retry",
            })

    def count(self, status: str) -> None:
        self.summary.events += 1
        self.summary.by_status[status] = self.summary.by_status.get(status, 0) + 1


def seed_demo_data(
    *,
    events: int,
    seed: int = 1,
    now: datetime | None = None,
    batch_size: int = 10_000,
    progress: Callable[[str], None] | None = None,
    background_writes: bool = False,
) -> SeedSummary:
    """Add about `events` webhook events (exactly that many) with their meetings and targets.

    `background_writes` (PostgreSQL, outside a transaction: the command, not tests) writes each
    batch on a second connection while the next one is generated. Raises AlreadySeeded when
    this seed's data is already in the database.
    """
    if events < 1:
        raise ValueError("events must be at least 1")
    # Times are laid out from the top of the hour, so a seed gives the same data all hour long
    # (and the same data shifted by whole hours later: meetings start on the quarter hour).
    now = (now or timezone.now()).replace(minute=0, second=0, microsecond=0)
    seeder = _Seeder(events=events, seed=seed, now=now, batch_size=batch_size,
                     progress=progress, background_writes=background_writes)
    return seeder.run()
