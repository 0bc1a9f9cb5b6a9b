"""The meeting page's head: the meeting's story (status, time, people, payment) and its timeline,
shown above the raw fields."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.safestring import SafeString

from console.filters import event_list_url
from console.timeline import meeting_timeline_items
from console.widgets import MEETING_STATUS_COLOURS, PAYMENT_COLOURS, badge, local_time, money
from meetings.models import Meeting, PaymentStatus
from webhooks import selectors


def payment_badge(*, meeting: Meeting) -> SafeString:
    """ "Paid $150.00", "Payment pending €80.00" or "No payment", as a badge."""
    label = meeting.get_payment_status_display()
    if meeting.payment_status != PaymentStatus.NONE and meeting.payment_amount is not None:
        label = f"{label} {money(minor_units=meeting.payment_amount, currency=meeting.payment_currency)}"
    return badge(
        label=label,
        colour=PAYMENT_COLOURS.get(meeting.payment_status, "#9ca3af"),
        css_class=f"payment-{meeting.payment_status}",
    )


@dataclass(frozen=True)
class MeetingStory:
    status: SafeString
    when: str
    people: list[tuple[str, str]]  # (role, who)
    no_shows: list[str]
    payment: SafeString
    paid_at: str
    where: str
    video_url: str
    recording_url: str
    events_url: str


def _when(meeting: Meeting) -> str:
    if meeting.start_time is None:
        return "time not known"
    start = local_time(meeting.start_time, fmt="D j M Y, H:i")
    if meeting.end_time is None:
        return f"{start} {local_time(meeting.start_time, fmt='T')}"
    return f"{start}–{local_time(meeting.end_time, fmt='H:i T')}"


def _person(name: str, email: str) -> str:
    if name and email:
        return f"{name} <{email}>"
    return name or email


def meeting_story(*, meeting: Meeting) -> MeetingStory:
    people = [
        ("Attendee", _person(meeting.attendee_name, meeting.attendee_email)),
        ("Organizer", _person(meeting.organizer_name, meeting.organizer_email)),
    ]
    if meeting.target is not None:
        target = meeting.target
        owner = f", owner {target.owner}" if target.owner_id else ""
        company = f" ({target.company})" if target.company else ""
        people.append(("Target", f"{_person(target.name, target.email)}{company}{owner}"))
    return MeetingStory(
        status=badge(
            label=meeting.get_status_display(),
            colour=MEETING_STATUS_COLOURS.get(meeting.status, "#6b7280"),
            css_class=f"meeting-{meeting.status}",
        ),
        when=_when(meeting),
        people=[(role, who) for role, who in people if who],
        no_shows=list(meeting.no_show_emails or []),
        payment=payment_badge(meeting=meeting),
        paid_at=local_time(meeting.paid_at, fmt="j M Y, H:i T") if meeting.paid_at else "",
        where=meeting.location,
        video_url=meeting.video_url if meeting.video_url.startswith(("https://", "http://")) else "",
        recording_url=(
            meeting.recording_url if meeting.recording_url.startswith(("https://", "http://")) else ""
        ),
        events_url=event_list_url(q=meeting.cal_event_id),
    )


def meeting_page_context(*, meeting: Meeting) -> dict[str, object]:
    return {
        "story": meeting_story(meeting=meeting),
        "timeline": meeting_timeline_items(meeting_id=meeting.pk),
        "timeline_limit": selectors.TIMELINE_LIMIT,
    }
