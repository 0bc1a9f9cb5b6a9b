"""`make run` prints what an operator needs: webhook URL, admin URL, secret state, next step."""

from io import StringIO

from django.core.management import call_command


def run() -> str:
    out = StringIO()
    call_command("startup_status", "--bind", "127.0.0.1:8123", stdout=out)
    return out.getvalue()


def test_prints_webhook_and_admin_urls_and_missing_secret(settings):
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8123"
    settings.CAL_COM_WEBHOOK_SECRET = settings.CAL_COM_WEBHOOK_SECRET_PROD = ""
    settings.CAL_COM_API_KEY = ""
    text = run()
    assert "http://127.0.0.1:8123/api/webhooks/cal-com" in text
    assert "http://127.0.0.1:8123/admin/" in text
    assert "NOT CONFIGURED" in text
    assert "createsuperuser" in text
    assert "https" in text  # the hint about Cal.com needing a public https URL


def test_configured_secret_is_named_never_printed(settings):
    settings.PUBLIC_BASE_URL = "https://vani.example.com"
    settings.CAL_COM_WEBHOOK_SECRET = "whsec_do_not_print_me"
    settings.CAL_COM_API_KEY = ""
    text = run()
    assert "https://vani.example.com/api/webhooks/cal-com" in text
    assert "configured (CAL_COM_WEBHOOK_SECRET)" in text
    assert "whsec_do_not_print_me" not in text
    assert "ngrok" not in text
