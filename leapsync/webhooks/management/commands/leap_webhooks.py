"""List, register, test or delete our webhook subscription at Leap (Webhooks API v1.1)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.template.defaultfilters import pluralize

from leapsync.leap.client import LeapClient
from leapsync.leap.errors import LeapError
from leapsync.webhooks import subscription


class Command(BaseCommand):
    help = (
        "Manage the subscription Leap delivers webhook events through: list, register "
        "(create, or read and merge: PUT replaces the whole config), test, delete."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["list", "register", "test", "delete"])
        parser.add_argument("--webhook-id", help="for delete: the subscription to remove")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            with LeapClient.from_settings() as client:
                getattr(self, f"_{options['action']}")(client, options)
        except (ImproperlyConfigured, LookupError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        except LeapError as exc:
            raise CommandError(f"Leap refused: {exc}") from exc

    def _list(self, client: LeapClient, options: dict) -> None:
        webhooks = client.list_webhooks()
        for webhook in webhooks:
            self.stdout.write(subscription.describe(webhook))
        count = len(webhooks)
        self.stdout.write(self.style.SUCCESS(f"{count} subscription{pluralize(count)} at Leap"))

    def _register(self, client: LeapClient, options: dict) -> None:
        webhook_id, created = subscription.register(client)
        verb = "created" if created else "updated (existing config read and merged)"
        self.stdout.write(self.style.SUCCESS(f"subscription {webhook_id} {verb}"))

    def _test(self, client: LeapClient, options: dict) -> None:
        report = subscription.send_test(client)
        line = (
            f"status {report.get('status_code')}, {report.get('response_time_ms')} ms"
            if report.get("status_code") is not None
            else str(report.get("error") or "no answer")
        )
        if not report.get("is_successful"):
            raise CommandError(f"Leap's test delivery failed: {line}")
        self.stdout.write(self.style.SUCCESS(f"test event delivered: {line}"))

    def _delete(self, client: LeapClient, options: dict) -> None:
        if not options["webhook_id"]:
            raise CommandError("delete needs --webhook-id (see `leap_webhooks list`)")
        client.delete_webhook(options["webhook_id"])
        self.stdout.write(self.style.SUCCESS(f"subscription {options['webhook_id']} deleted"))
