"""Send HIT notifications that are due: new, due for a retry, or abandoned by a dead worker."""

from django.core.management.base import BaseCommand

from notifications.services import send_due_notifications


class Command(BaseCommand):
    help = (
        "Send pending HIT notifications whose time has come (retries with backoff, lost "
        "enqueues, rows left by a crashed worker). Run it every minute or so (cron, systemd timer)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--limit", type=int, default=500, help="At most this many rows per run (default 500)."
        )

    def handle(self, *args, limit: int, **options):
        result = send_due_notifications(limit=limit)
        self.stdout.write(
            f"sent={result.sent} retrying={result.retrying} failed={result.failed} skipped={result.skipped}"
        )
