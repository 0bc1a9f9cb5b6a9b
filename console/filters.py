"""The webhook event list's filters, and the query strings that select a filtered list.

Fixed choices (no DISTINCT queries over the table); the filtering itself is
`webhooks.selectors.filter_webhook_events`.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.http import QueryDict
from django.urls import reverse
from django.utils.http import urlencode

from meetings.status_mapping import STATUS_TABLE
from webhooks import selectors
from webhooks.models import SignatureResult, WebhookEventStatus


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return WebhookEventStatus.choices

    def queryset(self, request, queryset):
        return selectors.filter_webhook_events(
            queryset=queryset, event_filter=selectors.EventFilter(status=self.value() or "")
        )


class TriggerFilter(admin.SimpleListFilter):
    title = "trigger"
    parameter_name = "trigger"

    def lookups(self, request, model_admin):
        return [(trigger, trigger) for trigger in sorted(STATUS_TABLE)]

    def queryset(self, request, queryset):
        return selectors.filter_webhook_events(
            queryset=queryset, event_filter=selectors.EventFilter(trigger=self.value() or "")
        )


class SignatureFilter(admin.SimpleListFilter):
    title = "signature"
    parameter_name = "signature"

    def lookups(self, request, model_admin):
        return SignatureResult.choices

    def queryset(self, request, queryset):
        return selectors.filter_webhook_events(
            queryset=queryset,
            event_filter=selectors.EventFilter(signature_result=self.value() or ""),
        )


class ReceivedAtFilter(admin.ListFilter):
    """Presets (last hour, 24 h, 7 days) and a custom from/to range on the received time."""

    title = "received"
    template = "admin/webhooks/received_filter.html"
    parameter_names = ("received", "received_from", "received_to")

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        for name in self.parameter_names:
            if name in params:
                self.used_parameters[name] = params.pop(name)[-1]
        try:
            self.event_filter = event_filter_from_params(self.used_parameters)
        except ValueError as exc:
            raise IncorrectLookupParameters(exc) from exc

    def has_output(self) -> bool:
        return True

    def expected_parameters(self):
        return list(self.parameter_names)

    def queryset(self, request, queryset):
        return selectors.filter_webhook_events(queryset=queryset, event_filter=self.event_filter)

    def choices(self, changelist):
        # Other filters and the search travel along as hidden fields of the custom-range form.
        self.carried_params = [
            (name, value) for name, value in changelist.params.items() if name not in self.parameter_names
        ]
        self.range_from = self.used_parameters.get("received_from", "")
        self.range_to = self.used_parameters.get("received_to", "")
        current = self.used_parameters.get("received")
        custom = bool(self.range_from or self.range_to)
        yield {
            "selected": current is None and not custom,
            "query_string": changelist.get_query_string(remove=["received"]),
            "display": "Any time",
        }
        for key, (label, _window) in selectors.RECEIVED_WINDOWS.items():
            yield {
                "selected": current == key,
                "query_string": changelist.get_query_string({"received": key}, remove=["received"]),
                "display": label,
            }


# Django's own query-string forms of our filters (its field-lookup syntax, as in links built by
# hand or by other admin pages) and the parameter each one means.
LIST_PARAM_ALIASES = {
    "status__exact": "status",
    "trigger_event": "trigger",
    "trigger_event__exact": "trigger",
    "signature_result": "signature",
    "signature_result__exact": "signature",
}


def canonical_list_params(params: QueryDict) -> QueryDict:
    """The event list's query string with every alias replaced by the parameter it means.

    Raises ValueError when two forms of one filter disagree (no event could match both).
    """
    if not any(alias in params for alias in LIST_PARAM_ALIASES):
        return params
    canonical = params.copy()
    for alias, name in LIST_PARAM_ALIASES.items():
        for value in canonical.pop(alias, []):
            current = canonical.get(name)
            if current not in (None, value):
                raise ValueError(f"{alias}={value!r} contradicts {name}={current!r}")
            canonical[name] = value
    return canonical


def event_filter_from_params(params) -> selectors.EventFilter:
    """The admin's query-string parameters (filters and search) as a selector filter.

    Raises ValueError for an unreadable custom date range.
    """
    return selectors.EventFilter(
        status=params.get("status", ""),
        trigger=params.get("trigger", ""),
        signature_result=params.get("signature", ""),
        received_within=params.get("received", ""),
        received_from=selectors.parse_moment(params.get("received_from", "")),
        received_to=selectors.parse_moment(params.get("received_to", ""), end_of_day=True),
        search=params.get("q", ""),
    )


def event_list_url(**params) -> str:
    url = reverse("admin:webhooks_webhookevent_changelist")
    params = {key: value for key, value in params.items() if value not in ("", None)}
    return f"{url}?{urlencode(params)}" if params else url


def event_filter_url(event_filter: selectors.EventFilter) -> str:
    return event_list_url(
        status=event_filter.status,
        trigger=event_filter.trigger,
        signature=event_filter.signature_result,
        received=event_filter.received_within,
        received_from=event_filter.received_from.isoformat() if event_filter.received_from else "",
        received_to=event_filter.received_to.isoformat() if event_filter.received_to else "",
        q=event_filter.search,
    )
