"""Send realistic, signed Cal.com deliveries to our endpoint, like `stripe trigger`: one trigger,
or with --story a whole booking (created, paid, ended, a no-show marked and taken back)."""

import json

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from calcom.samples import (
    BOOKING_STORY,
    booking_story_bodies,
    build_sample_webhook_body,
    encode_webhook_body,
    new_sample_booking,
    post_sample_webhook,
)
from calcom.triggers import DELIVERABLE_TRIGGERS
from common.envfile import env_file_path
from webhooks.ingest import webhook_secrets


class Command(BaseCommand):
    help = (
        "Build a Cal.com webhook body for TRIGGER (fresh uid and createdAt), sign it with the "
        "configured secret and POST it to PUBLIC_BASE_URL + the webhook path (or --url). "
        "Reuse --uid to walk one booking through created, rescheduled, cancelled … or play a "
        "whole booking with --story. Secret and URL come from the environment or .env, as the "
        "server's do."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "trigger",
            nargs="?",
            type=str.upper,
            choices=DELIVERABLE_TRIGGERS,
            metavar="TRIGGER",
            help=f"one of: {', '.join(DELIVERABLE_TRIGGERS)}",
        )
        parser.add_argument(
            "--story",
            action="store_true",
            help="play one booking: " + " → ".join(trigger for trigger, _ in BOOKING_STORY),
        )
        parser.add_argument("--url", help="where to post (default: PUBLIC_BASE_URL + webhook path)")
        parser.add_argument("--uid", default="", help="booking uid (default: a fresh one)")
        parser.add_argument("--booking-id", type=int, default=None, help="numeric booking id")
        parser.add_argument(
            "--reschedule-uid",
            default="",
            help="BOOKING_RESCHEDULED: the uid of the booking it replaces",
        )
        parser.add_argument("--attendee-email", default="priya.shah@example.org")
        parser.add_argument(
            "--unsigned",
            action="store_true",
            help="send Cal.com's `no-secret-provided` instead of a signature",
        )
        parser.add_argument("--print-body", action="store_true", help="also print the body sent")
        parser.add_argument("--timeout", type=float, default=10.0, help="seconds (default 10)")

    def handle(self, *args, trigger, story, url, uid, booking_id, reschedule_uid, attendee_email, **options):
        if bool(trigger) == bool(story):
            raise CommandError("give a TRIGGER or --story (not both)")
        url = url or settings.PUBLIC_BASE_URL + settings.WEBHOOK_PATH
        secrets = webhook_secrets()
        secret = "" if options["unsigned"] or not secrets else secrets[0]
        if not secret and not options["unsigned"]:
            self.stdout.write(
                f"note: CAL_COM_WEBHOOK_SECRET is not set (environment or {env_file_path()}): sending "
                "unsigned, which a server with a secret refuses (401)"
            )
        booking = new_sample_booking(
            uid=uid,
            booking_id=booking_id,
            reschedule_uid=reschedule_uid,
            attendee_email=attendee_email.lower(),
        )
        if story:
            bodies = booking_story_bodies(booking=booking, now=timezone.now())
        else:
            bodies = [(trigger, build_sample_webhook_body(trigger=trigger, booking=booking))]
        for step_trigger, body in bodies:
            self._post(
                trigger=step_trigger,
                body=encode_webhook_body(body),
                uid=booking.uid,
                url=url,
                secret=secret,
                **options,
            )
        if story:
            admin = f"{settings.PUBLIC_BASE_URL}/admin/meetings/meeting/?q={booking.uid}"
            self.stdout.write(
                f"story played for booking {booking.uid}: the meeting is completed, paid, with its HITs; "
                f"see {admin}"
            )

    def _post(self, *, trigger: str, body: bytes, uid: str, url: str, secret: str, **options) -> None:
        if options["print_body"]:
            self.stdout.write(body.decode("utf-8"))
        signing = "signed" if secret else "UNSIGNED (no-secret-provided)"
        self.stdout.write(f"POST {url}  {trigger} uid={uid} ({len(body)} bytes, {signing})")
        try:
            answer = post_sample_webhook(body=body, url=url, secret=secret, timeout=options["timeout"])
        except requests.RequestException as exc:
            raise CommandError(
                f"could not reach {url} ({type(exc).__name__}): is the server running (`make run`)? "
                f"The URL is PUBLIC_BASE_URL (or HOST and PORT) from the environment or {env_file_path()}"
            ) from None
        try:
            shown = json.dumps(json.loads(answer.body), ensure_ascii=False)
        except ValueError:
            shown = answer.body.strip()[:2000]
        self.stdout.write(f"<- {answer.status} in {answer.elapsed_ms:.0f} ms  {shown}")
        if answer.status == 401:
            if options["unsigned"]:
                why = "it was sent unsigned (--unsigned) to a server that has a secret"
            elif secret:
                why = "the server's CAL_COM_WEBHOOK_SECRET differs from this command's"
            else:
                why = "the server has a CAL_COM_WEBHOOK_SECRET and this command has none"
            raise CommandError(
                f"the endpoint answered 401, signature refused: {why}; both read "
                f"{env_file_path()} unless the environment sets it"
            )
        if answer.status >= 300:
            raise CommandError(f"the endpoint answered {answer.status}")
