"""Realistic demo data, fast: targets, meetings with reschedule chains, and webhook events.

Used by `manage.py seed_demo_data`, the tests, the benchmarks and demos. The same `seed` gives
the same data, shifted to end at the current hour. Bodies are Cal.com bodies of every trigger
(devtools/demo/bodies.py), statuses follow a plausible production mix (mostly processed; some
ignored, duplicate, failed, dead, rejected; a few still waiting), and meeting state, uids,
status changes and processing attempts agree with the events.

Rows are written in batches with explicit ids (devtools/demo/copy.py): COPY on PostgreSQL (a
million events in well under a minute), executemany elsewhere. Run it on a quiet database (no
deliveries arriving).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.core.management.color import no_style
from django.db import connection
from django.utils import timezone

from calcom.triggers import FLAT_TRIGGERS
from devtools.demo.bodies import TEMPLATES, iso, iso_seconds
from devtools.demo.catalogue import (
    CANCEL_REASONS,
    COMPANIES,
    EVENT_TYPES,
    FIRST_NAMES,
    LAST_NAMES,
    ORGANIZERS,
)
from devtools.demo.copy import (
    TableWriter,
    WriterProcesses,
    create_indexes,
    drop_secondary_indexes,
    table_rows,
    write_batch,
)
from devtools.demo.event_rows import EventRows, SeedSummary
from devtools.demo.story import apply_processed_event, booking_story, delivery_status, event_time
from meetings.models import BookingUid, Meeting, MeetingStatusChange, Target
from webhooks.models import ProcessingAttempt, WebhookEvent

SPAN = timedelta(days=30)
BULK_TABLES = (WebhookEvent, ProcessingAttempt, MeetingStatusChange, Meeting, BookingUid)


class AlreadySeeded(Exception):
    """The same seed was already loaded into this database (its booking uids exist)."""


class _Seeder(EventRows):
    def __init__(
        self,
        *,
        events: int,
        seed: int,
        now: datetime,
        batch_size: int,
        progress: Callable[[str], None] | None,
        background_writes: bool = False,
        writer_processes: int = 2,
    ):
        self.background_writes = background_writes
        self.writer_processes = writer_processes
        self.background: WriterProcesses | None = None
        self.target_events = events
        self.rng = random.Random(seed)
        # Uids come from their own stream: a seed always starts with the same uids, whatever
        # the number of events, so loading a seed twice is detected (AlreadySeeded).
        self.uid_rng = random.Random(f"booking-uids-{seed}")
        self.now = now
        self.start = now - SPAN
        self.batch_size = batch_size
        self.progress = progress or (lambda message: None)
        self.events = TableWriter(WebhookEvent)
        self.attempts = TableWriter(ProcessingAttempt)
        self.meetings = TableWriter(Meeting)
        self.uids = TableWriter(BookingUid)
        self.changes = TableWriter(MeetingStatusChange)
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
        parallel = (
            self.background_writes and connection.vendor == "postgresql" and not connection.in_atomic_block
        )
        # Filling an empty database, or at least doubling it: build the big tables' secondary
        # indexes once at the end (a sort) instead of updating them row by row (random writes
        # into large B-trees), and check their foreign keys in one join instead of row by row.
        bulk = parallel and table_rows(WebhookEvent) <= self.target_events
        deferred_indexes = drop_secondary_indexes(BULK_TABLES) if bulk else []
        try:
            if parallel:
                self.background = WriterProcesses(
                    (self.meetings, self.uids, self.events, self.attempts, self.changes),
                    processes=self.writer_processes,
                )
            try:
                self.generate()
            finally:
                if self.background is not None:
                    self.background.close()
        finally:
            create_indexes(deferred_indexes)
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
            write_batch(batch)
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
            rows.append(
                Target(name=f"{first} {last}", email=email, company=company, owner=self.rng.choice(owners))
            )
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
            "organizer_id": organizer[0],
            "organizer_name": organizer[1],
            "organizer_email": organizer[2],
            "organizer_username": organizer[3],
            "attendee_name": attendee_name,
            "attendee_email": attendee_email,
            "attendee_first": attendee_name.split()[0],
            "attendee_last": attendee_name.split()[-1],
            "title": f"{event_title} between {organizer[1]} and {attendee_name}",
            "event_title": event_title,
            "event_slug": slug,
            "event_type_id": 1180342 + len(slug),
            "length": length,
            "price": price,
            "booked": iso(booked_at),
            "reason": "",
            "reschedule_uid": "",
            "reschedule_id": 0,
            "payment_id": 0,
            "previous_start": "",
            "previous_end": "",
        }
        state = {
            "uid": uid,
            "booking_id": self.next_booking_id(),
            "start": start,
            "status": "",
            "cal_status": "",
            "payment": "none",
            "paid_at": None,
            "last_event_at": None,
            "cancellation_reason": "",
            "no_show": [],
            "recording_url": "",
            "transcripts": [],
            "uids": [uid],
        }
        story = booking_story(rng=rng, price=price)
        moment = booked_at
        for trigger, delay in story:
            moment = event_time(rng=rng, previous=moment, delay=delay, start=state["start"], length=length)
            if moment > self.now or self.summary.events >= self.target_events:
                break
            if trigger == "BOOKING_RESCHEDULED":
                facts["reschedule_uid"], facts["reschedule_id"] = state["uid"], state["booking_id"]
                facts["previous_start"] = iso_seconds(state["start"])
                facts["previous_end"] = iso_seconds(state["start"] + timedelta(minutes=length))
                state["uid"], state["booking_id"] = self.uid(), self.next_booking_id()
                state["uids"].append(state["uid"])
                state["start"] = (state["start"] + timedelta(days=rng.randint(1, 5))).replace(minute=0)
            if trigger in ("BOOKING_CANCELLED", "BOOKING_REJECTED"):
                facts["reason"] = rng.choice(CANCEL_REASONS)
            if trigger in ("BOOKING_PAYMENT_INITIATED", "BOOKING_PAID") and not facts["payment_id"]:
                self.payment_id += 1
                facts["payment_id"] = self.payment_id
            self.booking_event(
                trigger=trigger, moment=moment, facts=facts, state=state, meeting_id=meeting_id
            )
        self.write_meeting(
            meeting_id=meeting_id, facts=facts, state=state, booked_at=booked_at, target=target
        )

    def booking_event(
        self, *, trigger: str, moment: datetime, facts: dict, state: dict, meeting_id: int
    ) -> None:
        rng = self.rng
        start = state["start"]
        values = facts  # the meeting's facts, with this event's own filled in
        values.update(
            uid=state["uid"],
            booking_id=state["booking_id"],
            created=iso(moment),
            start=iso_seconds(start),
            end=iso_seconds(start + timedelta(minutes=facts["length"])),
        )
        body = (TEMPLATES[trigger] % values).encode("utf-8")
        flat = trigger in FLAT_TRIGGERS
        received_at = moment + timedelta(milliseconds=rng.randint(30, 400))
        status, reason = delivery_status(rng=rng, received_at=received_at, now=self.now)
        if status == "processed":
            self.apply(
                trigger=trigger,
                moment=moment,
                state=state,
                event_id=self.events.next_id,
                meeting_id=meeting_id,
            )
        event_id = self.write_event(
            trigger=trigger,
            body=body,
            received_at=received_at,
            status=status,
            reason=reason,
            uid=state["uid"],
            booking_id=state["booking_id"],
            attendee_email=facts["attendee_email"],
            created_at=None if flat else moment,
            meeting_id=meeting_id if status in ("processed", "ignored") else None,
        )
        if rng.random() < 0.02 and received_at + timedelta(seconds=5) < self.now:
            # Cal.com retried a delivery it thought failed: same bytes, stored as a duplicate.
            self.write_event(
                trigger=trigger,
                body=body,
                received_at=received_at + timedelta(seconds=rng.uniform(1, 5)),
                status="duplicate",
                reason=f"same body as event #{event_id}",
                uid=state["uid"],
                booking_id=state["booking_id"],
                attendee_email=facts["attendee_email"],
                created_at=None if flat else moment,
                meeting_id=None,
                duplicate_of=event_id,
            )

    def apply(self, *, trigger: str, moment: datetime, state: dict, event_id: int, meeting_id: int) -> None:
        """What processing did to the meeting, and the audit row of a status it changed."""
        from_status = state["status"]
        new_status = apply_processed_event(trigger=trigger, moment=moment, state=state)
        if new_status is not None:
            self.changes.add(
                {
                    "id": self.changes.allocate_id(),
                    "meeting_id": meeting_id,
                    "from_status": from_status,
                    "to_status": new_status,
                    "event_id": event_id,
                    "reason": trigger
                    if trigger != "BOOKING_RESCHEDULED"
                    else f"{trigger} (from {state['uids'][-2]})",
                    "changed_at": moment + timedelta(milliseconds=500),
                }
            )

    def write_meeting(
        self, *, meeting_id: int, facts: dict, state: dict, booked_at: datetime, target
    ) -> None:
        start = state["start"]
        no_show = [facts["attendee_email"]] if state["no_show"] else []
        self.meetings.add(
            {
                "id": meeting_id,
                "cal_event_id": state["uid"],
                "cal_booking_id": state["booking_id"],
                "status": state["status"] or "scheduled",
                "cal_status": state["cal_status"],
                "start_time": start,
                "end_time": start + timedelta(minutes=facts["length"]),
                "title": facts["title"],
                "attendee_name": facts["attendee_name"],
                "attendee_email": facts["attendee_email"],
                "organizer_name": facts["organizer_name"],
                "organizer_email": facts["organizer_email"],
                "location": "integrations:daily",
                "video_url": f"https://app.cal.com/video/{state['uid']}",
                "recording_url": state["recording_url"],
                "transcript_urls": state["transcripts"],
                "target_id": target.pk if target else None,
                "payment_status": state["payment"],
                "payment_id": str(facts["payment_id"] or ""),
                "payment_amount": facts["price"] or None,
                "payment_currency": "USD" if facts["price"] else "",
                "paid_at": state["paid_at"],
                "cancellation_reason": facts["reason"] if state["status"] == "cancelled" else "",
                "no_show_emails": no_show,
                "last_event_at": state["last_event_at"],
                "created_at": booked_at,
                "updated_at": state["last_event_at"] or booked_at,
            }
        )
        for index, uid in enumerate(state["uids"]):
            self.uids.add(
                {
                    "id": self.uids.allocate_id(),
                    "uid": uid,
                    "meeting_id": meeting_id,
                    "created_at": booked_at + timedelta(hours=index),
                }
            )

    # events that belong to no meeting


def seed_demo_data(
    *,
    events: int,
    seed: int = 1,
    now: datetime | None = None,
    batch_size: int = 10_000,
    progress: Callable[[str], None] | None = None,
    background_writes: bool = False,
    writer_processes: int = 2,
) -> SeedSummary:
    """Add about `events` webhook events (exactly that many) with their meetings and targets.

    `background_writes` (PostgreSQL, outside a transaction: the command, not tests) writes the
    batches in `writer_processes` other processes, each with its own connection, while the next
    one is generated. Raises AlreadySeeded when
    this seed's data is already in the database.
    """
    if events < 1:
        raise ValueError("events must be at least 1")
    # Times are laid out from the top of the hour, so a seed gives the same data all hour long
    # (and the same data shifted by whole hours later: meetings start on the quarter hour).
    now = (now or timezone.now()).replace(minute=0, second=0, microsecond=0)
    seeder = _Seeder(
        events=events,
        seed=seed,
        now=now,
        batch_size=batch_size,
        progress=progress,
        background_writes=background_writes,
        writer_processes=writer_processes,
    )
    return seeder.run()
