"""The registration plan for VANI's Cal.com webhook: what we want, and what to change. Pure.

No I/O and no settings: the caller (`webhooks.subscription`) reads settings and Cal.com's list
of webhooks and passes them in, with the set of triggers VANI acts on.

- `parse_triggers` validates an operator's trigger list against the catalogue;
- `check_subscriber_url` applies the environment safety rules to the URL Cal.com should call;
- `desired_webhook` puts those together into the `DesiredWebhook` (plus warnings);
- `plan_registration` compares it with Cal.com's webhooks and says what to write. Only the
  webhook whose subscriber URL is ours is ever part of a plan.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from calcom.api.webhooks import CalComWebhook
from calcom.triggers import CALCOM_TRIGGER_EVENTS, ORGANIZATION_ONLY_TRIGGERS

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


def subscribable_triggers(*, handled_triggers: Sequence[str]) -> tuple[str, ...]:
    """The handled triggers (in their order) that Cal.com lets a user webhook subscribe to."""
    return tuple(
        trigger
        for trigger in handled_triggers
        if trigger in CALCOM_TRIGGER_EVENTS and trigger not in ORGANIZATION_ONLY_TRIGGERS
    )


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
    *,
    subscriber_url: str,
    is_production: bool,
    environment: str,
    has_secret: bool,
    api_url: str,
) -> tuple[str, ...]:
    """Apply the environment safety rules; return warnings, raise RegistrationRefusedError.

    Production must be reachable by Cal.com and never unsigned: https only, no localhost,
    private, link-local or otherwise non-public address, and a signing secret. Development only
    warns, e.g. when the URL looks like a production one (https on a public host), because
    re-pointing production's webhook from a laptop is the mistake we want to catch.
    `environment` only names the environment in that warning.
    """
    parsed = urlsplit(subscriber_url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise RegistrationRefusedError(f"subscriber URL {subscriber_url!r} is not an http(s) URL with a host")
    if parsed.username or parsed.password:
        raise RegistrationRefusedError("subscriber URL must not contain credentials")
    not_public = non_public_host_reason(host=parsed.hostname)

    if is_production:
        if parsed.scheme != "https":
            raise RegistrationRefusedError(f"refusing {subscriber_url} in production: the URL must use https")
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
            f"ENVIRONMENT={environment}; make sure you mean to point Cal.com here"
        )
    if urlsplit(api_url).hostname == "api.cal.com" and (parsed.scheme != "https" or not_public):
        warnings.append(
            "Cal.com's cloud only delivers to https URLs on public hosts; "
            "use a tunnel (e.g. ngrok) and set PUBLIC_BASE_URL"
        )
    if not has_secret:
        warnings.append("no signing secret configured (CAL_COM_WEBHOOK_SECRET): deliveries will be unsigned")
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


def desired_webhook(
    *,
    subscriber_url: str,
    triggers: Sequence[str] | None,
    handled_triggers: Sequence[str],
    secret: str,
    secret_setting: str,
    is_production: bool,
    environment: str,
    api_url: str,
) -> tuple[DesiredWebhook, tuple[str, ...]]:
    """Our target configuration, plus warnings for the operator.

    `triggers` None means every handled trigger Cal.com accepts. Raises RegistrationRefusedError
    (from `check_subscriber_url`) when the URL must not be registered.
    """
    warnings = check_subscriber_url(
        subscriber_url=subscriber_url,
        is_production=is_production,
        environment=environment,
        has_secret=bool(secret),
        api_url=api_url,
    )
    chosen_triggers = (
        tuple(triggers) if triggers else subscribable_triggers(handled_triggers=handled_triggers)
    )
    unhandled = [trigger for trigger in chosen_triggers if trigger not in handled_triggers]
    if unhandled:
        warnings += (
            f"VANI does not act on {', '.join(unhandled)}; those deliveries are recorded and ignored",
        )
    desired = DesiredWebhook(
        subscriber_url=subscriber_url,
        triggers=chosen_triggers,
        secret=secret,
        secret_setting=secret_setting,
    )
    return desired, warnings


# --- Finding our webhook ----------------------------------------------------------------------


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


def find_our_webhooks(*, webhooks: Sequence[CalComWebhook], subscriber_url: str) -> list[CalComWebhook]:
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
            FieldChange("secret", "-", f"from {desired.secret_setting}" if desired.secret else "none"),
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
