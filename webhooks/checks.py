"""Production fails closed: refuse to start without a signing secret or a real SECRET_KEY."""

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=False)
def webhook_secret_configured(app_configs, **kwargs):
    errors = []
    if not settings.IS_PRODUCTION:
        return errors
    if not (settings.CAL_COM_WEBHOOK_SECRET or settings.CAL_COM_WEBHOOK_SECRET_PROD):
        errors.append(
            checks.Error(
                "No Cal.com webhook signing secret is configured in production.",
                hint="Set CAL_COM_WEBHOOK_SECRET (and/or CAL_COM_WEBHOOK_SECRET_PROD).",
                id="vani.E001",
            )
        )
    if settings.SECRET_KEY.startswith("django-insecure-"):
        errors.append(
            checks.Error(
                "DJANGO_SECRET_KEY is the development default in production.",
                hint="Set DJANGO_SECRET_KEY to a long random value.",
                id="vani.E002",
            )
        )
    return errors
