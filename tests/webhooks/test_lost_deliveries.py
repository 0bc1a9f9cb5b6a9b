"""What is lost by design, made visible: refused deliveries and custom payload templates.

Cal.com does not retry a 4xx (packages/features/webhooks/lib/sendPayload.ts: a non-2xx does
not throw; the new pipeline retries only 408/429/5xx), and its scheduled MEETING_* jobs are sent
once (handleWebhookScheduledTriggers.ts). So a delivery refused 401 is gone: `calcom_status`
and the dashboard show the last 24 hours of them, with the cause and the fix.
"""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from calcom.signatures import NO_SECRET_SENTINEL
from tests.support.bodies import fresh_booking_body
from tests.support.registration import DEV_SECRET, OUR_URL
from webhooks.models import WebhookEvent
from webhooks.subscription import default_triggers

pytestmark = pytest.mark.django_db(transaction=True)

TEMPLATE = '{"title":"{{title}}","attendee":"{{attendees.0.name}}"}'


def run(command: str, *args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(command, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def refuse_some(deliver) -> list[int]:
    """Two deliveries from a Cal.com webhook without a secret (sendPayload.ts signs with the
    literal `no-secret-provided`), one signed with another secret, and one too old to count."""
    ids = [
        deliver(fresh_booking_body(), signature=NO_SECRET_SENTINEL).json()["event_id"],
        deliver(fresh_booking_body(), signature=NO_SECRET_SENTINEL).json()["event_id"],
        deliver(fresh_booking_body(), signature="0" * 64).json()["event_id"],
    ]
    old = deliver(fresh_booking_body(), signature=NO_SECRET_SENTINEL).json()["event_id"]
    WebhookEvent.objects.filter(pk=old).update(received_at=timezone.now() - timedelta(hours=25))
    return ids


def test_calcom_status_lists_refused_deliveries_with_cause_and_fix(deliver, settings):
    settings.CAL_COM_API_KEY = ""
    first, second, invalid = refuse_some(deliver)
    deliver(fresh_booking_body())  # accepted: not listed

    out, _ = run("calcom_status", "--offline")

    lines = out.splitlines()
    assert "refused (24 h): 3 LOST (Cal.com does not retry a refused delivery)" in lines
    [no_secret] = [line for line in lines if line.strip().startswith("no_secret_provided:")]
    assert f"no_secret_provided: 2, last #{second} " in no_secret
    assert "Fix: set the same secret on both sides" in no_secret
    [mismatch] = [line for line in lines if line.strip().startswith("signature_invalid:")]
    assert f"signature_invalid: 1, last #{invalid} " in mismatch
    assert "Fix: set the same secret on both sides" in mismatch
    assert first < second


def test_calcom_status_says_when_nothing_was_refused(deliver, settings):
    settings.CAL_COM_API_KEY = ""
    deliver(fresh_booking_body())
    out, _ = run("calcom_status", "--offline")
    assert "refused (24 h): none" in out.splitlines()


def test_dashboard_card_shows_refused_deliveries_with_cause_and_fix(deliver, admin_client):
    _, second, _ = refuse_some(deliver)

    html = admin_client.get(reverse("admin:webhooks_webhookevent_dashboard")).content.decode()

    card = html.split('id="card-refused"')[1].split("</div>")[0]
    assert ">3</a>" in card
    assert "<strong>no_secret_provided</strong> × 2" in card and f"#{second}" in card
    assert "set the same secret on both sides" in card
    assert "Cal.com does not retry a refused delivery" in card


# --- custom payload templates (Handlebars-escaped text) ------------------------------------------


@pytest.fixture
def registration_settings(calcom_settings):
    calcom_settings.ENVIRONMENT = "development"
    calcom_settings.IS_PRODUCTION = False
    calcom_settings.PUBLIC_BASE_URL = OUR_URL.removesuffix("/api/webhooks/cal-com")
    calcom_settings.CAL_COM_WEBHOOK_SECRET = DEV_SECRET
    calcom_settings.CAL_COM_WEBHOOK_SECRET_PROD = ""
    return calcom_settings


def test_register_list_warns_when_our_webhook_has_a_template(registration_settings, calcom_server):
    """A template added in Cal.com's UI: sendPayload.ts renders it with Handlebars, which
    HTML-escapes every value (only `&quot;` is restored)."""
    hook = calcom_server.add_webhook(
        subscriber_url=OUR_URL, triggers=default_triggers(), secret=DEV_SECRET, payload_template=TEMPLATE
    )

    _, err = run("register_calcom_webhooks", "--list")

    assert f"webhook {hook['id']} has a custom payload template" in err
    assert "Handlebars-escaped" in err and "run register_calcom_webhooks to remove it" in err


def test_register_list_is_quiet_without_a_template(registration_settings, calcom_server):
    calcom_server.add_webhook(subscriber_url=OUR_URL, triggers=default_triggers(), secret=DEV_SECRET)
    _, err = run("register_calcom_webhooks", "--list")
    assert "template" not in err


def test_calcom_status_warns_when_our_webhook_has_a_template(registration_settings, calcom_server):
    calcom_server.add_webhook(
        subscriber_url=OUR_URL, triggers=default_triggers(), secret=DEV_SECRET, payload_template=TEMPLATE
    )

    out, _ = run("calcom_status")

    [registration] = [line for line in out.splitlines() if line.startswith("registration:")]
    assert "HAS A CUSTOM PAYLOAD TEMPLATE (text arrives HTML-escaped)" in registration
