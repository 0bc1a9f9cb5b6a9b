"""What a HIT notification says, independent of the channel that carries it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from babel.numbers import format_currency, format_decimal, get_currency_precision
from django.conf import settings
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import to_locale

from meetings.models import Meeting

from .models import NotificationKind

# Shown as the first words of every subject and Slack header.
_HEADLINES = {
    NotificationKind.PAYMENT_RECEIVED: "Payment received",
    NotificationKind.MEETING_COMPLETED: "Meeting completed",
}
_EMOJI = {
    NotificationKind.PAYMENT_RECEIVED: ":moneybag:",
    NotificationKind.MEETING_COMPLETED: ":white_check_mark:",
}


@dataclass(frozen=True)
class HitMessage:
    kind: str
    headline: str  # "Payment received"
    summary: str  # one sentence: what happened, to whom
    emoji: str  # Slack short code for the header
    meeting_id: int
    meeting_title: str
    target_name: str
    target_company: str
    target_email: str
    attendee_name: str
    attendee_email: str
    organizer_name: str
    start_time: datetime | None
    end_time: datetime | None
    when: str  # "Fri 20 Jun 2025, 16:00–17:00 UTC"
    amount: str  # "$150.00"; empty when there is no payment amount
    admin_url: str
    video_url: str
    recording_url: str

    @property
    def target_label(self) -> str:
        """Who the meeting is with, e.g. "Priya Shah (Acme)"; the attendee when there is no target."""
        name = self.target_name or self.target_email or self.attendee_name or self.attendee_email
        return f"{name} ({self.target_company})" if self.target_company else name

    @property
    def attendee_label(self) -> str:
        if self.attendee_name and self.attendee_email:
            return f"{self.attendee_name} <{self.attendee_email}>"
        return self.attendee_name or self.attendee_email or "unknown"


def build_hit_message(*, meeting: Meeting, kind: str) -> HitMessage:
    """The content of a HIT notification about `meeting` (whose target/owner may be unset)."""
    target = meeting.target
    headline = _HEADLINES.get(kind, str(kind).replace("_", " ").capitalize())
    amount = (
        format_amount(minor_units=meeting.payment_amount, currency=meeting.payment_currency)
        if meeting.payment_amount is not None
        else ""
    )
    message = HitMessage(
        kind=kind,
        headline=headline,
        summary="",
        emoji=_EMOJI.get(kind, ":bell:"),
        meeting_id=meeting.pk,
        meeting_title=meeting.title or f"Booking {meeting.cal_event_id}",
        target_name=target.name if target else "",
        target_company=target.company if target else "",
        target_email=target.email if target else "",
        attendee_name=meeting.attendee_name,
        attendee_email=meeting.attendee_email,
        organizer_name=meeting.organizer_name,
        start_time=meeting.start_time,
        end_time=meeting.end_time,
        when=format_meeting_time(start=meeting.start_time, end=meeting.end_time),
        amount=amount,
        admin_url=meeting_admin_url(meeting_id=meeting.pk),
        video_url=_web_link(meeting.video_url),
        recording_url=_web_link(meeting.recording_url),
    )
    return replace(message, summary=_summary(message=message))


def _summary(*, message: HitMessage) -> str:
    who = message.target_label or message.attendee_label
    if message.kind == NotificationKind.PAYMENT_RECEIVED:
        paid = f"paid {message.amount}" if message.amount else "paid"
        return f"{who} {paid} for “{message.meeting_title}”."
    if message.kind == NotificationKind.MEETING_COMPLETED:
        return f"“{message.meeting_title}” with {who} has taken place."
    return f"{message.headline}: “{message.meeting_title}” with {who}."


def format_amount(*, minor_units: int, currency: str) -> str:
    """Cal.com prices are in the currency's minor units (cents); "$150.00" for 15000 USD.

    The number of minor digits is the currency's own (ISO 4217, via Babel): JPY has none.
    """
    locale = to_locale(settings.LANGUAGE_CODE)
    code = (currency or "").upper()
    if not code:
        return format_decimal(Decimal(minor_units).scaleb(-2), format="#,##0.00", locale=locale)
    major = Decimal(minor_units).scaleb(-get_currency_precision(code))
    return format_currency(major, code, locale=locale)


def format_meeting_time(*, start: datetime | None, end: datetime | None) -> str:
    if start is None:
        return "time not known"
    start_local = timezone.localtime(start)
    text = start_local.strftime("%a %d %b %Y, %H:%M")
    if end is not None:
        end_local = timezone.localtime(end)
        same_day = end_local.date() == start_local.date()
        text += "–" + end_local.strftime("%H:%M" if same_day else "%a %d %b %Y, %H:%M")
    return f"{text} {start_local.tzname()}"


def meeting_admin_url(*, meeting_id: int) -> str:
    """Absolute link to the meeting in the admin; empty while the meeting admin is not installed."""
    try:
        path = reverse("admin:meetings_meeting_change", args=[meeting_id])
    except NoReverseMatch:
        return ""
    return f"{settings.PUBLIC_BASE_URL}{path}"


def _web_link(url: str) -> str:
    # Cal.com puts app identifiers such as "integrations:daily" where a link may be; only real
    # web links are worth a button.
    return url if url.startswith(("https://", "http://")) else ""
