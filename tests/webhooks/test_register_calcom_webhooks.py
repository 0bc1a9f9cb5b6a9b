"""`manage.py register_calcom_webhooks` and describe_registration (webhooks/subscription.py), against
the fake Cal.com API. The pure plan is tested in tests/calcom/test_registration_plan.py."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.support.fake_calcom import StubResponse, v2_error
from tests.support.live import PROJECT_DIR
from tests.support.registration import BASE_URL, DEV_SECRET, OTHER_URL, OUR_URL, PROD_SECRET
from webhooks.subscription import default_triggers, describe_registration

MANAGE_PY = PROJECT_DIR / "manage.py"


@pytest.fixture
def registration_settings(calcom_settings):
    calcom_settings.ENVIRONMENT = "development"
    calcom_settings.IS_PRODUCTION = False
    calcom_settings.PUBLIC_BASE_URL = BASE_URL
    calcom_settings.CAL_COM_WEBHOOK_SECRET = DEV_SECRET
    calcom_settings.CAL_COM_WEBHOOK_SECRET_PROD = ""
    return calcom_settings


@pytest.fixture
def production(registration_settings):
    registration_settings.ENVIRONMENT = "production"
    registration_settings.IS_PRODUCTION = True
    registration_settings.CAL_COM_WEBHOOK_SECRET_PROD = PROD_SECRET
    return registration_settings


def run(*args: str) -> tuple[str, str]:
    stdout, stderr = StringIO(), StringIO()
    call_command("register_calcom_webhooks", *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


# --- the command: register ------------------------------------------------------------------------


def test_creates_the_webhook(registration_settings, calcom_server):
    stdout, _ = run()
    [row] = calcom_server.webhooks_for(subscriber_url=OUR_URL)
    assert row["active"] is True
    assert row["eventTriggers"] == list(default_triggers())
    assert row["secret"] == DEV_SECRET
    assert [(r.method, r.path) for r in calcom_server.write_requests] == [("POST", "/v2/webhooks")]
    assert "Plan: create" in stdout and "Created webhook" in stdout
    assert DEV_SECRET not in stdout


def test_a_second_run_writes_nothing(registration_settings, calcom_server):
    run()
    calcom_server.clear_log()
    stdout, _ = run()
    assert calcom_server.write_requests == []
    assert [r.method for r in calcom_server.requests] == ["GET"]
    assert "Nothing to do" in stdout


def test_updates_our_webhook_in_place_and_leaves_others_alone(registration_settings, calcom_server):
    other = calcom_server.add_webhook(
        subscriber_url=OTHER_URL, triggers=["FORM_SUBMITTED"], active=False, secret="theirs"
    )
    other_before = dict(other)
    ours = calcom_server.add_webhook(
        subscriber_url=OUR_URL, triggers=["BOOKING_CREATED"], active=False, secret="old"
    )
    stdout, _ = run()
    assert [(r.method, r.path) for r in calcom_server.write_requests] == [
        ("PATCH", f"/v2/webhooks/{ours['id']}")
    ]
    assert calcom_server.write_requests[0].body == {
        "active": True,
        "triggers": list(default_triggers()),
        "secret": DEV_SECRET,
    }
    assert ours["active"] is True and ours["secret"] == DEV_SECRET
    assert ours["eventTriggers"] == list(default_triggers())
    assert calcom_server.webhooks[other["id"]] == other_before
    assert len(calcom_server.webhooks) == 2
    assert f"update webhook {ours['id']} in place" in stdout
    assert "old" not in stdout.replace("hold", "")  # the old secret is never printed


def test_dry_run_prints_the_plan_and_writes_nothing(registration_settings, calcom_server):
    stdout, _ = run("--dry-run")
    assert "Plan: create" in stdout and "Dry run: nothing was written" in stdout
    assert calcom_server.write_requests == [] and calcom_server.webhooks == {}

    ours = calcom_server.add_webhook(
        subscriber_url=OUR_URL, triggers=["BOOKING_CREATED"], active=False, secret=DEV_SECRET
    )
    stdout, _ = run("--dry-run")
    assert f"Plan: update webhook {ours['id']}" in stdout
    assert "active" in stdout and "false" in stdout
    assert calcom_server.write_requests == [] and ours["active"] is False


def test_triggers_can_be_overridden(registration_settings, calcom_server):
    run("--triggers", "BOOKING_CREATED,MEETING_ENDED")
    [row] = calcom_server.webhooks_for(subscriber_url=OUR_URL)
    assert row["eventTriggers"] == ["BOOKING_CREATED", "MEETING_ENDED"]


def test_unknown_triggers_fail_before_any_request(registration_settings, calcom_server):
    with pytest.raises(CommandError, match=r"unknown Cal\.com trigger\(s\): BOOKING_NO_SHOW"):
        run("--triggers", "BOOKING_CREATED,BOOKING_NO_SHOW")
    assert calcom_server.requests == []


def test_a_url_option_overrides_public_base_url(registration_settings, calcom_server):
    run("--url", "https://tunnel.example.org/api/webhooks/cal-com")
    assert calcom_server.webhooks_for(subscriber_url="https://tunnel.example.org/api/webhooks/cal-com")
    assert not calcom_server.webhooks_for(subscriber_url=OUR_URL)


def test_finds_our_webhook_beyond_the_first_page(registration_settings, calcom_server):
    for number in range(300):
        calcom_server.add_webhook(subscriber_url=f"{OTHER_URL}/{number}")
    ours = calcom_server.add_webhook(subscriber_url=OUR_URL, triggers=["BOOKING_CREATED"], secret=DEV_SECRET)
    run()
    assert [r.query.get("skip") for r in calcom_server.requests if r.method == "GET"] == [
        "0",
        "250",
    ]
    assert [(r.method, r.path) for r in calcom_server.write_requests] == [
        ("PATCH", f"/v2/webhooks/{ours['id']}")
    ]
    assert len(calcom_server.webhooks) == 301


def test_a_conflict_on_create_updates_the_webhook_that_appeared(registration_settings, calcom_server):
    # The first listing misses our webhook (it is created concurrently); Cal.com then says 409.
    listings = []

    def list_then_race(server, request, match):
        listings.append(request)
        if len(listings) == 1:
            server.add_webhook(
                subscriber_url=OUR_URL,
                triggers=["BOOKING_CREATED"],
                active=False,
                secret=DEV_SECRET,
            )
            return StubResponse(200, {"status": "success", "data": []})
        return server.v2_list_webhooks(request, match)

    calcom_server.add_route("GET", r"/v2/webhooks", list_then_race)
    run()
    assert [(r.method, r.status) for r in calcom_server.requests] == [
        ("GET", 200),
        ("POST", 409),
        ("GET", 200),
        ("PATCH", 200),
    ]
    [row] = calcom_server.webhooks_for(subscriber_url=OUR_URL)
    assert row["active"] is True


def test_5xx_then_success_is_retried(registration_settings, calcom_server):
    calcom_server.fail_next(2, status=503)
    run()
    assert [r.status for r in calcom_server.requests] == [503, 503, 200, 201]
    assert calcom_server.webhooks_for(subscriber_url=OUR_URL)


# --- the command: list and delete -----------------------------------------------------------------


def test_list_shows_every_webhook_with_secrets_masked(registration_settings, calcom_server):
    calcom_server.add_webhook(subscriber_url=OTHER_URL, secret="zapier_secret_value")
    calcom_server.add_webhook(subscriber_url=OUR_URL, triggers=default_triggers(), secret=DEV_SECRET)
    calcom_server.add_webhook(subscriber_url=OTHER_URL + "/unsigned", active=False)
    stdout, _ = run("--list")
    assert "3 webhook(s)" in stdout
    assert OTHER_URL in stdout and OUR_URL in stdout
    assert "zapier_secret_value" not in stdout and DEV_SECRET not in stdout
    assert "**** (ours)" in stdout and "none" in stdout
    lines = stdout.splitlines()
    header = next(line for line in lines if "SUBSCRIBER URL" in line)
    assert header.split() == ["ID", "SUBSCRIBER", "URL", "ACTIVE", "TRIGGERS", "SECRET", "OURS"]
    assert calcom_server.write_requests == []


def test_list_with_verbosity_2_names_the_triggers(registration_settings, calcom_server):
    calcom_server.add_webhook(subscriber_url=OTHER_URL, triggers=["FORM_SUBMITTED", "OOO_CREATED"])
    stdout, _ = run("--list", "-v", "2")
    assert "FORM_SUBMITTED, OOO_CREATED" in stdout


def test_delete_removes_only_ours(registration_settings, calcom_server):
    other = calcom_server.add_webhook(subscriber_url=OTHER_URL)
    ours = calcom_server.add_webhook(subscriber_url=OUR_URL)
    stdout, _ = run("--delete", "--dry-run")
    assert f"Would delete webhook {ours['id']}" in stdout and calcom_server.write_requests == []
    stdout, _ = run("--delete")
    assert [(r.method, r.path) for r in calcom_server.write_requests] == [
        ("DELETE", f"/v2/webhooks/{ours['id']}")
    ]
    assert list(calcom_server.webhooks) == [other["id"]]
    assert f"Deleted webhook {ours['id']}" in stdout
    stdout, _ = run("--delete")
    assert "nothing to delete" in stdout


def test_list_and_delete_are_exclusive(registration_settings, calcom_server):
    with pytest.raises(CommandError):
        run("--list", "--delete")


# --- environment safety ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, message",
    [
        ("http://vani.example.com/api/webhooks/cal-com", "must use https"),
        ("https://localhost/api/webhooks/cal-com", "local host name"),
        ("https://app.localhost/api/webhooks/cal-com", "local host name"),
        ("https://10.0.0.5/api/webhooks/cal-com", "private address (10.0.0.5)"),
        ("https://169.254.169.254/api/webhooks/cal-com", "link-local address"),
        ("https://[::1]:8443/api/webhooks/cal-com", "loopback"),
    ],
)
def test_production_refuses_unsafe_urls_before_any_request(production, calcom_server, url, message):
    with pytest.raises(CommandError) as caught:
        run("--url", url)
    assert message in str(caught.value) and "refusing" in str(caught.value)
    assert calcom_server.requests == []


def test_production_refuses_unsafe_public_base_url_too(production, calcom_server):
    production.PUBLIC_BASE_URL = "http://192.168.1.20:8000"
    with pytest.raises(CommandError, match="must use https"):
        run("--dry-run")
    assert calcom_server.requests == []


def test_production_never_registers_without_a_secret(production, calcom_server):
    production.CAL_COM_WEBHOOK_SECRET_PROD = ""
    production.CAL_COM_WEBHOOK_SECRET = ""
    with pytest.raises(CommandError, match="without a signing secret"):
        run()
    assert calcom_server.requests == []


def test_production_registers_the_prod_secret(production, calcom_server):
    stdout, stderr = run()
    [row] = calcom_server.webhooks_for(subscriber_url=OUR_URL)
    assert row["secret"] == PROD_SECRET
    assert "CAL_COM_WEBHOOK_SECRET_PROD" in stdout
    assert "looks like a production URL" not in stderr


def test_development_warns_about_a_production_looking_url(registration_settings, calcom_server):
    _, stderr = run("--dry-run")
    assert "looks like a production URL" in stderr


def test_development_allows_a_local_url(registration_settings, calcom_server):
    registration_settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"
    _, stderr = run()
    assert calcom_server.webhooks_for(subscriber_url="http://127.0.0.1:8000/api/webhooks/cal-com")
    assert "looks like a production URL" not in stderr


# --- API v1 fallback (self-hosted Cal.com without API v2) -----------------------------------------


def test_falls_back_to_v1_when_v2_answers_404(registration_settings, calcom_server):
    calcom_server.v2_enabled = False
    other = calcom_server.add_webhook(subscriber_url=OTHER_URL)
    stdout, _ = run()
    assert [(r.method, r.path) for r in calcom_server.requests] == [
        ("GET", "/v2/webhooks"),
        ("GET", "/v1/webhooks"),
        ("POST", "/v1/webhooks"),
    ]
    assert calcom_server.requests[-1].body == {
        "subscriberUrl": OUR_URL,
        "eventTriggers": list(default_triggers()),
        "active": True,
        "secret": DEV_SECRET,
    }
    assert "API version:     v1" in stdout
    [row] = calcom_server.webhooks_for(subscriber_url=OUR_URL)
    assert row["secret"] == DEV_SECRET

    # v1 cannot tell us active/secret: the re-run PATCHes exactly those two, nothing else.
    calcom_server.clear_log()
    _, stderr = run()
    [write] = calcom_server.write_requests
    assert (write.method, write.path) == ("PATCH", f"/v1/webhooks/{row['id']}")
    assert write.body == {"active": True, "secret": DEV_SECRET}
    assert "API v1 does not report" in stderr
    assert calcom_server.webhooks[other["id"]]["eventTriggers"] == ["BOOKING_CREATED"]


def test_v1_delete(registration_settings, calcom_server):
    calcom_server.v2_enabled = False
    ours = calcom_server.add_webhook(subscriber_url=OUR_URL)
    run("--delete")
    assert [(r.method, r.path) for r in calcom_server.write_requests] == [
        ("DELETE", f"/v1/webhooks/{ours['id']}")
    ]


def test_neither_api_is_a_clear_error(registration_settings, calcom_server):
    calcom_server.v2_enabled = calcom_server.v1_enabled = False
    with pytest.raises(CommandError, match="neither /v2/webhooks nor /v1/webhooks exists"):
        run()


# --- failures: one line, no traceback, no key -----------------------------------------------------


def test_a_bad_key_is_a_command_error_without_the_key(registration_settings, calcom_server):
    registration_settings.CAL_COM_API_KEY = "cal_live_not_a_real_key_42"
    with pytest.raises(CommandError) as caught:
        run()
    message = str(caught.value)
    assert "HTTP 401" in message and "Invalid API Key" in message and "CAL_COM_API_KEY" in message
    assert "cal_live_not_a_real_key_42" not in message
    assert "\n" not in message
    assert calcom_server.write_requests == []


def test_a_missing_key_is_a_command_error(registration_settings, calcom_server):
    registration_settings.CAL_COM_API_KEY = ""
    with pytest.raises(CommandError, match="CAL_COM_API_KEY is not set"):
        run()


def test_an_unreachable_api_is_a_command_error(registration_settings, calcom_unreachable_url):
    registration_settings.CAL_COM_API_URL = calcom_unreachable_url
    with pytest.raises(CommandError, match=r"could not reach Cal\.com .* connection refused"):
        run()


def test_a_calcom_validation_error_is_a_command_error(registration_settings, calcom_server):
    calcom_server.add_route(
        "POST",
        r"/v2/webhooks",
        lambda server, request, match: v2_error(
            status=400,
            code="BadRequestException",
            message="Invalid subscriber URL",
            path=request.path,
        ),
    )
    with pytest.raises(CommandError, match=r"HTTP 400.*Invalid subscriber URL"):
        run()


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    full_env = {
        key: value for key, value in os.environ.items() if not key.startswith(("CAL_COM_", "DATABASE_URL"))
    }
    full_env.update(
        {
            "ENVIRONMENT": "development",
            "PUBLIC_BASE_URL": BASE_URL,
            "CAL_COM_API_BACKOFF_SECONDS": "0",
            **env,
        }
    )
    return subprocess.run(
        [sys.executable, str(MANAGE_PY), "register_calcom_webhooks", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
        cwd=MANAGE_PY.parent,
    )


def test_bad_key_from_the_shell_is_one_line_on_stderr_and_a_non_zero_exit(calcom_server):
    result = _manage(env={"CAL_COM_API_URL": calcom_server.url, "CAL_COM_API_KEY": "cal_live_shell_key_xyz"})
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("CommandError")]
    assert len(errors) == 1 and "HTTP 401" in errors[0]
    assert "cal_live_shell_key_xyz" not in result.stderr + result.stdout


def test_server_down_from_the_shell_is_one_line_and_non_zero(calcom_unreachable_url):
    result = _manage(
        "--list",
        env={
            "CAL_COM_API_URL": calcom_unreachable_url,
            "CAL_COM_API_KEY": "cal_live_shell_key_xyz",
        },
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("CommandError")]
    assert len(errors) == 1 and "could not reach Cal.com" in errors[0]
    assert "cal_live_shell_key_xyz" not in result.stderr + result.stdout


# --- describe_registration ------------------------------------------------------------------------


def test_describe_without_a_key(registration_settings):
    registration_settings.CAL_COM_API_KEY = ""
    assert describe_registration() == "Cal.com webhook: CAL_COM_API_KEY not set"


def test_describe_not_registered(registration_settings, calcom_server):
    assert describe_registration() == f"Cal.com webhook: not registered at {OUR_URL}"


def test_describe_registered(registration_settings, calcom_server):
    run()
    count = len(default_triggers())
    assert describe_registration() == f"Cal.com webhook: registered (active, {count} triggers) at {OUR_URL}"


def test_describe_names_what_is_wrong_with_the_registration(registration_settings, calcom_server):
    calcom_server.add_webhook(subscriber_url=OUR_URL, triggers=["BOOKING_CREATED"], active=False)
    line = describe_registration()
    assert line.startswith("Cal.com webhook: registered (INACTIVE, 1 triggers, missing BOOKING_REQUESTED")


def test_describe_on_v1(registration_settings, calcom_server):
    calcom_server.v2_enabled = False
    calcom_server.add_webhook(subscriber_url=OUR_URL, triggers=default_triggers())
    assert "registered (active unknown on API v1" in describe_registration()


def test_describe_never_raises(registration_settings, calcom_server, calcom_unreachable_url):
    registration_settings.CAL_COM_API_KEY = "cal_live_hidden_key"
    line = describe_registration()
    assert line.startswith("Cal.com webhook: could not check: HTTP 401")
    assert "cal_live_hidden_key" not in line

    registration_settings.CAL_COM_API_URL = calcom_unreachable_url
    line = describe_registration()
    assert line.startswith("Cal.com webhook: could not check:") and "refused" in line
    assert len(calcom_server.requests) == 1  # no retries for a status line


def test_describe_times_out_quickly(registration_settings, calcom_server):
    calcom_server.response_delay_seconds = 0.5
    assert "timed out" in describe_registration(timeout_seconds=0.1)
