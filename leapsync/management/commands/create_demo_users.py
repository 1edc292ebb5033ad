"""Create the demo users (admin, operations, manager) once, printing their passwords once."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

DEMO_USERS = (
    ("admin", {"is_staff": True, "is_superuser": True}, None),
    ("ops", {}, "Operations"),
    ("manager", {}, "Managers"),
)


class Command(BaseCommand):
    help = "Development only: create demo users; existing ones are left as they are."

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG:
            raise CommandError("demo users are for development (DEBUG=1) only")
        call_command("setup_leapsync", verbosity=0)
        User = get_user_model()
        created = []
        for username, flags, group_name in DEMO_USERS:
            if User.objects.filter(username=username).exists():
                continue
            password = secrets.token_urlsafe(9)
            user = User.objects.create_user(
                username, email=f"{username}@example.com", password=password, **flags
            )
            if group_name:
                user.groups.add(Group.objects.get(name=group_name))
            created.append((username, password))
        if not created:
            self.stdout.write("Demo users already exist; their passwords are unchanged.")
            return
        self.stdout.write(self.style.SUCCESS("Demo users (shown once, not stored anywhere):"))
        for username, password in created:
            self.stdout.write(f"  {username:<8} {password}")
