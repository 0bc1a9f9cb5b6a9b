"""Registering VANI's webhook endpoint with Cal.com (business logic of `register_calcom_webhooks`).

The flow is: decide what we want (`build_desired_webhook`, which refuses unsafe URLs), read what
Cal.com has (`fetch_webhooks`, API v2 with a fallback to API v1 for self-hosted instances),
compare the two (`plan_registration`, pure), and write the difference (`apply_registration_plan`).
Only the webhook whose subscriber URL is ours is ever changed or deleted.

Which signing secret we register (`webhook_signing_secret`):
- production (`ENVIRONMENT=production`): `CAL_COM_WEBHOOK_SECRET_PROD` when it is set, otherwise
  `CAL_COM_WEBHOOK_SECRET`; with neither set we refuse to register;
- development: `CAL_COM_WEBHOOK_SECRET` (may be empty: the webhook is then registered unsigned
  and its existing secret, if any, is left alone).
The receiver accepts deliveries signed with either secret, which is what makes rotation safe.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from meetings.status_mapping import HANDLED_TRIGGERS
from calcom.triggers import CALCOM_TRIGGER_EVENTS, ORGANIZATION_ONLY_TRIGGERS
from calcom.api.client import (
    ApiVersion,
    CalComClient,
    CalComConflictError,
    CalComError,
    CalComNotFoundError,
    CalComWebhook,
    redact,
)

logger = logging.getLogger(__name__)

# Host names that never resolve on the public internet, so Cal.com's cloud cannot deliver there.
NON_PUBLIC_HOST_SUFFIXES = ("localhost", "local", "localdomain", "internal", "lan", "home.arpa")
# Old-style IPv4 spellings (`127.1`, `2130706433`, `0x7f000001`) that still mean an address.
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]+|\d+)(\.(0x[0-9a-f]+|\d+)){0,3}$")


class RegistrationError(Exception):
    """Registration cannot go ahead; the message says why, in one line."""


class RegistrationRefusedError(RegistrationError):
    """The environment safety rules forbid this registration."""


class UnknownTriggerError(RegistrationError):
    pass


# --- What we want -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DesiredWebhook:
    subscriber_url: str
    triggers: tuple[str, ...]
    secret: str  # empty: we have no signing secret (development only)
    secret_setting: str  # which setting the secret came from, for the operator
    active: bool = True


def default_subscriber_url() -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + settings.WEBHOOK_PATH


def default_triggers() -> tuple[str, ...]:
    """Every trigger the service handles that Cal.com lets us subscribe to."""
    return tuple(trigger for trigger in HANDLED_TRIGGERS if trigger in CALCOM_TRIGGER_EVENTS)


def webhook_signing_secret() -> tuple[str, str]:
    """(secret, name of the setting it came from); see the module docstring for the rule."""
    if settings.IS_PRODUCTION and settings.CAL_COM_WEBHOOK_SECRET_PROD:
        return settings.CAL_COM_WEBHOOK_SECRET_PROD, "CAL_COM_WEBHOOK_SECRET_PROD"
    return settings.CAL_COM_WEBHOOK_SECRET, "CAL_COM_WEBHOOK_SECRET"


def parse_triggers(*, raw: str) -> tuple[str, ...]:
    """`--triggers` text (comma separated) → validated trigger names, in order, without repeats."""
    names: list[str] = []
    for part in raw.split(","):
        name = part.strip().upper()
        if name and name not in names:
            names.append(name)
    if not names:
        raise UnknownTriggerError("--triggers is empty; give at least one trigger")
    unknown = [name for name in names if name not in CALCOM_TRIGGER_EVENTS]
    if unknown:
        raise UnknownTriggerError(
            f"unknown Cal.com trigger(s): {', '.join(unknown)}. "
            f"Known triggers: {', '.join(CALCOM_TRIGGER_EVENTS)}"
        )
    organization_only = [name for name in names if name in ORGANIZATION_ONLY_TRIGGERS]
    if organization_only:
        raise UnknownTriggerError(
            f"{', '.join(organization_only)} is only available on organisation webhooks, "
            "not on the user webhook this command manages"
        )
    return tuple(names)


def check_subscriber_url(
    *, subscriber_url: str, is_production: bool, has_secret: bool, api_url: str
) -> tuple[str, ...]:
    """Apply the environment safety rules; return warnings, raise RegistrationRefusedError.

    Production must be reachable by Cal.com and never unsigned: https only, no localhost,
    private, link-local or otherwise non-public address, and a signing secret. Development only
    warns, e.g. when the URL looks like a production one (https on a public host), because
    re-pointing production's webhook from a laptop is the mistake we want to catch.
    """
    parsed = urlsplit(subscriber_url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise RegistrationRefusedError(
            f"subscriber URL {subscriber_url!r} is not an http(s) URL with a host"
        )
    if parsed.username or parsed.password:
        raise RegistrationRefusedError("subscriber URL must not contain credentials")
    not_public = non_public_host_reason(host=parsed.hostname)

    if is_production:
        if parsed.scheme != "https":
            raise RegistrationRefusedError(
                f"refusing {subscriber_url} in production: the URL must use https"
            )
        if not_public:
            raise RegistrationRefusedError(
                f"refusing {subscriber_url} in production: the host is {not_public}; "
                "Cal.com must reach it over the public internet"
            )
        if not has_secret:
            raise RegistrationRefusedError(
                "refusing to register in production without a signing secret: "
                "set CAL_COM_WEBHOOK_SECRET_PROD (or CAL_COM_WEBHOOK_SECRET)"
            )
        return ()

    warnings: list[str] = []
    if parsed.scheme == "https" and not not_public:
        warnings.append(
            f"{subscriber_url} looks like a production URL (https, public host) but "
            f"ENVIRONMENT={settings.ENVIRONMENT}; make sure you mean to point Cal.com here"
        )
    if urlsplit(api_url).hostname == "api.cal.com" and (parsed.scheme != "https" or not_public):
        warnings.append(
            "Cal.com's cloud only delivers to https URLs on public hosts; "
            "use a tunnel (e.g. ngrok) and set PUBLIC_BASE_URL"
        )
    if not has_secret:
        warnings.append(
            "no signing secret configured (CAL_COM_WEBHOOK_SECRET): deliveries will be unsigned"
        )
    return tuple(warnings)


def non_public_host_reason(*, host: str) -> str:
    """Why Cal.com's cloud could not reach `host` ("" when it looks public)."""
    host = host.strip("[]").rstrip(".").lower()
    address = _literal_ip_address(host=host)
    if address is not None:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if address.is_unspecified:
            return f"an unspecified address ({address})"
        if address.is_loopback:
            return f"a loopback address ({address})"
        if address.is_link_local:
            return f"a link-local address ({address})"
        if address.is_private:
            return f"a private address ({address})"
        if not address.is_global or address.is_multicast:
            return f"a non-public address ({address})"
        return ""
    if host == "localhost" or any(
        host == suffix or host.endswith("." + suffix) for suffix in NON_PUBLIC_HOST_SUFFIXES
    ):
        return f"a local host name ({host})"
    if "." not in host:
        return f"a single-label host name ({host}) that public DNS cannot resolve"
    return ""


def _literal_ip_address(*, host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _NUMERIC_HOST.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def build_desired_webhook(
    *,
    subscriber_url: str | None = None,
    triggers: Sequence[str] | None = None,
) -> tuple[DesiredWebhook, tuple[str, ...]]:
    """Our target configuration from settings (and the command's overrides), plus warnings.

    Raises RegistrationRefusedError before anything is sent to Cal.com.
    """
    url = subscriber_url or default_subscriber_url()
    secret, secret_setting = webhook_signing_secret()
    warnings = check_subscriber_url(
        subscriber_url=url,
        is_production=settings.IS_PRODUCTION,
        has_secret=bool(secret),
        api_url=settings.CAL_COM_API_URL,
    )
    chosen_triggers = tuple(triggers) if triggers else default_triggers()
    unhandled = [trigger for trigger in chosen_triggers if trigger not in HANDLED_TRIGGERS]
    if unhandled:
        warnings += (
            f"VANI does not act on {', '.join(unhandled)}; "
            "those deliveries are recorded and ignored",
        )
    desired = DesiredWebhook(
        subscriber_url=url,
        triggers=chosen_triggers,
        secret=secret,
        secret_setting=secret_setting,
    )
    return desired, warnings


# --- What Cal.com has -------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookListing:
    api_version: ApiVersion
    webhooks: tuple[CalComWebhook, ...]


def fetch_webhooks(*, client: CalComClient) -> WebhookListing:
    """All of the account's webhooks; API v2, or API v1 when the instance has no API v2."""
    try:
        return WebhookListing(
            api_version="v2", webhooks=tuple(client.list_webhooks(api_version="v2"))
        )
    except CalComNotFoundError:
        # Self-hosted Cal.com without the separate API v2 app. (Cal.com's cloud shut v1 down in
        # April 2026, so there the v2 answer is final.)
        logger.warning("Cal.com API v2 answered 404 on /v2/webhooks; falling back to API v1")
    try:
        return WebhookListing(
            api_version="v1", webhooks=tuple(client.list_webhooks(api_version="v1"))
        )
    except CalComNotFoundError as exc:
        raise RegistrationError(
            f"neither /v2/webhooks nor /v1/webhooks exists at {client.api_url} "
            "(is CAL_COM_API_URL the Cal.com API origin?)"
        ) from exc


def same_subscriber_url(first: str, second: str) -> bool:
    """Cal.com delivers to the URL exactly as stored; only scheme and host are case-insensitive."""
    a, b = urlsplit(first), urlsplit(second)
    return (
        a.scheme.lower() == b.scheme.lower()
        and (a.hostname or "") == (b.hostname or "")
        and _port(a) == _port(b)
        and (a.path or "/") == (b.path or "/")
        and a.query == b.query
    )


def _port(parts: Any) -> int | None:
    try:
        return parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    except ValueError:
        return None


def find_our_webhooks(
    *, webhooks: Sequence[CalComWebhook], subscriber_url: str
) -> list[CalComWebhook]:
    """Webhooks pointing at our URL; user-level ones first (API v1 also lists event-type ones)."""
    ours = [hook for hook in webhooks if same_subscriber_url(hook.subscriber_url, subscriber_url)]
    return sorted(ours, key=lambda hook: hook.event_type_id is not None)


# --- The plan (pure) --------------------------------------------------------------------------


class PlanAction(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    NOTHING = "nothing"


@dataclass(frozen=True)
class FieldChange:
    """One difference, as text for the operator (secrets are never shown)."""

    field: str
    current: str
    desired: str


@dataclass(frozen=True)
class RegistrationPlan:
    action: PlanAction
    desired: DesiredWebhook
    webhook: CalComWebhook | None  # the existing webhook to update / already in place
    changes: tuple[FieldChange, ...] = ()
    # PATCH body in the client's field names (subscriber_url, triggers, active, secret,
    # payload_template); empty unless action is UPDATE.
    update_fields: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def writes(self) -> bool:
        return self.action is not PlanAction.NOTHING


def plan_registration(
    *, existing_webhooks: Sequence[CalComWebhook], desired: DesiredWebhook
) -> RegistrationPlan:
    """Compare Cal.com's webhooks with what we want. Pure: no I/O, no settings.

    The webhook that points at our URL is brought to exactly our configuration: active, exactly
    our triggers (extra ones would only bring deliveries we ignore), our secret, and Cal.com's
    default body (a custom payload template would break parsing). Webhooks elsewhere are never
    part of the plan. API v1 does not report `active` or `secret`, so on v1 both are always
    written: a v1 re-run is one PATCH, never a no-op.
    """
    ours = find_our_webhooks(webhooks=existing_webhooks, subscriber_url=desired.subscriber_url)
    warnings = _near_miss_warnings(existing_webhooks=existing_webhooks, desired=desired)
    if not ours:
        create_changes = (
            FieldChange("subscriber_url", "-", desired.subscriber_url),
            FieldChange("active", "-", _yes_no(desired.active)),
            FieldChange("triggers", "-", ", ".join(desired.triggers)),
            FieldChange(
                "secret", "-", f"from {desired.secret_setting}" if desired.secret else "none"
            ),
        )
        return RegistrationPlan(
            action=PlanAction.CREATE,
            desired=desired,
            webhook=None,
            changes=create_changes,
            warnings=warnings,
        )

    target, duplicates = ours[0], ours[1:]
    warnings += tuple(
        f"webhook {hook.id} (event type {hook.event_type_id}) also points at "
        f"{desired.subscriber_url}; left unchanged"
        for hook in duplicates
    )
    changes: list[FieldChange] = []
    update_fields: dict[str, Any] = {}

    if target.active is None:
        update_fields["active"] = desired.active
        changes.append(FieldChange("active", "unknown (API v1)", _yes_no(desired.active)))
    elif target.active != desired.active:
        update_fields["active"] = desired.active
        changes.append(FieldChange("active", _yes_no(target.active), _yes_no(desired.active)))

    if set(target.triggers) != set(desired.triggers):
        update_fields["triggers"] = desired.triggers
        added = [t for t in desired.triggers if t not in target.triggers]
        removed = [t for t in target.triggers if t not in desired.triggers]
        summary = "; ".join(
            part
            for part in (
                f"add {', '.join(added)}" if added else "",
                f"remove {', '.join(removed)}" if removed else "",
            )
            if part
        )
        changes.append(
            FieldChange(
                "triggers",
                f"{len(target.triggers)} triggers",
                f"{len(desired.triggers)} triggers ({summary})",
            )
        )

    if desired.secret:
        current_secret = _secret_state(webhook=target, desired_secret=desired.secret)
        if current_secret != "ours":
            update_fields["secret"] = desired.secret
            changes.append(FieldChange("secret", current_secret, f"from {desired.secret_setting}"))
    # Without a secret of our own we leave whatever secret the webhook has alone.

    if target.payload_template:
        update_fields["payload_template"] = None
        changes.append(FieldChange("payload_template", "custom", "none (Cal.com's default body)"))

    return RegistrationPlan(
        action=PlanAction.UPDATE if update_fields else PlanAction.NOTHING,
        desired=desired,
        webhook=target,
        changes=tuple(changes),
        update_fields=update_fields,
        warnings=warnings,
    )


def _secret_state(*, webhook: CalComWebhook, desired_secret: str) -> str:
    if not webhook.reports_active_and_secret:
        return "unknown (API v1)"
    if not webhook.secret:
        return "none"
    if hmac.compare_digest(webhook.secret.encode(), desired_secret.encode()):
        return "ours"
    return "a different secret"


def _near_miss_warnings(
    *, existing_webhooks: Sequence[CalComWebhook], desired: DesiredWebhook
) -> tuple[str, ...]:
    """A webhook at our URL give or take a trailing slash is probably a typo'd registration."""
    wanted = desired.subscriber_url.rstrip("/").lower()
    return tuple(
        f"webhook {hook.id} points at {hook.subscriber_url}, close to but not "
        f"{desired.subscriber_url}; left unchanged (Cal.com delivers to the exact URL)"
        for hook in existing_webhooks
        if hook.subscriber_url.rstrip("/").lower() == wanted
        and not same_subscriber_url(hook.subscriber_url, desired.subscriber_url)
    )


def _yes_no(value: bool) -> str:
    return "true" if value else "false"


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
        return client.create_webhook(
            subscriber_url=plan.desired.subscriber_url,
            triggers=plan.desired.triggers,
            active=plan.desired.active,
            secret=plan.desired.secret or None,
            api_version=api_version,
        )
    if plan.action is PlanAction.UPDATE:
        assert plan.webhook is not None
        return client.update_webhook(
            webhook_id=plan.webhook.id, changes=plan.update_fields, api_version=api_version
        )
    return plan.webhook


def register_webhook(
    *, client: CalComClient, desired: DesiredWebhook, dry_run: bool
) -> RegistrationOutcome:
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


def delete_our_webhooks(
    *, client: CalComClient, subscriber_url: str, dry_run: bool
) -> DeletionOutcome:
    """Delete every webhook pointing at `subscriber_url`; other webhooks are never touched."""
    listing = fetch_webhooks(client=client)
    ours = find_our_webhooks(webhooks=listing.webhooks, subscriber_url=subscriber_url)
    if not dry_run:
        for hook in ours:
            client.delete_webhook(webhook_id=hook.id, api_version=listing.api_version)
    return DeletionOutcome(
        api_version=listing.api_version, webhooks=tuple(ours), applied=not dry_run and bool(ours)
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
        return f"{prefix}registered ({details}) at {subscriber_url}"
    except CalComError as exc:
        reason = exc.message if exc.status is None else f"HTTP {exc.status}: {exc.message}"
        return f"{prefix}could not check: {_one_line(reason)}"
    except Exception as exc:  # a status line must never break the caller
        return f"{prefix}could not check: {_one_line(f'{type(exc).__name__}: {exc}')}"


def _one_line(text: str) -> str:
    api_key = getattr(settings, "CAL_COM_API_KEY", "")
    return redact(" ".join(str(text).split()), secrets=(api_key,))[:300]
