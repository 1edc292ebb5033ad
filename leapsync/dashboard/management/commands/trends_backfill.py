"""Rebuild the Trends page's daily counts from history (leapsync.dashboard.history)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from leapsync.dashboard import history


class Command(BaseCommand):
    help = (
        "Fill the daily counts of the last --days days (default 90) that are not stored yet, "
        "rebuilt from history as far as it goes; --again also rebuilds days rebuilt before. "
        "Days counted on the day are kept."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=history.DAYS)
        parser.add_argument(
            "--again", action="store_true", help="rebuild days that were rebuilt before too"
        )

    def handle(self, *args: object, days: int, again: bool, **options: object) -> None:
        if not 1 <= days <= 3660:
            raise CommandError("--days must be between 1 and 3660")
        written = history.fill(timezone.now(), days, rebuild_again=again)
        start = history.history_start()
        if options["verbosity"]:
            where = f"history starts {start:%Y-%m-%d}" if start else "no history yet"
            span = f"{written[0]:%Y-%m-%d} to {written[-1]:%Y-%m-%d}" if written else "none"
            self.stdout.write(
                self.style.SUCCESS(f"{len(written)} day(s) written ({span}); {where}")
            )
