"""Parse Cal.com webhook bodies into a typed, normalised `CalComEvent`.

Cal.com sends two shapes: the envelope
`{triggerEvent, createdAt, payload}` and, for MEETING_STARTED/MEETING_ENDED, a flat body with
the booking at the root. MEETING_* may also come enveloped (the newer MeetingPayloadBuilder);
in both shapes their booking is a raw booking row (`id` and `user`, not `bookingId` and
`organizer`). Every field is optional; dates come in every ISO-8601 form (`Z`, `+00:00`,
`.000Z`) and are read by `calcom.dates`. Text from a Handlebars payload template arrives
HTML-escaped and is unescaped for display (`has_handlebars_escapes`). Pure: no ORM.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from calcom.dates import parse_datetime
from calcom.triggers import (
    FLAT_TRIGGERS,
    GUESTS_NO_SHOW_TRIGGER,
    HOST_NO_SHOW_TRIGGER,
    NO_SHOW_UPDATED_TRIGGER,
)

# JSON may escape half of a surrogate pair (`\ud83d`); no database driver can encode it.
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")
# ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
_INTEGER = re.compile(r"-?[0-9]{1,19}")
# Meeting.payment_amount is a 32-bit integer column.
_PRICE_RANGE = range(-(2**31), 2**31)
# Handlebars' escapeExpression, which a custom payload template applies to every `{{value}}`;
# Cal.com's sendPayload.ts turns only `&quot;` back. `&amp;` last, so `&amp;lt;` stays `&lt;`.
_HANDLEBARS_ESCAPES = (
    ("&quot;", '"'),
    ("&#x27;", "'"),
    ("&#x60;", "`"),
    ("&#x3D;", "="),
    ("&lt;", "<"),
    ("&gt;", ">"),
    ("&amp;", "&"),
)
_HANDLEBARS_ENTITY = re.compile(rb"&(?:#x27|#x60|#x3D|lt|gt|amp);")


class UnusableBody(ValueError):
    """A signed body we cannot use; the message names the problem (answered 400, stored ignored)."""


@dataclass(frozen=True)
class Attendee:
    email: str
    name: str = ""


@dataclass(frozen=True)
class CalComEvent:
    trigger: str
    created_at: datetime | None  # envelope createdAt (signed); None for flat bodies
    uid: str = ""
    booking_id: int | None = None
    reschedule_uid: str = ""
    reschedule_id: int | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    title: str = ""
    cal_status: str = ""
    attendees: tuple[Attendee, ...] = ()
    organizer_name: str = ""
    organizer_email: str = ""
    location: str = ""
    video_url: str = ""
    cancellation_reason: str = ""
    request_reschedule: bool = False
    payment_id: str = ""
    price: int | None = None
    currency: str = ""
    no_show_marks: tuple[tuple[str, bool], ...] = ()
    # AFTER_HOSTS_CAL_VIDEO_NO_SHOW: the host did not join the Cal Video call (and who it was).
    host_no_show: bool = False
    host_email: str = ""
    recording_url: str = ""
    transcript_urls: tuple[str, ...] = ()
    is_flat: bool = False
    # Values dropped because the database could not hold them, said on the processed event.
    notes: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def occurred_at(self) -> datetime | None:
        """When the event happened, for ordering. MEETING_* bodies are built when the booking is
        confirmed and sent unchanged by Cal.com's cron (scheduleTrigger.ts), so neither shape
        carries the moment they fire at: that is the scheduled start/end."""
        if self.trigger == "MEETING_ENDED":
            return self.end_time or self.created_at
        if self.trigger == "MEETING_STARTED":
            return self.start_time or self.created_at
        return self.created_at

    @property
    def attendee(self) -> Attendee | None:
        return self.attendees[0] if self.attendees else None


def decode_body(raw: bytes) -> dict[str, Any]:
    """JSON-decode a raw body into the root object, or raise UnusableBody naming the problem."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnusableBody(f"body is not valid UTF-8 (byte {exc.start})") from None
    if not text.strip():
        raise UnusableBody("body is empty")
    try:
        root = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise UnusableBody(f"body is not valid JSON: {exc}") from None
    if root is False:
        raise UnusableBody(
            "body is the literal `false`: a Cal.com custom payload template rendered invalid JSON"
        )
    if not isinstance(root, dict):
        raise UnusableBody(f"body is a JSON {type(root).__name__}, expected an object")
    trigger = root.get("triggerEvent")
    if not isinstance(trigger, str) or not _text(trigger):
        raise UnusableBody("body has no `triggerEvent` string")
    return root


def has_handlebars_escapes(raw: bytes) -> bool:
    """Whether a body carries the HTML entities a Handlebars payload template writes.

    Cal.com's default body is `JSON.stringify` output, which never escapes `'`, `&`, `<` or `>`;
    these entities mean an operator added a custom template in Cal.com's UI.
    """
    return _HANDLEBARS_ENTITY.search(raw) is not None


def parse_event(root: dict[str, Any], *, handlebars_escaped: bool = False) -> CalComEvent:
    """Normalise a decoded body (from `decode_body`) into a CalComEvent.

    `handlebars_escaped` (see `has_handlebars_escapes`): the body came through a custom payload
    template, so its text fields are unescaped for display.
    """
    event = _parse_event(root)
    return _unescaped(event) if handlebars_escaped else event


def _parse_event(root: dict[str, Any]) -> CalComEvent:
    trigger = _text(root["triggerEvent"])
    payload = root.get("payload")
    is_flat = trigger in FLAT_TRIGGERS and not isinstance(payload, dict)
    if is_flat:
        booking = root
        created_at = None
    else:
        booking = payload if isinstance(payload, dict) else {}
        created_at = parse_datetime(root.get("createdAt"))
    # MEETING_* carry a raw booking row, flat or enveloped (MeetingPayloadBuilder).
    is_booking_row = trigger in FLAT_TRIGGERS

    attendees = tuple(
        Attendee(email=_text(a.get("email")).lower(), name=_text(a.get("name")))
        for a in _list(booking.get("attendees"))
        if isinstance(a, dict) and _text(a.get("email"))
    )
    organizer: dict[str, Any] = booking["organizer"] if isinstance(booking.get("organizer"), dict) else {}
    if is_booking_row and not organizer and isinstance(booking.get("user"), dict):
        organizer = booking["user"]
    if not attendees and isinstance(booking.get("responses"), dict):
        attendees = _attendee_from_responses(booking["responses"])

    booking_id = _int(booking.get("bookingId"))
    if booking_id is None and is_booking_row:
        booking_id = _int(booking.get("id"))
    uid = _text(booking.get("uid")) or _text(booking.get("bookingUid"))
    recording_url, transcript_urls = _recording_links(booking)
    notes = []
    price = _int(booking.get("price"))
    if price is not None and price not in _PRICE_RANGE:
        notes.append(f"price {price} is outside the storable range; dropped")
        price = None

    return CalComEvent(
        trigger=trigger,
        created_at=created_at,
        uid=uid,
        booking_id=booking_id,
        reschedule_uid=_text(booking.get("rescheduleUid")) or _text(booking.get("fromReschedule")),
        reschedule_id=_int(booking.get("rescheduleId")),
        start_time=parse_datetime(booking.get("startTime")),
        end_time=parse_datetime(booking.get("endTime")),
        title=_text(booking.get("title"))[:500],
        cal_status=_text(booking.get("status")).upper()[:20],
        attendees=attendees,
        organizer_name=_text(organizer.get("name"))[:255],
        organizer_email=_text(organizer.get("email")).lower()[:254],
        location=_text(booking.get("location"))[:1000],
        video_url=_video_url(booking)[:2000],
        cancellation_reason=(
            _text(booking.get("cancellationReason")) or _text(booking.get("rejectionReason"))
        ),
        request_reschedule=booking.get("requestReschedule") is True
        or booking.get("rescheduleRequested") is True,
        payment_id=_text(booking.get("paymentId"))[:100],
        price=price,
        currency=_text(booking.get("currency")).upper()[:10],
        no_show_marks=_no_show_marks(trigger=trigger, payload=booking),
        host_no_show=trigger == HOST_NO_SHOW_TRIGGER and booking.get("noShowHost") is not False,
        host_email=_text(booking.get("hostEmail")).lower()[:254] if trigger == HOST_NO_SHOW_TRIGGER else "",
        recording_url=recording_url[:2000],
        transcript_urls=transcript_urls,
        is_flat=is_flat,
        notes=tuple(notes),
    )


def _no_show_marks(*, trigger: str, payload: dict[str, Any]) -> tuple[tuple[str, bool], ...]:
    """(lower-cased e-mail, marked) pairs a no-show trigger sets.

    BOOKING_NO_SHOW_UPDATED lists the attendees the host marked or unmarked. Cal Video's
    AFTER_GUESTS_CAL_VIDEO_NO_SHOW names the guests who did not join in `guests` (rows or
    e-mails); its `attendees` are read before Cal.com marks them, so without `guests` they count
    when flagged `noShow` or absent from the call's `participants`.
    """
    if trigger == NO_SHOW_UPDATED_TRIGGER:
        return tuple(
            (_text(a.get("email")).lower(), a.get("noShow") is True)
            for a in _list(payload.get("attendees"))
            if isinstance(a, dict) and _text(a.get("email")) and isinstance(a.get("noShow"), bool)
        )
    if trigger != GUESTS_NO_SHOW_TRIGGER:
        return ()
    if "guests" in payload:
        emails = [
            _text(g.get("email") if isinstance(g, dict) else g).lower() for g in _list(payload["guests"])
        ]
    else:
        attendees = [a for a in _list(payload.get("attendees")) if isinstance(a, dict)]
        joined = {
            _text(p.get("email")).lower() for p in _list(payload.get("participants")) if isinstance(p, dict)
        }
        emails = [_text(a.get("email")).lower() for a in attendees if a.get("noShow") is True]
        emails = emails or [
            email for email in (_text(a.get("email")).lower() for a in attendees) if email not in joined
        ]
    return tuple((email[:254], True) for email in dict.fromkeys(emails) if email)


def _unescaped(event: CalComEvent) -> CalComEvent:
    """The event with its text fields unescaped (Handlebars template output)."""
    return replace(
        event,
        title=unescape_handlebars(event.title),
        attendees=tuple(
            Attendee(email=unescape_handlebars(a.email), name=unescape_handlebars(a.name))
            for a in event.attendees
        ),
        organizer_name=unescape_handlebars(event.organizer_name),
        organizer_email=unescape_handlebars(event.organizer_email),
        location=unescape_handlebars(event.location),
        video_url=unescape_handlebars(event.video_url),
        cancellation_reason=unescape_handlebars(event.cancellation_reason),
        recording_url=unescape_handlebars(event.recording_url),
        transcript_urls=tuple(unescape_handlebars(url) for url in event.transcript_urls),
        no_show_marks=tuple((unescape_handlebars(email), mark) for email, mark in event.no_show_marks),
        host_email=unescape_handlebars(event.host_email),
    )


def unescape_handlebars(text: str) -> str:
    """Undo Handlebars' escapeExpression (what a custom template does to each value)."""
    if "&" not in text:
        return text
    for entity, char in _HANDLEBARS_ESCAPES:
        text = text.replace(entity, char)
    return text


def _text(value: Any) -> str:
    if isinstance(value, str):
        # NUL is valid JSON (\u0000) but PostgreSQL text cannot hold it: storing it would fail
        # the delivery (500) on every retry. It carries no meaning in any Cal.com field.
        value = value.replace("\x00", "")
        if not value.isascii():
            value = _LONE_SURROGATE.sub("\ufffd", value)
        return value.strip()
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, (int, float)):
        return str(value)
    return ""


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else None
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return _int(int(value.strip()))
    return None


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _video_url(booking: dict[str, Any]) -> str:
    metadata = booking.get("metadata")
    if isinstance(metadata, dict) and _text(metadata.get("videoCallUrl")):
        return _text(metadata["videoCallUrl"])
    video = booking.get("videoCallData")
    if isinstance(video, dict) and _text(video.get("url")):
        return _text(video["url"])
    location = _text(booking.get("location"))
    return location if location.startswith(("https://", "http://")) else ""


def _recording_links(booking: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    recording = _text(booking.get("downloadLink"))
    transcripts: list[str] = []
    links = booking.get("downloadLinks")
    if isinstance(links, dict):
        recording = recording or _text(links.get("recording"))
        for item in _list(links.get("transcription")):
            if isinstance(item, dict) and _text(item.get("link")):
                transcripts.append(_text(item["link"])[:2000])
    return recording, tuple(transcripts)


def _attendee_from_responses(responses: dict[str, Any]) -> tuple[Attendee, ...]:
    def value(key: str) -> str:
        entry = responses.get(key)
        return _text(entry.get("value") if isinstance(entry, dict) else entry)

    email = value("email")
    return (Attendee(email=email.lower(), name=value("name")),) if email else ()
