"""`manage.py import_sites FILE`: upsert the partner's sites from a CSV file by external_id."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.template.defaultfilters import pluralize

from meters.candidates import SCORE_ALL_TASK, queue_scoring
from meters.imports import ImportFileError, import_sites
from meters.services import map_unmapped_by_reference


class Command(BaseCommand):
    help = (
        "Import sites from a CSV file (header line required; external_id column required). "
        "Bad rows are reported with their line and skipped; the others are imported. A file "
        "that cannot be read whole (not UTF-8 text, binary data, broken quoting) is refused "
        "and nothing of it is written."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="path of the CSV file")
        parser.add_argument(
            "--dry-run", action="store_true", help="check the file and report, write nothing"
        )
        parser.add_argument(
            "--no-match",
            action="store_true",
            help="do not map unmapped meters whose partner_reference equals a site's external_id",
        )

    def handle(self, *args, **options) -> None:
        try:
            with open(options["file"], "rb") as stream:
                report = import_sites(stream, dry_run=options["dry_run"])
        except OSError as error:
            raise CommandError(f"Cannot read {options['file']}: {error.strerror}") from None
        except ImportFileError as error:
            raise CommandError(str(error)) from None
        for line, reason in report.errors:
            self.stderr.write(f"line {line}: {reason}")
        if report.error_count > len(report.errors):
            self.stderr.write(f"... and {report.error_count - len(report.errors)} more bad rows")
        if report.ignored_columns and options["verbosity"] > 0:
            self.stdout.write(f"ignored columns: {', '.join(report.ignored_columns)}")
        mapped = ""
        # import_sites returned, so its transaction committed: map against the new sites now.
        if not options["dry_run"] and not options["no_match"]:
            count = map_unmapped_by_reference()
            mapped = f"; {count} meter{pluralize(count)} mapped by reference"
        if not options["dry_run"]:
            queue_scoring(SCORE_ALL_TASK)
            mapped += "; the review queue's candidate sites queued for scoring"
        prefix = "would import (dry run) " if options["dry_run"] else ""
        self.stdout.write(self.style.SUCCESS(f"{prefix}{report.summary()}{mapped}"))
