"""Helpers for driving the admin console through Django's test client: store deliveries as the
endpoint would, make staff users, post changelist actions, read what the page shows."""

from __future__ import annotations

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from tests.support.bodies import at, booking_body, compact
from webhooks.ingest import record_delivery
from webhooks.models import AttemptTrigger, SignatureResult, WebhookEvent
from webhooks.processing import process_event

EVENTS_URL = reverse("admin:webhooks_webhookevent_changelist")
DASHBOARD_URL = reverse("admin:webhooks_webhookevent_dashboard")
PASSWORD = "pw-for-tests-123"


def booking(
    trigger: str,
    *,
    uid: str,
    minutes: int,
    reschedule_uid: str = "",
    email: str = "priya.shah@example.org",
    **extra,
) -> dict:
    """A booking body created `minutes` after the base time (tests.support.bodies)."""
    return booking_body(
        trigger, uid=uid, created=at(minutes), reschedule_uid=reschedule_uid, attendee_email=email, **extra
    )


def store(body, *, status: str | None = None, signature=SignatureResult.VALID, **fields) -> WebhookEvent:
    """Store a delivery through the real service (processing is not run: no commit in tests),
    then optionally give it the status it would have after a run."""
    raw = body if isinstance(body, bytes) else compact(body)
    event = record_delivery(
        raw_body=raw,
        headers={"Content-Type": "application/json", "X-Cal-Signature-256": "abc"},
        client_ip="3.121.45.10",
        content_type="application/json",
        signature_result=signature,
    ).event
    if status or fields:
        WebhookEvent.objects.filter(pk=event.pk).update(**({"status": status} if status else {}), **fields)
        event.refresh_from_db()
    return event


def processed(body) -> WebhookEvent:
    event = store(body)
    return process_event(event_id=event.pk, via=AttemptTrigger.DELIVERY)


def make_user(username: str, *, staff: bool = True, perms: tuple[str, ...] = ()) -> User:
    user = User.objects.create_user(username=username, password=PASSWORD, is_staff=staff)
    for codename in perms:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return User.objects.get(pk=user.pk)  # fresh permission cache


def listed_ids(response) -> list[int]:
    return [event.pk for event in response.context["cl"].result_list]


def post_action(client, action: str, ids, *, query: str = "", select_across: bool = False, **extra):
    data = {
        "action": action,
        ACTION_CHECKBOX_NAME: [str(i) for i in ids],
        "index": "0",
        "select_across": "1" if select_across else "0",
        **extra,
    }
    return client.post(EVENTS_URL + query, data)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []
