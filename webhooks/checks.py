"""System checks: production fails closed (signing secret, SECRET_KEY, DEBUG); queue settings
are sane."""

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
    if settings.DEBUG:
        # The debug 500 page shows settings and local variables, Slack URL and secrets included.
        errors.append(
            checks.Error(
                "DJANGO_DEBUG is on in production.",
                hint="Unset DJANGO_DEBUG (production defaults to off) or set it to false.",
                id="vani.E005",
            )
        )
    return errors


@checks.register()
def drain_settings_valid(app_configs, **kwargs):
    """The django-tasks-db queue settings (webhooks/draining.py) must make sense everywhere."""
    errors = []
    if settings.WEBHOOK_DRAIN_BATCH_SIZE < 1:
        errors.append(
            checks.Error(
                f"WEBHOOK_DRAIN_BATCH_SIZE is {settings.WEBHOOK_DRAIN_BATCH_SIZE}; a worker must "
                "claim at least one event at a time.",
                hint="Leave it unset (50) or set a positive number.",
                id="vani.E003",
            )
        )
    if not 0 <= settings.WEBHOOK_DRAIN_DELAY_SECONDS <= 60:
        errors.append(
            checks.Error(
                f"WEBHOOK_DRAIN_DELAY_SECONDS is {settings.WEBHOOK_DRAIN_DELAY_SECONDS}; deliveries "
                "would wait that long for a worker.",
                hint="Leave it unset (0.1) or set a value from 0 to 60 seconds.",
                id="vani.E004",
            )
        )
    if not 0 <= settings.WEBHOOK_DRAIN_LINGER_SECONDS <= 10:
        errors.append(
            checks.Error(
                f"WEBHOOK_DRAIN_LINGER_SECONDS is {settings.WEBHOOK_DRAIN_LINGER_SECONDS}; a drain "
                "task would hold its worker that long after the last delivery.",
                hint="Leave it unset (0.5) or set a value from 0 (no lingering) to 10 seconds.",
                id="vani.E006",
            )
        )
    return errors
