"""What a stored Cal.com body is: unusable, a PING, an unknown trigger, or an event to apply.

One decision, made the same way when a delivery is stored (settled at the door when there is
nothing to apply) and when it is processed or reprocessed (the stored body is judged again,
so a parser fix or a newly known trigger takes effect on replay).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from calcom.parsing import CalComEvent, UnusableBody, decode_body, has_handlebars_escapes, parse_event
from calcom.triggers import PING
from meetings.status_mapping import KNOWN_TRIGGERS

FORM_ENCODED = "application/x-www-form-urlencoded"
PING_REASON = "PING: Cal.com test delivery, nothing to apply"


class BodyKind(str, Enum):
    UNUSABLE = "unusable"  # not a Cal.com event we can read (the reason says why)
    PING = "ping"  # Cal.com's test delivery: nothing to apply, counts as processed
    UNKNOWN_TRIGGER = "unknown trigger"  # readable, but no rule in the status table
    EVENT = "event"  # to be applied to its meeting


@dataclass(frozen=True)
class ClassifiedBody:
    kind: BodyKind
    reason: str = ""  # why there is nothing to apply ("" for an event)
    event: CalComEvent | None = None  # None only when unusable


def classify_body(*, raw_body: bytes, content_type: str) -> ClassifiedBody:
    """Judge a signed body by its bytes. A parser bug is not caught here: callers decide what it
    costs.

    The label does not decide: Cal.com's newer delivery pipeline (WebhookService) sends its
    default JSON envelope labelled `application/x-www-form-urlencoded` when the webhook has a
    template that is not JSON. A body that is a JSON object with a `triggerEvent` is a JSON
    delivery whatever its Content-Type; only a form-labelled body that is not one is refused.
    """
    try:
        root = decode_body(raw_body)
    except UnusableBody as exc:
        if content_type.split(";")[0].strip().lower() == FORM_ENCODED:
            return ClassifiedBody(
                kind=BodyKind.UNUSABLE,
                reason=(
                    "body is form-encoded (a Cal.com custom payload template that is not JSON); "
                    "configure the webhook without a template or with a JSON one"
                ),
            )
        return ClassifiedBody(kind=BodyKind.UNUSABLE, reason=str(exc))
    try:
        parsed = parse_event(root, handlebars_escaped=has_handlebars_escapes(raw_body))
    except UnusableBody as exc:
        return ClassifiedBody(kind=BodyKind.UNUSABLE, reason=str(exc))
    if parsed.trigger == PING:
        return ClassifiedBody(kind=BodyKind.PING, reason=PING_REASON, event=parsed)
    if parsed.trigger not in KNOWN_TRIGGERS:
        return ClassifiedBody(
            kind=BodyKind.UNKNOWN_TRIGGER,
            reason=f"unknown trigger {parsed.trigger!r}",
            event=parsed,
        )
    return ClassifiedBody(kind=BodyKind.EVENT, event=parsed)
