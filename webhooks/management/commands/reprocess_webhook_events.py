"""Replay stored webhook events selected by status, trigger, time range or id."""

import re
from datetime import datetime, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from common.datetimes import parse_iso_moment
from webhooks.models import AttemptTrigger, WebhookEventStatus
from webhooks.ops_selectors import events_for_reprocessing
from webhooks.processing import NEVER_PROCESSED
from webhooks.reprocessing import reprocess_events

_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def moment(text: str) -> datetime:
    """An ISO date or datetime (UTC unless it says otherwise), or an age such as 90m, 6h, 7d."""
    text = text.strip()
    relative = _RELATIVE.match(text)
    if relative:
        return timezone.now() - timedelta(**{_UNITS[relative[2]]: int(relative[1])})
    parsed = parse_iso_moment(text)
    if parsed is None:
        raise ValueError(f"not a date, datetime or age: {text!r}")
    return parsed


def comma_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


class Command(BaseCommand):
    help = (
        "Reprocess webhook events through the same path as the worker. Select with --status, "
        "--trigger, --since/--until and --ids (combined with AND); without --status, every "
        "status a reprocess can run is taken (received, failed, dead, ignored; plus processed "
        "with --force)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--status",
            action="append",
            default=[],
            type=comma_list,
            help="event status, repeatable or comma-separated (e.g. failed,dead)",
        )
        parser.add_argument(
            "--trigger",
            action="append",
            default=[],
            type=comma_list,
            help="Cal.com trigger, repeatable or comma-separated (e.g. BOOKING_CANCELLED)",
        )
        parser.add_argument("--since", type=moment, help="received at or after: ISO time or age (7d)")
        parser.add_argument("--until", type=moment, help="received before: ISO time or age (1h)")
        parser.add_argument(
            "--ids", action="append", default=[], type=comma_list, help="event ids, comma-separated"
        )
        parser.add_argument(
            "--force", action="store_true", help="also re-run events that were already processed"
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="show what would be reprocessed; change nothing"
        )
        parser.add_argument(
            "--progress",
            action="store_true",
            default=None,
            help="show a progress bar even when stderr is not a terminal",
        )

    def handle(self, *args, status, trigger, since, until, ids, force, dry_run, progress, **options):
        statuses = [item for group in status for item in group]
        triggers = [item.upper() for group in trigger for item in group]
        try:
            event_ids = [int(item.lstrip("#")) for group in ids for item in group]
        except ValueError as exc:
            raise CommandError(f"--ids takes numbers: {exc}") from None
        unknown = sorted(set(statuses) - set(WebhookEventStatus.values))
        if unknown:
            known = ", ".join(WebhookEventStatus.values)
            raise CommandError(f"unknown status {', '.join(unknown)}; one of {known}")
        if not (statuses or triggers or since or until or event_ids):
            raise CommandError(
                "select something: --status, --trigger, --since/--until or --ids (e.g. --status failed,dead)"
            )
        if not statuses and not event_ids:
            statuses = [
                s
                for s in WebhookEventStatus.values
                if s not in NEVER_PROCESSED and (force or s != WebhookEventStatus.PROCESSED)
            ]
        selection = events_for_reprocessing(
            statuses=statuses, triggers=triggers, since=since, until=until, ids=event_ids
        )
        selected_ids = list(selection.values_list("id", flat=True))
        if not selected_ids:
            self.stdout.write("no events match")
            return
        if dry_run:
            by_status: dict[str, int] = {}
            for event_status in selection.values_list("status", flat=True):
                by_status[event_status] = by_status.get(event_status, 0) + 1
            self.stdout.write(
                f"dry run: {len(selected_ids)} event(s) would be reprocessed"
                f"{' (forced)' if force else ''}: {_counts(by_status)}"
            )
            preview = ", ".join(f"#{event_id}" for event_id in selected_ids[:20])
            more = f" … and {len(selected_ids) - 20} more" if len(selected_ids) > 20 else ""
            self.stdout.write(f"  {preview}{more}")
            return
        show = progress if progress is not None else self.stderr.isatty()
        with tqdm(
            total=len(selected_ids),
            unit="event",
            desc="reprocessing",
            file=self.stderr._out,
            disable=not show,
        ) as bar:
            summary = reprocess_events(
                event_ids=selected_ids,
                force=force,
                via=AttemptTrigger.COMMAND,
                on_event=lambda event_id, outcome: bar.update(1),
            )
        self.stdout.write(f"reprocessed {len(selected_ids)} event(s): {_counts(summary.outcomes)}")


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(counts.items())) or "none"
