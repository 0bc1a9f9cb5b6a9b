"""Abuse limits, client addresses behind proxies, secrets, deploy settings and log format."""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import subprocess
import sys

import pytest
from django.test import RequestFactory
from prometheus_client import REGISTRY
from pythonjsonlogger.json import JsonFormatter

from tests.support.bodies import fresh_booking_body as booking_body
from tests.support.delivery import TEST_SECRET, WEBHOOK_URL
from tests.support.live import PROJECT_DIR, free_port
from webhooks.models import WebhookEvent, WebhookEventStatus
from webhooks.views import client_ip

# --- Client address --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trusted", "remote", "forwarded", "expected"),
    [
        ([], "203.0.113.9", "198.51.100.1", "203.0.113.9"),  # no proxy configured: header ignored
        (["10.0.0.1"], "203.0.113.9", "198.51.100.1", "203.0.113.9"),  # not from our proxy
        (["10.0.0.1"], "10.0.0.1", "198.51.100.1", "198.51.100.1"),
        (["10.0.0.1"], "10.0.0.1", "", "10.0.0.1"),
        # The client wrote the left entry itself; our proxy appended the real address.
        (["10.0.0.1"], "10.0.0.1", "1.2.3.4, 198.51.100.1", "198.51.100.1"),
        # Two proxies of ours (a CIDR range), then the client.
        (["10.0.0.0/8"], "10.0.0.1", "198.51.100.1, 10.0.0.7", "198.51.100.1"),
        (["10.0.0.0/8"], "10.0.0.1", "10.0.0.9, 10.0.0.7", "10.0.0.9"),
        (["10.0.0.1"], "10.0.0.1", "198.51.100.1:4711", "198.51.100.1"),
        (["10.0.0.1"], "10.0.0.1", "[2001:db8::1]:443", "2001:db8::1"),
        (["10.0.0.1"], "10.0.0.1", "not-an-address", "10.0.0.1"),
        (["::1", "127.0.0.1"], "::1", "2001:db8::5", "2001:db8::5"),
        (["bogus", "10.0.0.1"], "10.0.0.1", "198.51.100.1", "198.51.100.1"),  # bad entry skipped
    ],
)
def test_client_ip_believes_forwarded_for_only_from_trusted_proxies(
    settings, trusted, remote, forwarded, expected
):
    settings.TRUSTED_PROXY_IPS = trusted
    request = RequestFactory().post(WEBHOOK_URL, REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


@pytest.mark.django_db
def test_forwarded_address_is_stored_on_the_event(deliver, settings):
    settings.TRUSTED_PROXY_IPS = ["127.0.0.1"]
    response = deliver(booking_body(), X_Forwarded_For="198.51.100.23")
    assert WebhookEvent.objects.get(pk=response.json()["event_id"]).client_ip == "198.51.100.23"


# --- Rate limit on refused deliveries ---------------------------------------------------------


def rate_limited_total() -> float:
    return REGISTRY.get_sample_value("vani_webhook_refused_rate_limited_total") or 0.0


@pytest.mark.django_db
def test_refused_deliveries_past_the_limit_are_answered_429_and_only_counted(deliver, client, settings):
    settings.WEBHOOK_REJECTED_LIMIT_PER_MINUTE = 3
    counted_before = rate_limited_total()
    codes = [deliver(booking_body(), signature="f" * 64).status_code for _ in range(12)]
    assert codes == [401] * 3 + [429] * 9
    rejected = WebhookEvent.objects.filter(status=WebhookEventStatus.REJECTED).order_by("id")
    assert rejected.count() == 4  # three refusals and one marker for the other nine
    marker = rejected.last()
    assert marker.status_reason.startswith("rate limited: more than 3 refused deliveries")
    assert "at least 8 answered 429" in marker.status_reason  # updated at powers of two
    assert rate_limited_total() - counted_before == 9

    # Valid Cal.com traffic from the same address is never limited.
    accepted = deliver(booking_body())
    assert accepted.status_code == 200
    # Another address has its own budget.
    other = client.post(
        WEBHOOK_URL,
        booking_body(),
        content_type="application/json",
        HTTP_X_CAL_SIGNATURE_256="f" * 64,
        REMOTE_ADDR="192.0.2.50",
    )
    assert other.status_code == 401
    assert other.json()["event_id"]


@pytest.mark.django_db
def test_429_answer_names_the_cause_and_when_to_retry(deliver, settings):
    settings.WEBHOOK_REJECTED_LIMIT_PER_MINUTE = 0
    response = deliver(booking_body(), secret=None)
    assert response.status_code == 429
    assert response["Retry-After"] == "60"
    assert "missing X-Cal-Signature-256" in response.json()["error"]


@pytest.mark.django_db
def test_rate_limiter_fails_open_when_its_cache_is_down(deliver, settings):
    settings.WEBHOOK_REJECTED_LIMIT_PER_MINUTE = 1
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",  # nobody listens there
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    codes = [deliver(booking_body(), signature="0" * 64).status_code for _ in range(3)]
    assert codes == [401, 401, 401]  # counted nowhere, so nobody is limited; all still stored
    assert WebhookEvent.objects.filter(status=WebhookEventStatus.REJECTED).count() == 3


def redis_is_running() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.mark.django_db
@pytest.mark.skipif(not redis_is_running(), reason="no Redis server on 127.0.0.1:6379")
def test_rate_limit_counts_in_redis_shared_by_all_web_processes(deliver, settings):
    settings.WEBHOOK_REJECTED_LIMIT_PER_MINUTE = 2
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/15",
            "KEY_PREFIX": f"vani-test-{secrets.token_hex(4)}",
        }
    }
    codes = [deliver(booking_body(), signature="0" * 64).status_code for _ in range(4)]
    assert codes == [401, 401, 429, 429]


@pytest.mark.django_db
def test_refused_bodies_are_stored_only_up_to_the_cap(deliver, settings):
    settings.REJECTED_BODY_CAP_BYTES = 256
    body = json.dumps({"triggerEvent": "BOOKING_CREATED", "junk": "x" * 10_000}).encode()
    response = deliver(body, signature="0" * 64)
    assert response.status_code == 401
    event = WebhookEvent.objects.get(pk=response.json()["event_id"])
    assert bytes(event.raw_body) == body[:256]
    assert event.body_size == len(body)
    assert event.body_truncated is True


# --- Secrets never leak ----------------------------------------------------------------------

LEAKABLE = {
    "Authorization": "Bearer sk_live_leak_me_authorization",
    "Cookie": "sessionid=leak_me_cookie",
    "X-Api-Key": "leak_me_api_key",
    "X-Webhook-Secret": "leak_me_webhook_secret",
}


def leaked(text: str) -> list[str]:
    values = [*LEAKABLE.values(), "leak_me", TEST_SECRET]
    return [value for value in values if value in text]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("signed", [True, False])
def test_secrets_stay_out_of_stored_headers_logs_answers_and_admin(deliver, admin_client, caplog, signed):
    headers = {name.replace("-", "_"): value for name, value in LEAKABLE.items()}
    with caplog.at_level(logging.DEBUG):
        response = deliver(booking_body(), signature=None if signed else "0" * 64, **headers)
    assert response.status_code == (200 if signed else 401)
    event = WebhookEvent.objects.get(pk=response.json()["event_id"])
    for name in (*LEAKABLE, "X-Cal-Signature-256"):
        assert event.headers[name] == "***"
    assert leaked(json.dumps(event.headers)) == []
    assert leaked(caplog.text) == []
    assert leaked(response.content.decode()) == []
    for page in (
        "/admin/webhooks/webhookevent/",
        f"/admin/webhooks/webhookevent/{event.pk}/change/",
    ):
        answer = admin_client.get(page)
        assert answer.status_code == 200
        assert leaked(answer.content.decode()) == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_database_outage_answer_and_log_carry_no_secrets(client, webhook_secret, settings, caplog):
    """A 503 during an outage says nothing about the database's address or credentials."""
    from django.db import connection

    original = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict["PORT"] = str(free_port())
    connection.settings_dict["PASSWORD"] = "leak_me_db_password"
    try:
        with caplog.at_level(logging.DEBUG):
            response = client.post(
                WEBHOOK_URL,
                b"{}",
                content_type="application/json",
                HTTP_X_CAL_SIGNATURE_256="0" * 64,
            )
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(original)
    assert response.status_code == 503
    assert "leak_me" not in response.content.decode()
    assert "leak_me" not in caplog.text
    assert "webhook database unavailable" in caplog.text


# --- Production settings ----------------------------------------------------------------------


def production_env(**extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "TRUSTED_PROXY_IPS"}
    }
    env.update(
        ENVIRONMENT="production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        CAL_COM_WEBHOOK_SECRET="whsec_" + secrets.token_hex(16),
        DJANGO_ALLOWED_HOSTS="vani.example.com",
        **extra,
    )
    return env


def test_check_deploy_is_clean_with_production_settings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=PROJECT_DIR,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("command", ["check", "check --deploy", "gunicorn"])
def test_production_refuses_to_start_with_debug_on(command):
    """The debug 500 page would show the Slack URL and secrets; production must not start."""
    if command == "gunicorn":
        # gunicorn runs no system checks itself; vani/wsgi.py runs them when it is imported.
        argv = [sys.executable, "-c", "import vani.wsgi"]
    else:
        argv = [sys.executable, "manage.py", *command.split()]
    result = subprocess.run(
        argv,
        cwd=PROJECT_DIR,
        env=production_env(DJANGO_DEBUG="true"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "vani.E005" in result.stdout + result.stderr
    assert "DJANGO_DEBUG is on in production" in result.stdout + result.stderr


@pytest.mark.django_db
def test_https_redirect_spares_the_webhook_and_probes(client, settings, deliver):
    settings.SECURE_SSL_REDIRECT = True
    admin_page = client.get("/admin/")
    assert admin_page.status_code == 301
    assert admin_page["Location"].startswith("https://")
    assert deliver(booking_body()).status_code == 200  # Cal.com never follows a redirect
    assert deliver(booking_body(), path=WEBHOOK_URL + "/").status_code == 200
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200


@pytest.mark.django_db
def test_proxy_https_header_is_believed_only_when_configured(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert client.get("/admin/", HTTP_X_FORWARDED_PROTO="https").status_code == 302  # to login


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("remote", "expected_status"),
    [
        ("203.0.113.9", 301),  # a client claiming HTTPS directly is still redirected
        ("10.0.0.1", 302),  # our proxy terminated TLS: HTTPS, on to the login page
        ("10.0.0.77", 302),  # any address of the trusted range
    ],
)
def test_proxy_https_header_is_believed_only_from_trusted_proxies(client, settings, remote, expected_status):
    settings.SECURE_SSL_REDIRECT = True
    settings.TRUSTED_PROXY_IPS = ["10.0.0.1", "10.0.0.64/26"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    response = client.get("/admin/", HTTP_X_FORWARDED_PROTO="https", REMOTE_ADDR=remote)
    assert response.status_code == expected_status


@pytest.mark.parametrize(
    ("trusted", "remote", "secure"),
    [
        (["10.0.0.1"], "203.0.113.9", False),
        (["10.0.0.1"], "10.0.0.1", True),
        ([], "203.0.113.9", True),  # TRUSTED_PROXY=true without addresses: believed (opt-in)
    ],
)
def test_is_secure_follows_the_trusted_proxy_list(settings, trusted, remote, secure):
    from webhooks.middleware import TrustedProxyProtoMiddleware

    settings.TRUSTED_PROXY_IPS = trusted
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_PROTO="https")
    assert TrustedProxyProtoMiddleware(lambda req: req.is_secure())(request) is secure


def test_trusted_proxy_setting_turns_on_the_https_header():
    probe = (
        "import django; django.setup(); from django.conf import settings; "
        "print(getattr(settings, 'SECURE_PROXY_SSL_HEADER', None))"
    )
    env = {**production_env(), "DJANGO_SETTINGS_MODULE": "vani.settings"}
    plain = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    proxied = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=PROJECT_DIR,
        env={**env, "TRUSTED_PROXY_IPS": "127.0.0.1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert plain.stdout.strip() == "None"
    assert proxied.stdout.strip() == "('HTTP_X_FORWARDED_PROTO', 'https')"


# --- Structured logs ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_one_key_value_line_per_delivery_and_per_processing_run(deliver, caplog):
    with caplog.at_level(logging.INFO, logger="webhooks"):
        event_id = deliver(booking_body()).json()["event_id"]
    lines = [r.getMessage() for r in caplog.records if r.name == "webhooks"]
    delivery = [line for line in lines if line.startswith("webhook delivery ")]
    processing = [line for line in lines if line.startswith("webhook processing ")]
    assert len(delivery) == len(processing) == 1
    for line, keys in (
        (delivery[0], ("event_id", "trigger", "uid", "outcome", "duration_ms")),
        (processing[0], ("event_id", "trigger", "uid", "attempt", "via", "outcome", "duration_ms")),
    ):
        fields = dict(pair.split("=", 1) for pair in line.split(" ")[2:])
        assert set(keys) <= set(fields)
        assert fields["event_id"] == str(event_id)
        assert fields["trigger"] == "BOOKING_CREATED"
        assert fields["outcome"] == "processed"
        float(fields["duration_ms"])


@pytest.mark.django_db
def test_json_log_format_puts_the_fields_in_json_keys(deliver):
    stream_lines: list[str] = []

    class ListHandler(logging.Handler):
        def emit(self, record):
            stream_lines.append(self.format(record))

    handler = ListHandler()
    handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("webhooks")
    logger.addHandler(handler)
    try:
        event_id = deliver(booking_body(), signature="0" * 64).json()["event_id"]
    finally:
        logger.removeHandler(handler)
    records = [json.loads(line) for line in stream_lines]
    rejected = next(r for r in records if r["message"].startswith("webhook rejected"))
    assert rejected["event_id"] == event_id
    assert rejected["outcome"] == "rejected"
    assert rejected["cause"].startswith("X-Cal-Signature-256 does not match")


def test_log_format_json_setting_configures_the_console():
    emit = (
        "import django, logging; django.setup(); from common.logfields import log_fields; "
        "log_fields(logger=logging.getLogger('webhooks'), level=logging.WARNING, "
        "what='webhook probe', event_id=7, cause='two words')"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "vani.settings", "LOG_FORMAT": "json"}
    result = subprocess.run(
        [sys.executable, "-c", emit],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    record = json.loads(result.stderr.strip().splitlines()[-1])
    assert record["message"] == 'webhook probe event_id=7 cause="two words"'
    assert (record["event_id"], record["cause"], record["levelname"]) == (7, "two words", "WARNING")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("declared", [2**31, 2**63, 10**30])
def test_a_huge_declared_length_is_413_not_a_false_outage(client, webhook_secret, caplog, declared):
    """body_size is a 32-bit column on PostgreSQL: storing the declared length failed with
    'integer out of range', answered 503 with an ERROR 'database unavailable' line (on SQLite,
    past 64 bits, a 500)."""
    with caplog.at_level(logging.INFO):
        response = client.generic(
            "POST",
            WEBHOOK_URL,
            b"{}",
            content_type="application/json",
            CONTENT_LENGTH=str(declared),
        )
    assert response.status_code == 413, response.content
    event = WebhookEvent.objects.get(pk=response.json()["event_id"])
    assert event.status == WebhookEventStatus.REJECTED
    assert event.body_size == 2**31 - 1 and event.body_truncated is True
    assert f"body of {declared} bytes is over the" in event.status_reason
    assert "database unavailable" not in caplog.text
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert f"size={declared}" in caplog.text


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("X-Cal-Signature-256", True),
        ("Authorization", True),
        ("Proxy-Authorization", True),
        ("X-Auth-Token", True),
        ("X-Password", True),
        ("X-Db-Passwd", True),
        ("X-Access-Key", True),
        ("X-Private-Key", True),
        ("X-Api-Key", True),
        ("Apikey", True),
        ("X-Webhook-Secret", True),
        ("X-Csrftoken", True),
        ("Cookie", True),
        ("Set-Cookie", True),
        ("X-Session-Id", True),
        ("X-Amz-Credential", True),
        ("Content-Type", False),
        ("Content-Length", False),
        ("User-Agent", False),
        ("X-Cal-Webhook-Version", False),
        ("X-Forwarded-For", False),
        ("Accept-Encoding", False),
        ("Host", False),
    ],
)
def test_header_masking_covers_every_credential_like_name(name, masked):
    from webhooks.ingest import mask_headers

    stored = mask_headers(headers={name: "leak_me_value"})[name]
    assert stored == ("***" if masked else "leak_me_value")


@pytest.mark.django_db
def test_credential_headers_are_masked_on_a_stored_delivery(deliver):
    names = ("X-Password", "X-Access-Key", "X-Private-Key", "Proxy-Authorization")
    headers = {name.replace("-", "_"): f"leak_me_{name}" for name in names}
    response = deliver(booking_body(), **headers)
    assert response.status_code == 200
    event = WebhookEvent.objects.get(pk=response.json()["event_id"])
    assert {name: event.headers[name] for name in names} == dict.fromkeys(names, "***")
    assert "leak_me" not in json.dumps(event.headers)


# --- What a refused delivery may store ---------------------------------------------------------


@pytest.mark.django_db
def test_refused_headers_are_capped_with_a_marker(client, webhook_secret, settings):
    """Unsigned, each request could store ~760 KB of headers (100 fields of 8 KB)."""
    from webhooks.ingest import HEADERS_CUT_MARKER

    settings.REJECTED_HEADERS_CAP_BYTES = 4096
    stuffing = {f"HTTP_X_JUNK_{index}": "j" * 8000 for index in range(100)}
    response = client.generic(
        "POST",
        WEBHOOK_URL,
        b"{}",
        content_type="application/json",
        HTTP_X_CAL_SIGNATURE_256="0" * 64,
        HTTP_USER_AGENT="curl/8",
        **stuffing,
    )
    assert response.status_code == 401
    headers = WebhookEvent.objects.get(pk=response.json()["event_id"]).headers
    marker = headers.pop(HEADERS_CUT_MARKER)
    assert f"{len(headers)} kept, 100 values cut to 256 characters" in marker
    assert sum(len(name) + len(value) for name, value in headers.items()) <= 4096
    assert len(json.dumps(headers)) < 6000
    # What tells the refusal apart is kept first.
    assert headers["X-Cal-Signature-256"] == "***"
    assert headers["User-Agent"] == "curl/8"
    assert headers["Content-Type"] == "application/json"
    assert all(len(value) <= 257 for value in headers.values())


@pytest.mark.django_db
def test_signed_deliveries_keep_every_header(deliver, settings):
    settings.REJECTED_HEADERS_CAP_BYTES = 100
    response = deliver(booking_body(), X_Trace_Context="t" * 2000)
    assert response.status_code == 200
    headers = WebhookEvent.objects.get(pk=response.json()["event_id"]).headers
    assert headers["X-Trace-Context"] == "t" * 2000


def refuse_from(client, address: str) -> int:
    return client.post(
        WEBHOOK_URL,
        booking_body(),
        content_type="application/json",
        HTTP_X_CAL_SIGNATURE_256="0" * 64,
        REMOTE_ADDR=address,
    ).status_code


@pytest.mark.django_db
def test_refusals_are_counted_per_ipv6_64_and_per_ipv4_address(client, webhook_secret, settings):
    settings.WEBHOOK_REJECTED_LIMIT_PER_MINUTE = 3
    # Every request from a new address of one /64: the /64 shares one budget.
    codes = [refuse_from(client, f"2001:db8:0:7::{index:x}") for index in range(1, 7)]
    assert codes == [401] * 3 + [429] * 3
    marker = WebhookEvent.objects.order_by("id").last()
    assert "from 2001:db8:0:7::/64" in marker.status_reason
    # The neighbouring /64 has its own.
    assert refuse_from(client, "2001:db8:0:8::1") == 401
    # IPv4 stays per address, also written as an IPv4-mapped IPv6 address.
    assert [refuse_from(client, "203.0.113.1") for _ in range(4)] == [401] * 3 + [429]
    assert refuse_from(client, "::ffff:203.0.113.1") == 429
    assert refuse_from(client, "203.0.113.2") == 401


# The "local production trial" of docs/r12-c.md: production settings over plain HTTP.
LOCAL_TRIAL_ENV = {
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    "PUBLIC_BASE_URL": "http://127.0.0.1:8000",
    "SECURE_SSL_REDIRECT": "false",
    "SESSION_COOKIE_SECURE": "false",
    "CSRF_COOKIE_SECURE": "false",
    "SECURE_HSTS_SECONDS": "0",
}


def test_local_production_trial_settings_serve_plain_http():
    probe = (
        "import django; django.setup(); from django.conf import settings as s; "
        "from django.core import checks; "
        "print(s.IS_PRODUCTION, s.DEBUG, s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, "
        "s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, "
        "[m.id for m in checks.run_checks() if m.is_serious()])"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=PROJECT_DIR,
        env={**production_env(), **LOCAL_TRIAL_ENV, "DJANGO_SETTINGS_MODULE": "vani.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    # Production in every other respect (no DEBUG, checks pass), but no HTTPS requirement.
    assert result.stdout.split() == ["True", "False", "False", "False", "False", "0", "[]"]
