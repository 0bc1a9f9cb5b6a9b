"""Send a realistic, signed Cal.com delivery to our endpoint, like `stripe trigger`."""

import json

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from calcom.samples import (
    build_sample_webhook_body,
    encode_webhook_body,
    new_sample_booking,
    post_sample_webhook,
)
from calcom.triggers import DELIVERABLE_TRIGGERS
from webhooks.ingest import webhook_secrets


class Command(BaseCommand):
    help = (
        "Build a Cal.com webhook body for TRIGGER (fresh uid and createdAt), sign it with the "
        "configured secret and POST it to PUBLIC_BASE_URL + the webhook path (or --url). "
        "Reuse --uid to walk one booking through created, rescheduled, cancelled …"
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "trigger",
            type=str.upper,
            choices=DELIVERABLE_TRIGGERS,
            metavar="TRIGGER",
            help=f"one of: {', '.join(DELIVERABLE_TRIGGERS)}",
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

    def handle(
        self,
        *args,
        trigger,
        url,
        uid,
        booking_id,
        reschedule_uid,
        attendee_email,
        unsigned,
        print_body,
        timeout,
        **options,
    ):
        url = url or settings.PUBLIC_BASE_URL + settings.WEBHOOK_PATH
        secrets = webhook_secrets()
        secret = "" if unsigned or not secrets else secrets[0]
        booking = new_sample_booking(
            uid=uid,
            booking_id=booking_id,
            reschedule_uid=reschedule_uid,
            attendee_email=attendee_email.lower(),
        )
        body = encode_webhook_body(build_sample_webhook_body(trigger=trigger, booking=booking))
        if print_body:
            self.stdout.write(body.decode("utf-8"))
        signing = "signed" if secret else "UNSIGNED (no-secret-provided)"
        self.stdout.write(f"POST {url}  {trigger} uid={booking.uid} ({len(body)} bytes, {signing})")
        try:
            answer = post_sample_webhook(body=body, url=url, secret=secret, timeout=timeout)
        except requests.RequestException as exc:
            raise CommandError(f"could not reach {url}: {exc}") from None
        try:
            shown = json.dumps(json.loads(answer.body), ensure_ascii=False)
        except ValueError:
            shown = answer.body.strip()[:2000]
        self.stdout.write(f"<- {answer.status} in {answer.elapsed_ms:.0f} ms  {shown}")
        if answer.status >= 300:
            raise CommandError(f"the endpoint answered {answer.status}")
