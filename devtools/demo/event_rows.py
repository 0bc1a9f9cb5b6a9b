"""The webhook-event rows of the demo data: noise (PING, unknown triggers), refused deliveries,
events with their processing attempts. Mixed into the seeder (devtools/demo/seeding.py)."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from devtools.demo.bodies import TEMPLATES, iso
from devtools.demo.catalogue import (
    CALCOM_IPS,
    FAILURES,
    FIRST_NAMES,
    HEADERS_SIGNED,
    HEADERS_UNSIGNED,
    LAST_NAMES,
    ORGANIZERS,
    PROBE_IPS,
    failure_traceback,
)
from devtools.demo.copy import TableWriter


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


class EventRows:
    """Writes webhook events and attempts; the seeder sets these attributes up."""

    rng: random.Random
    events: TableWriter
    attempts: TableWriter
    summary: SeedSummary
    ping_times: set[str]

    def uid(self) -> str:
        raise NotImplementedError

    def noise_event(self, moment: datetime, trigger: str) -> None:
        rng = self.rng
        organizer = rng.choice(ORGANIZERS)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = f"{first}.{last}{rng.randrange(10_000)}@example.org".lower()
        uid = self.uid() if trigger == "BOOKING_SEATS_CHANGED" else ""
        values = {
            "created": iso(moment),
            "attendee_email": email,
            "organizer_id": organizer[0],
            "organizer_name": organizer[1],
            "organizer_email": organizer[2],
            "uid": uid,
            "booking_id": rng.randint(1000, 9999),
            "start": iso(moment + timedelta(days=20)),
            "end": iso(moment + timedelta(days=27)),
        }
        if trigger == "PING":
            # Test pings are identical but for their time; identical bodies would be duplicates.
            created = iso(moment)
            while created in self.ping_times:
                moment += timedelta(milliseconds=1)
                created = iso(moment)
            values["created"] = created
            self.ping_times.add(created)
        body = (TEMPLATES[trigger] % values).encode("utf-8")
        if trigger == "BOOKING_SEATS_CHANGED":
            status, reason = "ignored", f"unknown trigger {trigger!r}"
        elif trigger == "PING":
            status, reason = "processed", "PING: Cal.com test delivery, nothing to apply"
        else:
            status, reason = "processed", f"recorded: {trigger} is not about a booking"
        self.write_event(
            trigger=trigger,
            body=body,
            received_at=moment + timedelta(milliseconds=rng.randint(30, 400)),
            status=status,
            reason=reason,
            uid=uid,
            booking_id=None,
            attendee_email=email if trigger == "FORM_SUBMITTED" else "",
            created_at=moment,
            meeting_id=None,
        )

    def rejected_event(self, moment: datetime) -> None:
        rng = self.rng
        kind = rng.choices(("invalid", "missing", "no_secret_provided"), weights=(6, 3, 1))[0]
        if kind == "missing":
            body = rng.choice(
                (
                    b'{"hello":"world"}',
                    b"",
                    b'<?xml version="1.0"?><probe/>',
                    b'{"triggerEvent":"BOOKING_CREATED","payload":{}}',
                )
            )
            headers, ip = HEADERS_UNSIGNED, rng.choice(PROBE_IPS)
            reason = "missing X-Cal-Signature-256 header"
        else:
            values = {"created": iso(moment), "attendee_email": "jdoe@example.com"}
            body = (TEMPLATES["PING"] % values).encode("utf-8")
            headers, ip = HEADERS_SIGNED, rng.choice(CALCOM_IPS)
            reason = (
                "X-Cal-Signature-256 does not match the body under any configured secret"
                if kind == "invalid"
                else "X-Cal-Signature-256 is 'no-secret-provided': the Cal.com webhook has no secret; "
                "set the same secret on both sides"
            )
        self.events.add(
            {
                "id": self.events.allocate_id(),
                "received_at": moment,
                "raw_body": body,
                "body_size": len(body),
                "headers": headers,
                "client_ip": ip,
                "content_type": "application/json",
                "webhook_version": "2021-10-20",
                "signature_result": kind,
                "status": "rejected",
                "status_reason": reason,
            }
        )
        self.count("rejected")

    def write_event(
        self,
        *,
        trigger: str,
        body: bytes,
        received_at: datetime,
        status: str,
        reason: str,
        uid: str,
        booking_id: int | None,
        attendee_email: str,
        created_at: datetime | None,
        meeting_id: int | None,
        duplicate_of: int | None = None,
    ) -> int:
        rng = self.rng
        event_id = self.events.allocate_id()
        row = {
            "id": event_id,
            "trigger_event": trigger,
            "booking_uid": uid,
            "booking_id": booking_id,
            "attendee_email": attendee_email,
            "event_created_at": created_at,
            "received_at": received_at,
            "raw_body": body,
            "body_size": len(body),
            "headers": HEADERS_SIGNED,
            "client_ip": rng.choice(CALCOM_IPS),
            "content_type": "application/json",
            "webhook_version": "2021-10-20",
            "signature_result": "valid",
            "fingerprint": hashlib.sha256(body).hexdigest(),
            "duplicate_of_id": duplicate_of,
            "status": status,
            "status_reason": reason,
            "meeting_id": meeting_id,
        }
        if status in ("processed", "ignored"):
            tries = 2 if rng.random() < 0.03 else 1
            row.update(attempts=tries, processed_at=received_at + timedelta(milliseconds=rng.randint(5, 80)))
            self.write_attempts(
                event_id=event_id, received_at=received_at, tries=tries, final=status, final_error=reason
            )
        elif status in ("failed", "dead"):
            error, where, cause = rng.choice(FAILURES)
            tries = 5 if status == "dead" else rng.randint(1, 3)
            row.update(
                attempts=tries, last_error=error, last_traceback=failure_traceback(error, where, cause)
            )
            if status == "failed":
                row["next_attempt_at"] = received_at + timedelta(minutes=2**tries)
            self.write_attempts(
                event_id=event_id,
                received_at=received_at,
                tries=tries,
                final="failed",
                final_error=error,
                failure=(error, where, cause),
            )
        elif status == "processing":
            row["attempts"] = 1
            self.attempts.add(
                {
                    "id": self.attempts.allocate_id(),
                    "event_id": event_id,
                    "number": 1,
                    "started_at": received_at,
                    "outcome": "running",
                    "started_via": "delivery",
                }
            )
        self.events.add(row)
        self.count(status)
        return event_id

    def write_attempts(
        self,
        *,
        event_id: int,
        received_at: datetime,
        tries: int,
        final: str,
        final_error: str,
        failure: tuple[str, str, str] | None = None,
    ) -> None:
        for number in range(1, tries + 1):
            started = received_at + timedelta(minutes=(2**number - 2))
            last = number == tries
            error, where, cause = failure or self.rng.choice(FAILURES)
            outcome = final if last else "failed"
            self.attempts.add(
                {
                    "id": self.attempts.allocate_id(),
                    "event_id": event_id,
                    "number": number,
                    "started_at": started,
                    "finished_at": started + timedelta(milliseconds=40),
                    "outcome": outcome,
                    "error": (final_error if last else error) if outcome != "processed" else "",
                    "traceback": failure_traceback(error, where, cause) if outcome == "failed" else "",
                    "started_via": "delivery" if number == 1 else "retry",
                }
            )

    def count(self, status: str) -> None:
        self.summary.events += 1
        self.summary.by_status[status] = self.summary.by_status.get(status, 0) + 1
