"""Bodies Cal.com's own code produces, delivered through the real endpoint (issue #14).

Cal Video's no-show checks, the enveloped MEETING_* body, a JSON envelope labelled form-encoded
and Handlebars-escaped template text. Each test names the Cal.com source that builds its body.
"""

from __future__ import annotations

import pytest

from calcom.bodies import handlebars_escaped
from meetings.models import Meeting
from meetings.status_mapping import HANDLED_TRIGGERS, STATUS_TABLE, Effect
from tests.support.bodies import (
    at,
    booking_body,
    cal_video_no_show_body,
    compact,
    meeting_ended_body,
    meeting_envelope_body,
)
from webhooks.models import WebhookEvent

pytestmark = pytest.mark.django_db(transaction=True)

FORM = "application/x-www-form-urlencoded"
GUEST = "priya.shah@example.org"  # the attendee of the booking samples
HOST = "alex@rivera-consulting.com"  # hostEmail of the AFTER_HOSTS sample


def only_meeting() -> Meeting:
    assert Meeting.objects.count() == 1
    return Meeting.objects.get()


def booked(deliver, *, uid: str = "A", booking_id: int = 7) -> None:
    deliver(booking_body("BOOKING_CREATED", uid=uid, created=at(0), booking_id=booking_id, start=at(60)))


# --- 1. Cal Video's automatic no-shows ----------------------------------------------------------


def test_guests_no_show_makes_the_meeting_a_no_show_with_the_guests_marked(deliver):
    """AFTER_GUESTS_CAL_VIDEO_NO_SHOW as the tasker's no-show check sends it
    (packages/features/tasker/tasks/triggerNoShow, through sendGenericWebhookPayload in
    packages/features/webhooks/lib/sendPayload.ts): `attendees` read before Cal.com marks them
    (noShow false), the guests who did not join in `guests`. No BOOKING_NO_SHOW_UPDATED
    follows, so this body is the only news of the no-show."""
    booked(deliver)
    body = cal_video_no_show_body("AFTER_GUESTS_CAL_VIDEO_NO_SHOW", uid="A", booking_id=7, created=at(65))
    assert body["payload"]["attendees"][0]["noShow"] is False

    response = deliver(body)

    assert response.status_code == 200 and response.json()["status"] == "processed"
    meeting = only_meeting()
    assert meeting.status == "no_show"
    assert meeting.no_show_emails == [GUEST]
    last_change = meeting.status_changes.last()
    assert (last_change.from_status, last_change.to_status) == ("scheduled", "no_show")
    # MEETING_ENDED (scheduleTrigger.ts: sent at the end time, no attendance check) keeps it.
    deliver(meeting_ended_body(uid="A", booking_id=7, start=at(60)))
    assert only_meeting().status == "no_show"


def test_guests_no_show_without_a_guests_list_reads_the_participants(deliver):
    """The older no-show check sends no `guests`: the attendees who are not among the call's
    `participants` are the ones who did not join (triggerNoShow's guest check)."""
    booked(deliver)
    body = cal_video_no_show_body("AFTER_GUESTS_CAL_VIDEO_NO_SHOW", uid="A", booking_id=7, created=at(65))
    del body["payload"]["guests"]
    body["payload"]["participants"] = []

    deliver(body)

    meeting = only_meeting()
    assert meeting.status == "no_show" and meeting.no_show_emails == [GUEST]


def test_guests_no_show_that_is_the_first_news_of_a_booking_creates_it_as_a_no_show(deliver):
    """Sent by the generic sender with `bookingUid`/`bookingId` only (no `uid`)."""
    deliver(cal_video_no_show_body("AFTER_GUESTS_CAL_VIDEO_NO_SHOW", uid="A", booking_id=7, created=at(65)))
    meeting = only_meeting()
    assert meeting.cal_event_id == "A" and meeting.cal_booking_id == 7
    assert meeting.status == "no_show" and meeting.no_show_emails == [GUEST]


def test_host_no_show_is_flagged_on_the_meeting_and_said_in_the_timeline(deliver):
    """AFTER_HOSTS_CAL_VIDEO_NO_SHOW (triggerNoShow's host check through
    sendGenericWebhookPayload): `hostEmail` and `noShowHost: true`; Cal.com then sets
    `noShowHost` on its booking and sends nothing more. The status stays, the flag shows."""
    booked(deliver)
    body = cal_video_no_show_body("AFTER_HOSTS_CAL_VIDEO_NO_SHOW", uid="A", booking_id=7, created=at(65))

    response = deliver(body)

    assert response.status_code == 200 and response.json()["status"] == "processed"
    meeting = only_meeting()
    assert meeting.host_no_show is True
    assert meeting.status == "scheduled" and meeting.no_show_emails == []
    event = WebhookEvent.objects.get(pk=response.json()["event_id"])
    assert event.meeting_id == meeting.pk
    assert event.status_reason == f"host no-show recorded: {HOST} did not join the Cal Video call"


def test_both_cal_video_no_show_triggers_are_handled_and_subscribed():
    """Both are members of Cal.com's WebhookTriggerEvents (packages/prisma/schema.prisma) and
    change meetings, so register_calcom_webhooks subscribes to them."""
    assert STATUS_TABLE["AFTER_GUESTS_CAL_VIDEO_NO_SHOW"].effect is Effect.GUESTS_NO_SHOW
    assert STATUS_TABLE["AFTER_HOSTS_CAL_VIDEO_NO_SHOW"].effect is Effect.HOST_NO_SHOW
    assert {"AFTER_GUESTS_CAL_VIDEO_NO_SHOW", "AFTER_HOSTS_CAL_VIDEO_NO_SHOW"} <= set(HANDLED_TRIGGERS)


# --- 3. MEETING_* in the MeetingPayloadBuilder's envelope ---------------------------------------


def test_enveloped_meeting_ended_names_its_booking_id_and_organizer(deliver):
    """The newer MeetingPayloadBuilder (factory/versioned/v2021-10-20/MeetingPayloadBuilder.ts)
    wraps the raw booking row: `{triggerEvent, createdAt, payload: {id, uid, user, ...}}`, no
    `bookingId` and no `organizer`. A meeting first heard of this way gets both."""
    body = meeting_envelope_body(uid="A", booking_id=987654, created=at(-600), start=at(60))
    assert "bookingId" not in body["payload"] and "organizer" not in body["payload"]

    response = deliver(body)

    assert response.status_code == 200 and response.json()["status"] == "processed"
    meeting = only_meeting()
    assert meeting.cal_booking_id == 987654
    assert (meeting.organizer_name, meeting.organizer_email) == ("Alex Rivera", HOST)
    assert meeting.status == "completed"


def test_enveloped_meeting_ended_is_ordered_by_the_end_time_not_its_stale_created_at(deliver):
    """The body is stored when the booking is confirmed and sent unchanged at the end time
    (scheduleTrigger.ts), so its createdAt is older than the booking's other events; it must
    still complete the meeting, found by its `id`."""
    deliver(booking_body("BOOKING_CREATED", uid="A", created=at(0), booking_id=987654, start=at(60)))
    body = meeting_envelope_body(uid="A", booking_id=987654, created=at(-1), start=at(60))
    del body["payload"]["uid"]  # found by the row's `id` alone

    deliver(body)

    meeting = only_meeting()
    assert meeting.status == "completed" and meeting.organizer_email == HOST


# --- 4. A JSON envelope labelled form-encoded -----------------------------------------------------


def test_a_signed_json_envelope_labelled_form_encoded_is_a_json_delivery(deliver):
    """Cal.com's new pipeline (WebhookService.sendWebhookDirectly) sends its default JSON
    envelope but takes the Content-Type from sendPayload.ts's rule: a webhook whose template is
    not JSON gets `application/x-www-form-urlencoded`. The bytes decide, not the label."""
    body = booking_body("BOOKING_CREATED", uid="A", created=at(0), booking_id=7, start=at(60))

    response = deliver(body, content_type=FORM)

    assert response.status_code == 200 and response.json()["status"] == "processed"
    assert only_meeting().status == "scheduled"


def test_a_real_form_encoded_template_body_is_still_refused_400(deliver):
    """A non-JSON template renders whatever text it holds (sendPayload.ts applyTemplate)."""
    response = deliver(b"title=Intro+call&attendee=Priya", content_type=FORM)
    assert response.status_code == 400
    assert "form-encoded" in response.json()["error"]


# --- 5. Handlebars-escaped template text ---------------------------------------------------------


def test_handlebars_escaped_text_is_stored_unescaped_and_the_raw_body_stays_exact(deliver):
    """A custom JSON template is rendered by Handlebars, which HTML-escapes each value; Cal.com
    restores only `&quot;` (sendPayload.ts applyTemplate), so O'Brien arrives as O&#x27;Brien."""
    body = booking_body("BOOKING_CREATED", uid="A", created=at(0), booking_id=7, start=at(60))
    payload = body["payload"]
    payload["title"] = handlebars_escaped("Intro: Smith & O'Brien <Q3>")
    payload["attendees"][0]["name"] = handlebars_escaped("Seán O'Brien")
    payload["organizer"]["name"] = handlebars_escaped('Alex "AJ" Rivera')
    raw = compact(body)
    assert b"O&#x27;Brien" in raw and b"&amp;" in raw

    response = deliver(raw)

    assert response.status_code == 200
    meeting = only_meeting()
    assert meeting.title == "Intro: Smith & O'Brien <Q3>"
    assert meeting.attendee_name == "Seán O'Brien"
    assert meeting.organizer_name == 'Alex "AJ" Rivera'
    assert bytes(WebhookEvent.objects.get(pk=response.json()["event_id"]).raw_body) == raw
