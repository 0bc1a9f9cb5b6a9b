"""`manage.py register_calcom_webhooks`: point Cal.com's webhook at this service, idempotently.

Parses options, calls webhooks/subscription.py and prints; every decision lives there and in
the pure plan it uses (calcom/registration.py).
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from django.core.management.base import BaseCommand, CommandError, CommandParser

from calcom.api.client import CalComClient, CalComError
from calcom.api.webhooks import CalComWebhook
from calcom.registration import (
    PlanAction,
    RegistrationError,
    parse_triggers,
    same_subscriber_url,
)
from webhooks.subscription import (
    RegistrationOutcome,
    build_desired_webhook,
    default_subscriber_url,
    delete_our_webhooks,
    fetch_webhooks,
    register_webhook,
    template_warning,
    webhook_signing_secret,
)


class Command(BaseCommand):
    help = (
        "Register (create or update in place) the Cal.com webhook that delivers to this "
        "service; --list shows the account's webhooks, --delete removes ours."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--url",
            help="subscriber URL (default: PUBLIC_BASE_URL + /api/webhooks/cal-com)",
        )
        parser.add_argument(
            "--triggers",
            help="comma-separated Cal.com triggers to subscribe to (default: every one we handle)",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="print what would change and write nothing",
        )
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--list", action="store_true", help="list every webhook on the account (secrets masked)"
        )
        mode.add_argument("--delete", action="store_true", help="delete the webhook pointing at our URL")

    def handle(self, *args, **options) -> None:
        try:
            if options["list"]:
                self._list(
                    subscriber_url=options["url"] or default_subscriber_url(),
                    show_trigger_names=options["verbosity"] >= 2,
                )
            elif options["delete"]:
                self._delete(
                    subscriber_url=options["url"] or default_subscriber_url(),
                    dry_run=options["dry_run"],
                )
            else:
                self._register(
                    subscriber_url=options["url"],
                    raw_triggers=options["triggers"],
                    dry_run=options["dry_run"],
                )
        except (CalComError, RegistrationError) as exc:
            # One line on stderr and exit status 1, never a traceback (Django prints CommandError).
            raise CommandError(" ".join(str(exc).split())) from None

    # -- modes -----------------------------------------------------------------------------

    def _register(self, *, subscriber_url: str | None, raw_triggers: str | None, dry_run: bool) -> None:
        triggers = parse_triggers(raw=raw_triggers) if raw_triggers is not None else None
        # Safety refusals happen here, before any request to Cal.com.
        desired, warnings = build_desired_webhook(subscriber_url=subscriber_url, triggers=triggers)
        for warning in warnings:
            self._warn(warning)
        client = CalComClient.from_settings()
        self.stdout.write(f"Cal.com API:     {client.api_url}")
        self.stdout.write(f"Subscriber URL:  {desired.subscriber_url}")
        self.stdout.write(
            f"Signing secret:  {desired.secret_setting if desired.secret else 'none configured'}"
        )

        outcome = register_webhook(client=client, desired=desired, dry_run=dry_run)
        plan = outcome.plan
        self.stdout.write(f"API version:     {outcome.api_version}")
        for warning in plan.warnings:
            self._warn(warning)
        if outcome.api_version == "v1" and plan.webhook is not None:
            self._warn(
                "API v1 does not report whether the webhook is active or its secret, "
                "so both are always written"
            )

        if plan.action is PlanAction.NOTHING:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Nothing to do: webhook {plan.webhook.id} is already up to date "
                    f"({_summary(webhook=plan.webhook)})."
                )
            )
            return

        if plan.action is PlanAction.CREATE:
            self.stdout.write("Plan: create a new webhook")
        else:
            self.stdout.write(f"Plan: update webhook {plan.webhook.id} in place")
        self._table(
            headers=("FIELD", "CURRENT", "DESIRED"),
            rows=[(change.field, change.current, change.desired) for change in plan.changes],
        )
        if dry_run:
            self.stdout.write("Dry run: nothing was written to Cal.com.")
            return
        self._report_applied(outcome=outcome)

    def _report_applied(self, *, outcome: RegistrationOutcome) -> None:
        # A create or an update always returns the webhook as Cal.com now has it.
        webhook = outcome.webhook
        assert webhook is not None
        verb = "Created" if outcome.plan.action is PlanAction.CREATE else "Updated"
        self.stdout.write(self.style.SUCCESS(f"{verb} webhook {webhook.id} ({_summary(webhook=webhook)})."))

    def _list(self, *, subscriber_url: str, show_trigger_names: bool) -> None:
        client = CalComClient.from_settings()
        listing = fetch_webhooks(client=client)
        our_secret, _setting = webhook_signing_secret()
        self.stdout.write(
            f"{len(listing.webhooks)} webhook(s) on {client.api_url} (API {listing.api_version}); "
            f"ours: {subscriber_url}"
        )
        if not listing.webhooks:
            return
        rows = [
            (
                hook.id,
                hook.subscriber_url,
                "?" if hook.active is None else ("yes" if hook.active else "no"),
                ", ".join(hook.triggers) if show_trigger_names else str(len(hook.triggers)),
                _masked_secret(webhook=hook, our_secret=our_secret),
                "yes" if same_subscriber_url(hook.subscriber_url, subscriber_url) else "",
            )
            for hook in listing.webhooks
        ]
        self._table(headers=("ID", "SUBSCRIBER URL", "ACTIVE", "TRIGGERS", "SECRET", "OURS"), rows=rows)
        for hook in listing.webhooks:
            if same_subscriber_url(hook.subscriber_url, subscriber_url) and hook.payload_template:
                self._warn(template_warning(webhook=hook))
        if listing.api_version == "v1":
            self.stdout.write("API v1 does not report 'active' or secrets ('?' / 'n/a').")

    def _delete(self, *, subscriber_url: str, dry_run: bool) -> None:
        client = CalComClient.from_settings()
        outcome = delete_our_webhooks(client=client, subscriber_url=subscriber_url, dry_run=dry_run)
        if not outcome.webhooks:
            self.stdout.write(f"No webhook points at {subscriber_url}; nothing to delete.")
            return
        verb = "Would delete" if dry_run else "Deleted"
        for hook in outcome.webhooks:
            self.stdout.write(self.style.SUCCESS(f"{verb} webhook {hook.id} ({hook.subscriber_url})."))
        if dry_run:
            self.stdout.write("Dry run: nothing was written to Cal.com.")

    # -- output helpers --------------------------------------------------------------------

    def _warn(self, message: str) -> None:
        self.stderr.write(self.style.WARNING(f"warning: {message}"))

    def _table(self, *, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
        for line in (headers, *rows):
            self.stdout.write(
                "  "
                + "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
            )


def _summary(*, webhook: CalComWebhook) -> str:
    if webhook.active is None:
        state = "active not reported by API v1"
    else:
        state = "active" if webhook.active else "inactive"
    secret = (
        "secret unknown"
        if not webhook.reports_active_and_secret
        else ("signed" if webhook.secret else "unsigned")
    )
    return f"{state}, {len(webhook.triggers)} triggers, {secret}"


def _masked_secret(*, webhook: CalComWebhook, our_secret: str) -> str:
    if not webhook.reports_active_and_secret:
        return "n/a"
    if not webhook.secret:
        return "none"
    if our_secret and hmac.compare_digest(webhook.secret.encode(), our_secret.encode()):
        return "**** (ours)"
    return "****"
