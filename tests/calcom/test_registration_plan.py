"""The pure registration plan (calcom/registration.py): which webhook we want, what to create or
update, which triggers and subscriber URLs are acceptable, which secret is ours. No Cal.com API.

The command that carries the plan out is tested in tests/webhooks/test_register_calcom_webhooks.py.
"""

from __future__ import annotations

import pytest

from calcom.api.webhooks import CalComWebhook
from calcom.registration import (
    DesiredWebhook,
    PlanAction,
    RegistrationRefusedError,
    UnknownTriggerError,
    check_subscriber_url,
    non_public_host_reason,
    parse_triggers,
    plan_registration,
)
from calcom.triggers import CALCOM_TRIGGER_EVENTS
from meetings.status_mapping import HANDLED_TRIGGERS
from tests.support.registration import DEV_SECRET, OTHER_URL, OUR_URL, PROD_SECRET
from webhooks.subscription import default_triggers, webhook_signing_secret


def hook(**overrides) -> CalComWebhook:
    fields = {
        "id": "wh-1",
        "subscriber_url": OUR_URL,
        "triggers": default_triggers(),
        "active": True,
        "secret": DEV_SECRET,
        "payload_template": None,
        "event_type_id": None,
        "api_version": "v2",
        **overrides,
    }
    return CalComWebhook(**fields)


def desired(**overrides) -> DesiredWebhook:
    fields = {
        "subscriber_url": OUR_URL,
        "triggers": default_triggers(),
        "secret": DEV_SECRET,
        "secret_setting": "CAL_COM_WEBHOOK_SECRET",
        **overrides,
    }
    return DesiredWebhook(**fields)


# --- pure planning --------------------------------------------------------------------------------


def test_plan_creates_when_nothing_points_at_us():
    plan = plan_registration(
        existing_webhooks=[hook(id="other", subscriber_url=OTHER_URL)], desired=desired()
    )
    assert plan.action is PlanAction.CREATE
    assert plan.webhook is None and plan.update_fields == {}
    assert {change.field for change in plan.changes} == {
        "subscriber_url",
        "active",
        "triggers",
        "secret",
    }
    assert all(DEV_SECRET not in change.desired for change in plan.changes)


def test_plan_does_nothing_when_ours_already_matches_whatever_the_trigger_order():
    existing = hook(triggers=tuple(reversed(default_triggers())))
    plan = plan_registration(existing_webhooks=[existing], desired=desired())
    assert plan.action is PlanAction.NOTHING
    assert plan.webhook == existing and plan.changes == () and not plan.writes


def test_plan_updates_only_what_differs():
    existing = hook(
        active=False,
        triggers=("BOOKING_CREATED", "FORM_SUBMITTED"),
        secret="an_old_secret",
        payload_template='{"x":"{{type}}"}',
    )
    plan = plan_registration(existing_webhooks=[existing], desired=desired())
    assert plan.action is PlanAction.UPDATE
    assert plan.update_fields == {
        "active": True,
        "triggers": default_triggers(),
        "secret": DEV_SECRET,
        "payload_template": None,
    }
    changes = {change.field: change for change in plan.changes}
    assert changes["active"].current == "false" and changes["active"].desired == "true"
    assert "remove FORM_SUBMITTED" in changes["triggers"].desired
    assert "add BOOKING_REQUESTED" in changes["triggers"].desired
    assert changes["secret"].current == "a different secret"
    assert "an_old_secret" not in str(plan.changes) and DEV_SECRET not in str(plan.changes)


def test_plan_never_touches_webhooks_pointing_elsewhere():
    others = [hook(id=f"o{n}", subscriber_url=f"{OTHER_URL}/{n}", active=False) for n in range(3)]
    plan = plan_registration(existing_webhooks=[*others, hook(id="ours", active=False)], desired=desired())
    assert plan.action is PlanAction.UPDATE and plan.webhook.id == "ours"


def test_plan_on_v1_always_writes_active_and_secret_it_cannot_verify():
    existing = hook(active=None, secret=None, api_version="v1")
    plan = plan_registration(existing_webhooks=[existing], desired=desired())
    assert plan.action is PlanAction.UPDATE
    assert plan.update_fields == {"active": True, "secret": DEV_SECRET}
    assert {change.current for change in plan.changes} == {"unknown (API v1)"}


def test_plan_without_a_secret_of_our_own_leaves_the_webhooks_secret_alone():
    plan = plan_registration(
        existing_webhooks=[hook(secret="someone_elses")],
        desired=desired(secret="", secret_setting="CAL_COM_WEBHOOK_SECRET"),
    )
    assert plan.action is PlanAction.NOTHING


def test_plan_warns_about_near_misses_and_extra_event_type_webhooks():
    existing = [
        hook(id="slash", subscriber_url=OUR_URL + "/"),
        hook(id="event-type", event_type_id=7, api_version="v1", active=None, secret=None),
        hook(id="user", api_version="v1", active=None, secret=None),
    ]
    plan = plan_registration(existing_webhooks=existing, desired=desired())
    assert plan.webhook.id == "user"  # the user-level webhook is the one we manage
    assert any("slash" in warning and "close to" in warning for warning in plan.warnings)
    assert any("event-type" in warning and "left unchanged" in warning for warning in plan.warnings)


def test_the_url_match_ignores_scheme_and_host_case_and_default_port_only():
    plan = plan_registration(
        existing_webhooks=[hook(subscriber_url="HTTPS://VANI.example.com:443/api/webhooks/cal-com")],
        desired=desired(),
    )
    assert plan.action is PlanAction.NOTHING
    plan = plan_registration(existing_webhooks=[hook(subscriber_url=OUR_URL.upper())], desired=desired())
    assert plan.action is PlanAction.CREATE


# --- triggers, secrets, URL safety ----------------------------------------------------------------


def test_default_triggers_are_the_handled_ones_cal_com_accepts():
    assert default_triggers() == tuple(t for t in HANDLED_TRIGGERS if t in CALCOM_TRIGGER_EVENTS)
    assert "PING" not in default_triggers()
    assert len(default_triggers()) >= 9


def test_parse_triggers_normalises_and_deduplicates():
    assert parse_triggers(raw=" booking_created, MEETING_ENDED,BOOKING_CREATED ,") == (
        "BOOKING_CREATED",
        "MEETING_ENDED",
    )


@pytest.mark.parametrize(
    "raw, message",
    [
        ("BOOKING_CREATED,BOOKING_CONFIRMED", "unknown Cal.com trigger(s): BOOKING_CONFIRMED"),
        ("PING", "unknown Cal.com trigger(s): PING"),
        (" , ", "--triggers is empty"),
        ("DELEGATION_CREDENTIAL_ERROR", "only available on organisation webhooks"),
    ],
)
def test_parse_triggers_fails_clearly(raw, message):
    with pytest.raises(UnknownTriggerError) as caught:
        parse_triggers(raw=raw)
    assert message in str(caught.value)


def test_signing_secret_is_the_prod_one_in_production_when_set(settings):
    settings.CAL_COM_WEBHOOK_SECRET, settings.CAL_COM_WEBHOOK_SECRET_PROD = DEV_SECRET, PROD_SECRET
    settings.IS_PRODUCTION = False
    assert webhook_signing_secret() == (DEV_SECRET, "CAL_COM_WEBHOOK_SECRET")
    settings.IS_PRODUCTION = True
    assert webhook_signing_secret() == (PROD_SECRET, "CAL_COM_WEBHOOK_SECRET_PROD")
    settings.CAL_COM_WEBHOOK_SECRET_PROD = ""
    assert webhook_signing_secret() == (DEV_SECRET, "CAL_COM_WEBHOOK_SECRET")


@pytest.mark.parametrize(
    "host, expected",
    [
        ("localhost", "local host name"),
        ("api.localhost", "local host name"),
        ("printer.local", "local host name"),
        ("intranet", "single-label"),
        ("127.0.0.1", "loopback"),
        ("127.1", "loopback"),
        ("2130706433", "loopback"),
        ("[::1]", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("172.16.5.4", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("::ffff:10.0.0.1", "private"),
        ("100.64.0.1", "non-public"),
        ("0.0.0.0", "unspecified"),
        ("vani.example.com", ""),
        ("8.8.8.8", ""),
    ],
)
def test_non_public_hosts(host, expected):
    reason = non_public_host_reason(host=host)
    assert (expected in reason) if expected else reason == ""


def test_development_warns_when_the_url_looks_like_production():
    warnings = check_subscriber_url(
        subscriber_url=OUR_URL,
        is_production=False,
        environment="development",
        has_secret=True,
        api_url="http://127.0.0.1:1",
    )
    assert any("looks like a production URL" in warning for warning in warnings)
    assert (
        check_subscriber_url(
            subscriber_url="http://127.0.0.1:8000/api/webhooks/cal-com",
            is_production=False,
            environment="development",
            has_secret=True,
            api_url="http://127.0.0.1:1",
        )
        == ()
    )


def test_development_warns_that_cal_com_cloud_cannot_reach_localhost():
    warnings = check_subscriber_url(
        subscriber_url="http://localhost:8000/api/webhooks/cal-com",
        is_production=False,
        environment="development",
        has_secret=True,
        api_url="https://api.cal.com",
    )
    assert any("tunnel" in warning for warning in warnings)


def test_urls_that_are_not_http_are_refused_everywhere():
    for url in (
        "ftp://vani.example.com/x",
        "vani.example.com/x",
        "https://user:pw@vani.example.com/x",
    ):
        with pytest.raises(RegistrationRefusedError):
            check_subscriber_url(
                subscriber_url=url,
                is_production=False,
                environment="development",
                has_secret=True,
                api_url="",
            )
