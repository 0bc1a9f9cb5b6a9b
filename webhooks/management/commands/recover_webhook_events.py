"""Re-enqueue webhook events a dead worker or a lost enqueue left behind; once, or forever."""

import time
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError, close_old_connections
from django.utils import timezone

from webhooks.recovery import recover_stuck_events


class Command(BaseCommand):
    help = (
        "Enqueue again events left received/processing longer than --older-than seconds (a "
        "killed worker, a lost enqueue) and failed events whose retry is overdue. With --every, "
        "repeat forever (run it beside db_worker under the same supervisor)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            type=float,
            default=None,
            metavar="SECONDS",
            help="how long an event may wait before it counts as stuck "
            "(default: WEBHOOK_STUCK_AFTER_SECONDS)",
        )
        parser.add_argument(
            "--every",
            type=float,
            default=None,
            metavar="SECONDS",
            help="sweep again every SECONDS until stopped, instead of once",
        )

    def handle(self, *args, older_than, every, **options):
        if older_than is None:
            older_than = settings.WEBHOOK_STUCK_AFTER_SECONDS
        threshold = timedelta(seconds=older_than)
        if every is None:
            count = recover_stuck_events(older_than=threshold)
            self.stdout.write(f"recovered {count} event(s) stuck for over {older_than:g} s")
            return
        self.stdout.write(f"sweeping every {every:g} s for events stuck over {older_than:g} s")
        while True:
            close_old_connections()  # a connection broken by a database restart is replaced
            try:
                count = recover_stuck_events(older_than=threshold)
            except DatabaseError as exc:
                # The database is down: keep going, the next sweep will catch up.
                self.stderr.write(f"{timezone.now():%Y-%m-%d %H:%M:%S} sweep failed: {exc}")
            else:
                if count:
                    self.stdout.write(f"{timezone.now():%Y-%m-%d %H:%M:%S} recovered {count} event(s)")
            time.sleep(every)
