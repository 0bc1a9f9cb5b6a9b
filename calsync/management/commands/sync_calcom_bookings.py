"""Reconcile meetings with Cal.com's bookings API: once, or every SECONDS (beside the workers)."""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, close_old_connections
from django.utils import timezone

from calsync.services import SyncReport, SyncRequest, run_sync
from common.datetimes import parse_iso_moment

_DURATION = re.compile(r"(\d+)([dhm])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def since_moment(*, value: str, now: datetime) -> datetime:
    """`--since`: a duration back from now (`7d`, `24h`, `90m`) or an ISO date or date-time
    (naive: UTC). Raises ValueError naming the problem."""
    text = value.strip()
    duration = _DURATION.fullmatch(text)
    if duration:
        return now - timedelta(**{_UNITS[duration[2]]: int(duration[1])})
    moment = parse_iso_moment(text)
    if moment is None:
        raise ValueError(
            f"--since {value!r} is neither a duration (7d, 24h, 90m) nor an ISO date or date-time"
        )
    return moment


@contextmanager
def _quiet_retries(*, quiet: bool) -> Iterator[None]:
    """The client logs each retry as a warning; a failed run says its cause in one line instead
    (-v 2 shows the retries)."""
    client_logger = logging.getLogger("calcom.api.client")
    level = client_logger.level
    if quiet:
        client_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        client_logger.setLevel(level)


class Command(BaseCommand):
    help = (
        "Read bookings from Cal.com's API and heal the meetings they belong to (missed or lost "
        "webhook deliveries). Without --since it continues from where the last successful run "
        "stopped. With --every, repeat forever (run it beside db_worker under the same supervisor)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--since",
            metavar="WHEN",
            help="read bookings updated since WHEN: an ISO date or date-time, or 7d, 24h, 90m",
        )
        parser.add_argument(
            "--uid",
            action="append",
            default=[],
            metavar="UID",
            help="sync only this booking (repeatable)",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="print what would change (meeting uid, field old → new) and write nothing",
        )
        parser.add_argument(
            "--every",
            type=float,
            default=None,
            metavar="SECONDS",
            help="sync again every SECONDS until stopped, instead of once",
        )

    def handle(self, *args, since, uid, dry_run, every, **options):
        with _quiet_retries(quiet=options["verbosity"] < 2):
            self._handle(since=since, uid=uid, dry_run=dry_run, every=every)

    def _handle(self, *, since, uid, dry_run, every):
        try:
            moment = since_moment(value=since, now=timezone.now()) if since else None
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        request = SyncRequest(since=moment, uids=tuple(dict.fromkeys(uid)), dry_run=dry_run)
        if every is None:
            try:
                report = self._run_once(request=request)
            except DatabaseError as exc:
                raise CommandError(f"database error: {' '.join(str(exc).split())}"[:300]) from None
            if not report.ok:
                # One line naming the cause, no traceback (CommandError's own output has none).
                raise CommandError(report.problems())
            return
        self.stdout.write(f"syncing with Cal.com every {every:g} s")
        while True:
            close_old_connections()  # a connection broken by a database restart is replaced
            try:
                report = self._run_once(request=request)
            except DatabaseError as exc:
                self.stderr.write(
                    f"{timezone.now():%Y-%m-%d %H:%M:%S} sync failed: {' '.join(str(exc).split())}"
                )
            else:
                if not report.ok:
                    self.stderr.write(f"{timezone.now():%Y-%m-%d %H:%M:%S} sync failed: {report.problems()}")
            time.sleep(every)

    def _run_once(self, *, request: SyncRequest) -> SyncReport:
        bar = None
        if sys.stderr.isatty():  # a person is watching
            from tqdm import tqdm

            bar = tqdm(total=0, unit="booking", file=sys.stderr, leave=False)

        def on_total(count: int) -> None:
            if bar is not None:
                bar.total += count
                bar.refresh()

        def on_booking(uid: str) -> None:
            if bar is not None:
                bar.update(1)

        try:
            report = run_sync(request=request, on_total=on_total, on_booking=on_booking)
        finally:
            if bar is not None:
                bar.close()
        if request.dry_run:
            for change in report.meeting_changes.values():
                self.stdout.write(change.describe())
        suffix = " (dry run: nothing written)" if request.dry_run else ""
        self.stdout.write(f"{report.summary()}{suffix}")
        return report
