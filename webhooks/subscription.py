"""VANI's Cal.com webhook subscription: register, delete and describe it (the I/O half).

`register_calcom_webhooks` and the status commands call this module. It reads settings, asks
Cal.com for its webhooks (`calcom.api.webhooks`), lets the pure plan (`calcom.registration`)
decide what to change, and writes the difference. Only the webhook whose subscriber URL is ours
is ever changed or deleted. The triggers VANI acts on come from `meetings.status_mapping`.

Which signing secret we register (`webhook_signing_secret`):
- production (`ENVIRONMENT=production`): `CAL_COM_WEBHOOK_SECRET_PROD` when it is set, otherwise
  `CAL_COM_WEBHOOK_SECRET`; with neither set we refuse to register;
- development: `CAL_COM_WEBHOOK_SECRET` (may be empty: the webhook is then registered unsigned
  and its existing secret, if any, is left alone).
The receiver accepts deliveries signed with either secret, which is what makes rotation safe.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings

from calcom.api.client import (
    ApiVersion,
    CalComClient,
    CalComConflictError,
    CalComError,
    CalComNotFoundError,
    redact,
)
from calcom.api.webhooks import (
    CalComWebhook,
    create_webhook,
    delete_webhook,
    list_webhooks,
    update_webhook,
)
from calcom.registration import (
    DesiredWebhook,
    PlanAction,
    RegistrationError,
    RegistrationPlan,
    desired_webhook,
    find_our_webhooks,
    plan_registration,
    subscribable_triggers,
)
from meetings.status_mapping import HANDLED_TRIGGERS

logger = logging.getLogger(__name__)


# --- What we want, from settings ----------------------------------------------------------------


def default_subscriber_url() -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + settings.WEBHOOK_PATH


def default_triggers() -> tuple[str, ...]:
    """Every trigger the service handles that Cal.com lets us subscribe to."""
    return subscribable_triggers(handled_triggers=HANDLED_TRIGGERS)


def webhook_signing_secret() -> tuple[str, str]:
    """(secret, name of the setting it came from); see the module docstring for the rule."""
    if settings.IS_PRODUCTION and settings.CAL_COM_WEBHOOK_SECRET_PROD:
        return settings.CAL_COM_WEBHOOK_SECRET_PROD, "CAL_COM_WEBHOOK_SECRET_PROD"
    return settings.CAL_COM_WEBHOOK_SECRET, "CAL_COM_WEBHOOK_SECRET"


def build_desired_webhook(
    *,
    subscriber_url: str | None = None,
    triggers: Sequence[str] | None = None,
) -> tuple[DesiredWebhook, tuple[str, ...]]:
    """Our target configuration from settings (and the command's overrides), plus warnings.

    Raises RegistrationRefusedError before anything is sent to Cal.com.
    """
    secret, secret_setting = webhook_signing_secret()
    return desired_webhook(
        subscriber_url=subscriber_url or default_subscriber_url(),
        triggers=triggers,
        handled_triggers=HANDLED_TRIGGERS,
        secret=secret,
        secret_setting=secret_setting,
        is_production=settings.IS_PRODUCTION,
        environment=settings.ENVIRONMENT,
        api_url=settings.CAL_COM_API_URL,
    )


# --- What Cal.com has ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookListing:
    api_version: ApiVersion
    webhooks: tuple[CalComWebhook, ...]


def fetch_webhooks(*, client: CalComClient) -> WebhookListing:
    """All of the account's webhooks; API v2, or API v1 when the instance has no API v2."""
    try:
        return WebhookListing(
            api_version="v2", webhooks=tuple(list_webhooks(client=client, api_version="v2"))
        )
    except CalComNotFoundError:
        # Self-hosted Cal.com without the separate API v2 app. (Cal.com's cloud shut v1 down in
        # April 2026, so there the v2 answer is final.)
        logger.warning("Cal.com API v2 answered 404 on /v2/webhooks; falling back to API v1")
    try:
        return WebhookListing(
            api_version="v1", webhooks=tuple(list_webhooks(client=client, api_version="v1"))
        )
    except CalComNotFoundError as exc:
        raise RegistrationError(
            f"neither /v2/webhooks nor /v1/webhooks exists at {client.api_url} "
            "(is CAL_COM_API_URL the Cal.com API origin?)"
        ) from exc


# --- Writing it -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegistrationOutcome:
    api_version: ApiVersion
    plan: RegistrationPlan
    webhook: CalComWebhook | None  # as Cal.com has it now (None: dry run of a create)
    applied: bool


def apply_registration_plan(
    *, client: CalComClient, plan: RegistrationPlan, api_version: ApiVersion
) -> CalComWebhook | None:
    """Write the plan: one POST, one PATCH, or nothing."""
    if plan.action is PlanAction.CREATE:
        return create_webhook(
            client=client,
            subscriber_url=plan.desired.subscriber_url,
            triggers=plan.desired.triggers,
            active=plan.desired.active,
            secret=plan.desired.secret or None,
            api_version=api_version,
        )
    if plan.action is PlanAction.UPDATE:
        assert plan.webhook is not None
        return update_webhook(
            client=client,
            webhook_id=plan.webhook.id,
            changes=plan.update_fields,
            api_version=api_version,
        )
    return plan.webhook


def register_webhook(*, client: CalComClient, desired: DesiredWebhook, dry_run: bool) -> RegistrationOutcome:
    """Make Cal.com's webhook for our URL match `desired` (or only plan it, on a dry run)."""
    listing = fetch_webhooks(client=client)
    plan = plan_registration(existing_webhooks=listing.webhooks, desired=desired)
    if dry_run or not plan.writes:
        return RegistrationOutcome(
            api_version=listing.api_version, plan=plan, webhook=plan.webhook, applied=False
        )
    try:
        webhook = apply_registration_plan(client=client, plan=plan, api_version=listing.api_version)
    except CalComConflictError:
        if plan.action is not PlanAction.CREATE:
            raise
        # Someone (or a create whose answer we lost) registered the URL since we listed: plan
        # again against the fresh list, once, and update that webhook instead.
        listing = fetch_webhooks(client=client)
        plan = plan_registration(existing_webhooks=listing.webhooks, desired=desired)
        if plan.action is PlanAction.CREATE:
            raise RegistrationError(
                f"Cal.com says a webhook for {desired.subscriber_url} already exists, "
                "but it is not in this API key's list of webhooks"
            ) from None
        webhook = apply_registration_plan(client=client, plan=plan, api_version=listing.api_version)
    return RegistrationOutcome(
        api_version=listing.api_version, plan=plan, webhook=webhook, applied=plan.writes
    )


@dataclass(frozen=True)
class DeletionOutcome:
    api_version: ApiVersion
    webhooks: tuple[CalComWebhook, ...]  # the webhooks that pointed at our URL
    applied: bool


def delete_our_webhooks(*, client: CalComClient, subscriber_url: str, dry_run: bool) -> DeletionOutcome:
    """Delete every webhook pointing at `subscriber_url`; other webhooks are never touched."""
    listing = fetch_webhooks(client=client)
    ours = find_our_webhooks(webhooks=listing.webhooks, subscriber_url=subscriber_url)
    if not dry_run:
        for hook in ours:
            delete_webhook(client=client, webhook_id=hook.id, api_version=listing.api_version)
    return DeletionOutcome(
        api_version=listing.api_version, webhooks=tuple(ours), applied=not dry_run and bool(ours)
    )


# --- Payload templates -----------------------------------------------------------------------


def template_warning(*, webhook: CalComWebhook) -> str:
    """What a custom payload template costs, or "" when the webhook has none.

    Cal.com renders templates with Handlebars, which HTML-escapes every value and Cal.com
    restores only `&quot;` (sendPayload.ts): an attendee named O'Brien arrives as `O&#x27;Brien`.
    VANI stores such text unescaped for display, but a template may also drop the fields VANI
    reads, and a non-JSON one makes Cal.com send form-encoded bodies.
    """
    if not webhook.payload_template:
        return ""
    return (
        f"webhook {webhook.id} has a custom payload template: Cal.com delivers its text "
        "Handlebars-escaped (O&#x27;Brien, &amp;) and only the fields the template names; "
        "run register_calcom_webhooks to remove it"
    )


# --- One-line status for startup_status -------------------------------------------------------


def describe_registration(*, timeout_seconds: float = 3.0) -> str:
    """One line on whether Cal.com delivers to us, e.g.
    "Cal.com webhook: registered (active, 12 triggers) at https://…/api/webhooks/cal-com".

    Never raises and never retries: it is a status line, not a health check.
    """
    prefix = "Cal.com webhook: "
    try:
        if not settings.CAL_COM_API_KEY:
            return prefix + "CAL_COM_API_KEY not set"
        subscriber_url = default_subscriber_url()
        client = CalComClient.from_settings(timeout_seconds=timeout_seconds, max_retries=0)
        listing = fetch_webhooks(client=client)
        ours = find_our_webhooks(webhooks=listing.webhooks, subscriber_url=subscriber_url)
        if not ours:
            return f"{prefix}not registered at {subscriber_url}"
        webhook = ours[0]
        if webhook.active is None:
            state = "active unknown on API v1"
        else:
            state = "active" if webhook.active else "INACTIVE"
        details = f"{state}, {len(webhook.triggers)} triggers"
        missing = [t for t in default_triggers() if t not in webhook.triggers]
        if missing:
            details += f", missing {', '.join(missing)}"
        if webhook.payload_template:
            details += ", HAS A CUSTOM PAYLOAD TEMPLATE (text arrives HTML-escaped)"
        return f"{prefix}registered ({details}) at {subscriber_url}"
    except CalComError as exc:
        reason = exc.message if exc.status is None else f"HTTP {exc.status}: {exc.message}"
        return f"{prefix}could not check: {_one_line(reason)}"
    except Exception as exc:  # a status line must never break the caller
        return f"{prefix}could not check: {_one_line(f'{type(exc).__name__}: {exc}')}"


def _one_line(text: str) -> str:
    api_key = getattr(settings, "CAL_COM_API_KEY", "")
    return redact(" ".join(str(text).split()), secrets=(api_key,))[:300]
