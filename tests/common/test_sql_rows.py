"""`insert_row` writes what the ORM's `save()` would write, with one hand-written INSERT."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models.signals import post_save, pre_save
from django.test.utils import CaptureQueriesContext

from common.sql_rows import insert_row
from webhooks.models import SignatureResult, WebhookEvent, WebhookEventStatus

pytestmark = pytest.mark.django_db

RECEIVED_AT = datetime(2026, 12, 2, 15, 30, 12, 345678, tzinfo=UTC)


def delivery_fields(**overrides) -> dict:
    """Every kind of column the endpoint fills: bytes with NUL and high bytes, JSON with
    non-ASCII text, an IPv6 address, an aware datetime, a 64-bit id, NULLs left as defaults."""
    return {
        "raw_body": b'{"triggerEvent":"BOOKING_CREATED"}\x00\xff',
        "body_size": 36,
        "headers": {"User-Agent": "Cal.com — webhook", "X-Cal-Signature-256": "***"},
        "client_ip": "2001:db8::7",
        "content_type": "application/json",
        "webhook_version": "2021-10-20",
        "signature_result": SignatureResult.VALID,
        "fingerprint": "ab" * 32,
        "trigger_event": "BOOKING_CREATED",
        "booking_uid": "uid-Ünïcode-1",
        "reschedule_uid": "",
        "booking_id": 2**63 - 1,
        "attendee_email": "priya.shah@example.org",
        "event_created_at": datetime(2026, 12, 2, 15, 30, tzinfo=UTC),
        "received_at": RECEIVED_AT,
        **overrides,
    }


def stored_columns(pk: int) -> dict:
    row = WebhookEvent.objects.filter(pk=pk).values().get()
    row.pop("id")
    row["raw_body"] = bytes(row["raw_body"])
    return row


def test_the_row_is_the_one_the_orm_writes():
    by_orm = WebhookEvent.objects.create(**delivery_fields(fingerprint="cd" * 32))
    by_hand = insert_row(obj=WebhookEvent(**delivery_fields()))

    assert by_hand.pk and by_hand.pk != by_orm.pk
    orm_row, hand_row = stored_columns(by_orm.pk), stored_columns(by_hand.pk)
    assert orm_row.pop("fingerprint") == "cd" * 32
    assert hand_row.pop("fingerprint") == "ab" * 32
    assert hand_row == orm_row
    assert hand_row["status"] == WebhookEventStatus.RECEIVED  # the model's defaults apply
    assert hand_row["raw_body"] == b'{"triggerEvent":"BOOKING_CREATED"}\x00\xff'


def test_one_statement_and_an_instance_that_behaves_as_saved():
    with CaptureQueriesContext(connection) as queries:
        event = insert_row(obj=WebhookEvent(**delivery_fields()))
    assert len(queries) == 1
    assert queries[0]["sql"].upper().startswith("INSERT")

    assert event._state.adding is False and event._state.db == "default"
    WebhookEvent.objects.filter(pk=event.pk).update(status=WebhookEventStatus.PROCESSED)
    event.refresh_from_db(fields=["status"])
    assert event.status == WebhookEventStatus.PROCESSED


def test_a_unique_index_violation_is_djangos_integrity_error_and_the_transaction_survives():
    insert_row(obj=WebhookEvent(**delivery_fields()))
    with transaction.atomic():
        with pytest.raises(IntegrityError), transaction.atomic():
            insert_row(obj=WebhookEvent(**delivery_fields()))  # same fingerprint, both originals
        assert WebhookEvent.objects.count() == 1
    assert WebhookEvent.objects.count() == 1


def test_nothing_listens_to_webhook_event_saves():
    """insert_row sends no signals (decision 0018): a receiver would silently miss every delivery."""
    assert not pre_save.has_listeners(WebhookEvent)
    assert not post_save.has_listeners(WebhookEvent)
