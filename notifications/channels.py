"""The ways a HIT notification reaches people: e-mail, Slack, the log.

Each sender delivers one message to one recipient and raises on failure; the caller
(notifications/services.py) records the outcome on the outbox row and decides about retries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.template.loader import render_to_string

from .content import HitMessage
from .models import NotificationChannel

logger = logging.getLogger("notifications")

# What a Slack or log row names as its recipient: the destination is configuration, and the
# incoming-webhook URL is a credential that must not be copied into rows and the admin.
SLACK_RECIPIENT = "incoming-webhook"
LOG_RECIPIENT = "log"

# Slack's limits: section text 3000 characters, field text 2000, header 150, button URL 3000.
_SLACK_TEXT_LIMIT = 3000
_SLACK_FIELD_LIMIT = 2000
_SLACK_HEADER_LIMIT = 150
_SLACK_URL_LIMIT = 3000


class ChannelNotConfigured(RuntimeError):
    """The channel was switched off or lost its configuration after the row was queued."""


class SlackRejected(RuntimeError):
    """Slack answered, but not with success (bad blocks, revoked webhook, archived channel)."""


class SlackUnreachable(RuntimeError):
    """No answer from Slack: connection refused, DNS, TLS or timeout."""


def send_email(*, recipient: str, message: HitMessage, notification_id: int) -> None:
    context = {"message": message}
    subject = " ".join(render_to_string("notifications/hit_email_subject.txt", context).split())
    email = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("notifications/hit_email.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[recipient],
        headers={"X-VANI-Notification": str(notification_id)},
        # A fresh connection per message, failing loudly: the caller records the error.
        connection=get_connection(fail_silently=False),
    )
    email.attach_alternative(render_to_string("notifications/hit_email.html", context), "text/html")
    email.send()


def send_slack(*, recipient: str, message: HitMessage, notification_id: int) -> None:
    url = settings.HIT_SLACK_WEBHOOK_URL
    if not url:
        raise ChannelNotConfigured("HIT_SLACK_WEBHOOK_URL is not set")
    try:
        response = requests.post(url, json=slack_payload(message=message), timeout=settings.HIT_SLACK_TIMEOUT)
        if response.status_code >= 300:
            # Slack answers with a short reason in the body ("invalid_blocks", "no_service", …).
            raise SlackRejected(f"Slack answered {response.status_code}: {response.text[:300]}")
    except requests.RequestException as exc:
        # requests puts the URL in its messages; the URL's path is the webhook's secret.
        raise SlackUnreachable(mask_slack_url(text=f"{type(exc).__name__}: {exc}", url=url)) from None


def mask_slack_url(*, text: str, url: str) -> str:
    path = urlsplit(url).path
    text = text.replace(url, "<HIT_SLACK_WEBHOOK_URL>")
    return text.replace(path, "/***") if len(path) > 1 else text


def send_log(*, recipient: str, message: HitMessage, notification_id: int) -> None:
    logger.info(
        "HIT %s notification=%s meeting=%s target=%r attendee=%r when=%r amount=%r admin=%s: %s",
        message.kind,
        notification_id,
        message.meeting_id,
        message.target_label,
        message.attendee_label,
        message.when,
        message.amount,
        message.admin_url or "-",
        message.summary,
    )


SENDERS: dict[str, Callable[..., None]] = {
    NotificationChannel.EMAIL: send_email,
    NotificationChannel.SLACK: send_slack,
    NotificationChannel.LOG: send_log,
}


def slack_payload(*, message: HitMessage) -> dict:
    """A Block Kit message: header, one-line summary, the facts as fields, and link buttons."""
    fields = [
        ("Target", message.target_label or "not linked"),
        ("Attendee", message.attendee_label),
        ("When", message.when),
    ]
    if message.amount:
        fields.append(("Amount paid", message.amount))
    if message.organizer_name:
        fields.append(("Organizer", message.organizer_name))
    title = _slack_escape(message.meeting_title)
    if message.admin_url:
        title = f"<{message.admin_url}|{title}>"
    buttons = [
        (label, url)
        for label, url in (
            ("Open in admin", message.admin_url),
            ("Join video", message.video_url),
            ("Recording", message.recording_url),
        )
        if url and len(url) <= _SLACK_URL_LIMIT
    ]
    blocks: list[dict] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": f"{message.emoji} {message.headline}"[:_SLACK_HEADER_LIMIT],
                "emoji": True,
            },
        },
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"*{title}*\n{_slack_escape(message.summary)}"[:_SLACK_TEXT_LIMIT],
            },
        },
        {
            "type": "section",
            "fields": [
                {
                    "type": "mrkdwn",
                    "text": f"*{label}*\n{_slack_escape(value)}"[:_SLACK_FIELD_LIMIT],
                }
                for label, value in fields
            ],
        },
    ]
    if buttons:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": label},
                        "url": url,
                        **({"style": "primary"} if index == 0 else {}),
                    }
                    for index, (label, url) in enumerate(buttons)
                ],
            }
        )
    # `text` is what notifications and clients without Block Kit show; it is mrkdwn too, so
    # booker-controlled names must not carry links or mentions into it.
    text = _slack_escape(f"{message.headline}: {message.summary}")
    return {"text": text[:_SLACK_TEXT_LIMIT], "blocks": blocks}


def _slack_escape(text: str) -> str:
    # Slack's mrkdwn treats these three as control characters.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
