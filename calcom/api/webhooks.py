"""Cal.com webhook subscriptions through the management API (v2, or v1 for self-hosted Cal.com).

Built on `calcom.api.client.CalComClient` (credentials, timeouts, retries, typed errors). Both
API versions are normalised into one `CalComWebhook`, so callers never see which one answered
except through `CalComWebhook.api_version`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from calcom.api.client import (
    ApiVersion,
    CalComBadResponseError,
    CalComClient,
    path_segment,
    v2_data,
)


@dataclass(frozen=True)
class CalComWebhook:
    """A webhook row on Cal.com, normalised across API v2 and v1.

    API v1 does not return `active` or `secret`: both are None there, and
    `reports_active_and_secret` is False so callers know they cannot be verified.
    """

    id: str
    subscriber_url: str
    triggers: tuple[str, ...]
    active: bool | None
    secret: str | None = field(repr=False)
    payload_template: str | None
    event_type_id: int | None
    api_version: ApiVersion

    @property
    def reports_active_and_secret(self) -> bool:
        return self.api_version == "v2"

    @classmethod
    def from_v2(cls, *, data: Mapping[str, Any]) -> CalComWebhook:
        return cls(
            id=str(data["id"]),
            subscriber_url=str(data.get("subscriberUrl") or ""),
            triggers=tuple(data.get("triggers") or ()),
            active=bool(data.get("active")),
            secret=data.get("secret") or None,
            payload_template=data.get("payloadTemplate") or None,
            event_type_id=data.get("eventTypeId"),
            api_version="v2",
        )

    @classmethod
    def from_v1(cls, *, data: Mapping[str, Any]) -> CalComWebhook:
        return cls(
            id=str(data["id"]),
            subscriber_url=str(data.get("subscriberUrl") or ""),
            triggers=tuple(data.get("eventTriggers") or ()),
            active=None,
            secret=None,
            payload_template=data.get("payloadTemplate") or None,
            event_type_id=data.get("eventTypeId"),
            api_version="v1",
        )


def list_webhooks(*, client: CalComClient, api_version: ApiVersion = "v2") -> list[CalComWebhook]:
    """Every webhook of the API key's user. Raises CalComNotFoundError when the instance
    has no such API (self-hosted Cal.com without API v2 answers 404)."""
    if api_version == "v2":
        return [CalComWebhook.from_v2(data=item) for item in client.paginate("/v2/webhooks")]
    body = client.request("GET", "/v1/webhooks")
    items = body.get("webhooks") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise CalComBadResponseError(
            "expected {webhooks: [...]}", status=200, method="GET", path="/v1/webhooks"
        )
    return [CalComWebhook.from_v1(data=item) for item in items]


def create_webhook(
    *,
    client: CalComClient,
    subscriber_url: str,
    triggers: tuple[str, ...] | list[str],
    active: bool,
    secret: str | None,
    payload_template: str | None = None,
    api_version: ApiVersion = "v2",
) -> CalComWebhook:
    if api_version == "v2":
        payload: dict[str, Any] = {
            "subscriberUrl": subscriber_url,
            "triggers": list(triggers),
            "active": active,
            "payloadTemplate": payload_template,
        }
        if secret:
            payload["secret"] = secret
        body = client.request("POST", "/v2/webhooks", json=payload)
        return CalComWebhook.from_v2(data=v2_data(body=body, method="POST", path="/v2/webhooks"))
    # v1's schema is strict: only send keys it knows, and no nulls it might not accept.
    payload = {
        "subscriberUrl": subscriber_url,
        "eventTriggers": list(triggers),
        "active": active,
    }
    if secret:
        payload["secret"] = secret
    if payload_template:
        payload["payloadTemplate"] = payload_template
    body = client.request("POST", "/v1/webhooks", json=payload)
    return CalComWebhook.from_v1(data=_v1_item(body=body, method="POST", path="/v1/webhooks"))


def update_webhook(
    *,
    client: CalComClient,
    webhook_id: str,
    changes: Mapping[str, Any],
    api_version: ApiVersion = "v2",
) -> CalComWebhook:
    """PATCH a webhook. `changes` uses our field names: subscriber_url, triggers, active,
    secret, payload_template; they are renamed to the API version's own names."""
    names = {
        "subscriber_url": "subscriberUrl",
        "triggers": "triggers" if api_version == "v2" else "eventTriggers",
        "active": "active",
        "secret": "secret",
        "payload_template": "payloadTemplate",
    }
    unknown = set(changes) - set(names)
    if unknown:
        raise ValueError(f"unknown webhook fields: {sorted(unknown)}")
    payload = {
        names[field]: list(value) if field == "triggers" else value for field, value in changes.items()
    }
    path = f"/{api_version}/webhooks/{path_segment(value=webhook_id)}"
    body = client.request("PATCH", path, json=payload)
    if api_version == "v2":
        return CalComWebhook.from_v2(data=v2_data(body=body, method="PATCH", path=path))
    return CalComWebhook.from_v1(data=_v1_item(body=body, method="PATCH", path=path))


def delete_webhook(*, client: CalComClient, webhook_id: str, api_version: ApiVersion = "v2") -> None:
    client.request("DELETE", f"/{api_version}/webhooks/{path_segment(value=webhook_id)}")


def _v1_item(*, body: Any, method: str, path: str) -> Mapping[str, Any]:
    item = body.get("webhook") if isinstance(body, dict) else None
    if not isinstance(item, dict):
        raise CalComBadResponseError("expected {webhook: {...}}", status=200, method=method, path=path)
    return item
