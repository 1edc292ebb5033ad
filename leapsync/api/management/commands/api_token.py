"""`manage.py api_token create|revoke|list`: API tokens from the command line (as in admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import IntegrityError
from django.utils import timezone

from leapsync.api import tokens
from leapsync.api.models import ApiToken, Scope


class Command(BaseCommand):
    help = "Create, revoke or list the API tokens of the partner's systems."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="a new token; its secret is printed once")
        create.add_argument("name")
        create.add_argument(
            "--scope", action="append", required=True, choices=Scope.values, dest="scopes"
        )
        create.add_argument("--expires", help="ISO 8601 date or date-time")
        revoke = sub.add_parser("revoke", help="refuse a token from now on")
        revoke.add_argument("name")
        sub.add_parser("list", help="every token with its state")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"_{options['action']}")(options)

    def _create(self, options: dict[str, Any]) -> None:
        expires = _expiry(options["expires"]) if options["expires"] else None
        try:
            token, secret = tokens.issue(options["name"], options["scopes"], expires_at=expires)
        except IntegrityError:
            raise CommandError(f"A token named {options['name']!r} exists already.") from None
        self.stdout.write(secret)
        if options["verbosity"] > 0:
            self.stderr.write(
                self.style.SUCCESS(f"Created {token.name} ({', '.join(token.scopes)}).")
            )

    def _revoke(self, options: dict[str, Any]) -> None:
        token = ApiToken.objects.filter(name=options["name"]).first()
        if token is None:
            raise CommandError(f"No token named {options['name']!r}.")
        done = tokens.revoke(token)
        self.stdout.write(
            self.style.SUCCESS(f"Revoked {token.name}." if done else "Already revoked.")
        )

    def _list(self, options: dict[str, Any]) -> None:
        now = timezone.now()
        for token in ApiToken.objects.all():
            state = token.refusal(now) or "live"
            used = token.last_used_at.isoformat() if token.last_used_at else "never used"
            self.stdout.write(
                f"{token.name}\t{token.prefix}…\t{','.join(token.scopes)}\t{state}\t{used}"
            )


def _expiry(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--expires: not an ISO 8601 date: {text!r}") from None
    return timezone.make_aware(value) if timezone.is_naive(value) else value
