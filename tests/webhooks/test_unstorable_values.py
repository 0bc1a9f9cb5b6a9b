"""Values the parser accepts but a PostgreSQL column cannot hold are settled on the first
attempt (dropped with a note, or the event ignored with the reason), never retried into `dead`.

Processing goes through the production path: django-tasks-db and the real db_worker loop.
"""

from __future__ import annotations

import pytest
from django.db import connection

from meetings.models import Meeting, MeetingStatusChange
from tests.support.bodies import MARK, compact, with_raw
from tests.support.bodies import fresh_booking_body as booking_body
from tests.support.tasks import run_worker_until_idle
from webhooks.models import AttemptOutcome, WebhookEvent, WebhookEventStatus

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def deliver_and_drain(deliver, raw: bytes) -> WebhookEvent:
    response = deliver(raw)
    assert response.status_code == 200, response.content
    run_worker_until_idle()
    return WebhookEvent.objects.get(pk=response.json()["event_id"])


def assert_settled_once(event: WebhookEvent, status: str) -> None:
    assert (event.status, event.attempts) == (status, 1), (
        f"{event.status} after {event.attempts}: {event.last_error}"
    )
    assert event.next_attempt_at is None
    assert event.processing_attempts.get().outcome == status


def test_a_price_over_the_integer_column_is_dropped_with_a_note(deliver, database_tasks):
    body = booking_body("BOOKING_PAID")
    body["payload"]["price"] = 3_000_000_000
    event = deliver_and_drain(deliver, compact(body))
    assert_settled_once(event, WebhookEventStatus.PROCESSED)
    assert "price 3000000000 is outside the storable range; dropped" in event.status_reason
    meeting = Meeting.objects.get()
    assert meeting.payment_status == "paid" and meeting.payment_amount is None


@pytest.mark.parametrize("field", ["uid", "rescheduleUid"])
def test_a_uid_longer_than_its_column_is_ignored_once(deliver, database_tasks, field):
    body = booking_body("BOOKING_RESCHEDULED" if field == "rescheduleUid" else "BOOKING_CREATED")
    body["payload"][field] = "u" * 300
    event = deliver_and_drain(deliver, compact(body))
    assert_settled_once(event, WebhookEventStatus.IGNORED)
    assert "booking uid longer than 255 characters" in event.status_reason
    assert not Meeting.objects.exists()


@pytest.mark.parametrize(
    "path",
    [("attendees", 0, "name"), ("title",), ("cancellationReason",), ("organizer", "name")],
    ids=lambda path: ".".join(map(str, path)),
)
def test_a_lone_surrogate_in_free_text_is_stored_as_the_replacement_character(deliver, database_tasks, path):
    body = booking_body("BOOKING_CANCELLED")
    target = body["payload"]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = MARK
    event = deliver_and_drain(deliver, with_raw(body, '"before \\ud83d after"'))
    assert_settled_once(event, WebhookEventStatus.PROCESSED)
    meeting = Meeting.objects.get()
    stored = {
        ("attendees", 0, "name"): meeting.attendee_name,
        ("title",): meeting.title,
        ("cancellationReason",): meeting.cancellation_reason,
        ("organizer", "name"): meeting.organizer_name,
    }[path]
    assert stored == "before \ufffd after"


@pytest.fixture
def status_changes_refuse_data():
    """The audit table refuses every row the way PostgreSQL refuses a value too long for its
    column (SQLSTATE 22001): a real DataError inside the processing transaction."""
    table = MeetingStatusChange._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE OR REPLACE FUNCTION vani_test_too_long() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'value too long for type character varying(500)' "
            "USING ERRCODE = '22001'; END $$ LANGUAGE plpgsql"
        )
        cursor.execute(
            f"CREATE TRIGGER vani_test_too_long BEFORE INSERT ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION vani_test_too_long()"
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER IF EXISTS vani_test_too_long ON {table}")
        cursor.execute("DROP FUNCTION IF EXISTS vani_test_too_long()")


def test_a_data_error_while_processing_is_permanent_not_retried(
    deliver, database_tasks, status_changes_refuse_data
):
    event = deliver_and_drain(deliver, compact(booking_body()))
    assert_settled_once(event, WebhookEventStatus.IGNORED)
    assert event.status_reason.startswith("not retried: the database cannot hold this delivery")
    assert "DataError" in event.last_error and "value too long" in event.last_error
    assert event.processing_attempts.get().outcome == AttemptOutcome.IGNORED
    assert not Meeting.objects.exists()  # the run rolled back as a whole
