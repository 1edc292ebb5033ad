"""Send the managers' deadline digests that are due today (each period at most once)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.template.defaultfilters import pluralize

from leapsync.dashboard.digest import send_due_digests


class Command(BaseCommand):
    help = "Send due deadline digests; --dry-run only renders them."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="render, do not send or claim")
        parser.add_argument("--user", help="only this username's subscription")

    def handle(self, *args, **options) -> None:
        username = options.get("user")
        if username and not get_user_model().objects.filter(username=username).exists():
            raise CommandError(f"No user named {username!r}")
        outcomes = send_due_digests(dry_run=options["dry_run"], username=username)
        for outcome in outcomes:
            if options["verbosity"] > 0:
                line = f"{outcome.username} {outcome.period}: {outcome.status}"
                detail = outcome.error or outcome.subject
                self.stdout.write(f"{line} — {detail}" if detail else line)
        failed = [o for o in outcomes if o.status == "failed"]
        summary = f"{len(outcomes)} digest{pluralize(len(outcomes))} due, {len(failed)} failed"
        if failed:
            raise CommandError(summary + " (recorded; retried on the next run)")
        self.stdout.write(self.style.SUCCESS(summary))
