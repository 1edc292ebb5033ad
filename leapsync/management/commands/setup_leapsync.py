"""Idempotent set-up run on every deploy and first start: groups, permissions, schedules."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand

from leapsync.tasks import ensure_schedules

# App models whose rows staff may read: every role sees the whole inventory.
VIEW_APPS = ("meters", "enrollments", "actions", "leapsync", "webhooks")
# What Operations may change beyond viewing (mappings, partner_reference, action workflow),
# and start: an incremental sync or a targeted refresh (a full sync stays with admins).
OPERATIONS_PERMISSIONS = (
    "leapsync.start_sync",
    "meters.change_meter",
    "meters.add_site",
    "meters.change_site",
    "meters.add_partnerreferencechange",
    "actions.change_requiredaction",
    "actions.add_actionnote",
)
# Managers subscribe to the deadline digest (editing others' subscriptions stays with admins).
MANAGERS_PERMISSIONS = ("enrollments.add_digestsubscription",)
GROUPS = {"Operations": OPERATIONS_PERMISSIONS, "Managers": MANAGERS_PERMISSIONS}


class Command(BaseCommand):
    help = "Create or update the Operations and Managers groups and the sync schedules."

    def handle(self, *args, **options) -> None:
        view = list(
            Permission.objects.filter(
                content_type__app_label__in=VIEW_APPS, codename__startswith="view_"
            )
        )
        for name, extra in GROUPS.items():
            group, created = Group.objects.get_or_create(name=name)
            group.permissions.set(view + [_permission(label) for label in extra])
            self._say(f"group {name} {'created' if created else 'updated'}", options)
        for schedule, created in ensure_schedules():
            self._say(f"schedule '{schedule.name}' {'created' if created else 'kept'}", options)
        if options["verbosity"]:
            self.stdout.write(self.style.SUCCESS("leapsync set up"))

    def _say(self, line: str, options: dict) -> None:
        if options["verbosity"] > 1:
            self.stdout.write(line)


def _permission(label: str) -> Permission:
    app_label, codename = label.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)
