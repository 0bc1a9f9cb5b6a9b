"""`manage.py seed_demo_data --events N [--seed S]`: fill a database with realistic demo data."""

from django.core.management.base import BaseCommand, CommandError

from devtools.demo.seeding import AlreadySeeded, seed_demo_data


class Command(BaseCommand):
    help = (
        "Add N realistic Cal.com webhook events (every trigger, a production-like status mix, "
        "received over the last 30 days) with their meetings, booking uids and targets."
    )

    def add_arguments(self, parser):
        parser.add_argument("--events", type=int, default=10_000, help="number of webhook events")
        parser.add_argument("--seed", type=int, default=1, help="same seed, same data")
        parser.add_argument("--batch-size", type=int, default=10_000, help="rows per insert")
        parser.add_argument(
            "--sequential",
            action="store_true",
            help="write batches on this connection only (no overlap of generating and writing)",
        )
        parser.add_argument(
            "--writers",
            type=int,
            default=2,
            help="processes writing batches while the next is generated (PostgreSQL) [2]",
        )

    def handle(
        self, *args, events: int, seed: int, batch_size: int, sequential: bool, writers: int, **options
    ):
        if events < 1:
            raise CommandError("--events must be at least 1")
        if writers < 1:
            raise CommandError("--writers must be at least 1")
        verbose = options["verbosity"] > 1
        try:
            summary = seed_demo_data(
                events=events,
                seed=seed,
                batch_size=batch_size,
                background_writes=not sequential,
                writer_processes=writers,
                progress=(lambda message: self.stdout.write(message)) if verbose else None,
            )
        except AlreadySeeded as exc:
            raise CommandError(f"{exc}; use another --seed or an empty database") from exc
        mix = ", ".join(f"{status} {count}" for status, count in sorted(summary.by_status.items()))
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {summary.events} events ({mix}), {summary.meetings} meetings, "
                f"{summary.booking_uids} booking uids, {summary.targets} targets, "
                f"{summary.attempts} processing attempts, {summary.status_changes} status changes "
                f"in {summary.seconds:.1f} s."
            )
        )
