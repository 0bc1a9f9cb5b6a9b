"""Delete webhook events past their retention (WEBHOOK_RETENTION_DAYS)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from webhooks.retention import InvalidRetention, prune_webhook_events


def retention_entry(text: str) -> tuple[str, int]:
    status, _, days = text.partition("=")
    if not days.strip().isdigit():
        raise ValueError(f"expected STATUS=DAYS, got {text!r}")
    return status.strip(), int(days)


class Command(BaseCommand):
    help = (
        "Delete webhook events older than their status's retention, in batches. "
        "received, processing and failed events are never deleted; dead ones only when a "
        "retention is configured for them."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--retention",
            action="append",
            default=[],
            type=retention_entry,
            metavar="STATUS=DAYS",
            help="override WEBHOOK_RETENTION_DAYS for one status (repeatable), e.g. processed=30",
        )
        parser.add_argument("--batch-size", type=int, default=1000)
        parser.add_argument("--dry-run", action="store_true", help="count only; delete nothing")
        parser.add_argument(
            "--progress",
            action="store_true",
            default=None,
            help="show a progress bar even when stderr is not a terminal",
        )

    def handle(self, *args, retention, batch_size, dry_run, progress, **options):
        retention_days = {**settings.WEBHOOK_RETENTION_DAYS, **dict(retention)}
        show = progress if progress is not None else self.stderr.isatty()
        bar = tqdm(unit="event", desc="pruning", file=self.stderr._out, disable=not show or dry_run)

        def start(total: int) -> None:
            bar.reset(total=total)

        try:
            report = prune_webhook_events(
                retention_days=retention_days,
                now=timezone.now(),
                dry_run=dry_run,
                batch_size=max(batch_size, 1),
                on_start=start,
                on_batch=bar.update,
            )
        except InvalidRetention as exc:
            raise CommandError(str(exc)) from None
        finally:
            bar.close()
        verb = "would delete" if dry_run else "deleted"
        details = ", ".join(
            f"{status} {count} (older than {retention_days[status]} d)"
            for status, count in report.by_status.items()
        )
        self.stdout.write(f"{verb} {report.total} event(s): {details or 'nothing to prune'}")
        if report.batches:
            self.stdout.write(
                f"{report.batches} batch(es) of at most {batch_size}, one transaction each; "
                f"longest {report.longest_batch_seconds * 1000:.0f} ms"
            )
        if report.kept_for_duplicates:
            self.stdout.write(
                f"kept {report.kept_for_duplicates} expired event(s) that stored duplicates still "
                "point to; they go with their last duplicate"
            )
