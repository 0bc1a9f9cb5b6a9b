"""The one catalogue of Cal.com webhook triggers VANI knows of.

Every other trigger list in VANI derives from this one: the status table
(`meetings.status_mapping`), the sample bodies (`calcom.samples`), the registration plan
(`calcom.registration`) and the test stub of Cal.com's API.
"""

from __future__ import annotations

# Cal.com's `WebhookTriggerEvents` enum (packages/prisma/schema.prisma): the Prisma enum, then the
# values only the live docs list so far. Cal.com answers 400 to anything else. `PING` is not a
# member: it is the dashboard's test delivery and cannot be subscribed to.
CALCOM_TRIGGER_EVENTS: tuple[str, ...] = (
    "BOOKING_CREATED",
    "BOOKING_PAYMENT_INITIATED",
    "BOOKING_PAID",
    "BOOKING_RESCHEDULED",
    "BOOKING_REQUESTED",
    "BOOKING_CANCELLED",
    "BOOKING_REJECTED",
    "BOOKING_NO_SHOW_UPDATED",
    "FORM_SUBMITTED",
    "MEETING_ENDED",
    "MEETING_STARTED",
    "RECORDING_READY",
    "INSTANT_MEETING",
    "RECORDING_TRANSCRIPTION_GENERATED",
    "OOO_CREATED",
    "AFTER_HOSTS_CAL_VIDEO_NO_SHOW",
    "AFTER_GUESTS_CAL_VIDEO_NO_SHOW",
    "FORM_SUBMITTED_NO_EVENT",
    "ROUTING_FORM_FALLBACK_HIT",
    "DELEGATION_CREDENTIAL_ERROR",
    "WRONG_ASSIGNMENT_REPORT",
    "INSTANT_MEETING_ACCEPTED",
    "BOOKING_LOCATION_UPDATED",
    "BOOKING_REASSIGNED",
    "DELEGATION_CREDENTIAL_SECRET_ROTATED",
    "DELEGATION_CREDENTIAL_SECRET_ROTATION_FAILED",
    "DELEGATION_CREDENTIAL_ROTATION_REQUIRED",
)
# Cal.com rejects these on a user's webhook (only organisation webhooks may carry them).
ORGANIZATION_ONLY_TRIGGERS = frozenset({"DELEGATION_CREDENTIAL_ERROR"})
# The trigger of the dashboard's "Ping test" delivery: sent, but never subscribable.
PING = "PING"
# Every trigger a delivery can carry: the subscribable ones and PING.
DELIVERABLE_TRIGGERS: tuple[str, ...] = (*CALCOM_TRIGGER_EVENTS, PING)
# Sent flat, with the booking at the body's root instead of in `payload` (Cal.com's meeting cron).
FLAT_TRIGGERS = frozenset({"MEETING_STARTED", "MEETING_ENDED"})
# A host marks (or unmarks) attendees as no-show on Cal.com's /bookings/past page.
NO_SHOW_UPDATED_TRIGGER = "BOOKING_NO_SHOW_UPDATED"
# Cal Video's automatic no-show detection. Each fires the webhook's `time`/`timeUnit` after the
# booking's start, a delay set in Cal.com's webhook form only (the v2 API has no field for it).
# Afterwards Cal.com marks the guests `noShow` (or the booking `noShowHost`) in its own database;
# no BOOKING_NO_SHOW_UPDATED follows.
GUESTS_NO_SHOW_TRIGGER = "AFTER_GUESTS_CAL_VIDEO_NO_SHOW"
HOST_NO_SHOW_TRIGGER = "AFTER_HOSTS_CAL_VIDEO_NO_SHOW"
