"""One screen on the Cal.com webhook: where it posts, whether it is signed, how it is going."""

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from common.envfile import env_file_path
from webhooks.ops_selectors import operations_status


def age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60}s"
    if whole < 86400:
        return f"{whole // 3600}h {whole % 3600 // 60}m"
    return f"{whole // 86400}d {whole % 86400 // 3600}h"


class Command(BaseCommand):
    help = (
        "Show the webhook URL, whether a signing secret is set, the last 24 hours of deliveries "
        "by status, failed/dead counts, the backlog, the last delivery, whether Cal.com has "
        "the webhook registered (asks Cal.com's API unless --offline) and the deliveries "
        "refused in the last 24 hours with their cause and fix."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--offline", action="store_true", help="do not ask Cal.com's API about the registration"
        )

    def handle(self, *args, offline, **options):
        now = timezone.now()
        status = operations_status(now=now)
        secrets = [
            name
            for name in ("CAL_COM_WEBHOOK_SECRET", "CAL_COM_WEBHOOK_SECRET_PROD")
            if getattr(settings, name)
        ]
        counts = ", ".join(f"{name} {count}" for name, count in status.events_24h_by_status.items() if count)
        lines = [
            f"webhook URL:     {settings.PUBLIC_BASE_URL + settings.WEBHOOK_PATH}",
            "signing secret:  "
            + (
                f"configured ({', '.join(secrets)})"
                if secrets
                else f"NOT CONFIGURED: set CAL_COM_WEBHOOK_SECRET (environment or {env_file_path()}); "
                "deliveries are not verified"
            ),
            f"tasks backend:   {settings.TASKS_BACKEND.rsplit('.', 1)[-1]}",
            f"last 24 hours:   {counts or 'no deliveries'}",
            f"failed:          {status.failed} (awaiting an automatic retry)",
            f"dead:            {status.dead}"
            + (" (out of attempts: reprocess_webhook_events --status dead)" if status.dead else ""),
            f"backlog:         {status.backlog.size} unfinished, oldest "
            f"{age(status.backlog.oldest_age_seconds(now=now))} old",
            f"last delivery:   {_describe(status.last_delivery, now=now)}",
        ]
        if status.last_accepted_delivery != status.last_delivery:
            lines.append(f"last accepted:   {_describe(status.last_accepted_delivery, now=now)}")
        lines.append(f"registration:    {_registration(offline=offline)}")
        lines.extend(_refused_lines(status.refused_24h, now=now))
        for line in lines:
            self.stdout.write(line)


def _refused_lines(refused, *, now) -> list[str]:
    """Refused deliveries of the last 24 hours: Cal.com does not retry a 4xx, so they are lost."""
    if not refused:
        return ["refused (24 h): none"]
    total = sum(cause.count for cause in refused)
    lines = [f"refused (24 h): {total} LOST (Cal.com does not retry a refused delivery)"]
    for cause in refused:
        when = age((now - cause.last_received_at).total_seconds())
        lines.append(
            f"  {cause.cause}: {cause.count}, last #{cause.last_event_id} {when} ago. "
            f"Cause: {cause.explanation}. Fix: {cause.fix}"
        )
    return lines


def _describe(event, *, now) -> str:
    if event is None:
        return "never"
    when = age((now - event.received_at).total_seconds())
    return (
        f"#{event.pk} {event.trigger_event or '-'} {event.status}, {when} ago "
        f"({event.received_at:%Y-%m-%d %H:%M:%S} UTC)"
    )


def _registration(*, offline: bool) -> str:
    if offline:
        return "not checked (--offline)"
    if not settings.CAL_COM_API_KEY:
        return f"not checked: CAL_COM_API_KEY is not set (environment or {env_file_path()})"
    # Imported here: it is an HTTP call to Cal.com, only made when asked for.
    from webhooks.subscription import describe_registration

    return describe_registration().removeprefix("Cal.com webhook: ")
