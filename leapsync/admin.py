"""Admin for the sync log: runs, cursors and quarantined meters (read-only); and failed
sign-ins, with the action that unlocks them."""

from axes.admin import AccessAttemptAdmin as AxesAccessAttemptAdmin
from axes.models import AccessAttempt
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from leapsync.models import (
    QuarantinedPayload,
    SyncAlertEmail,
    SyncCursor,
    SyncIncident,
    SyncRange,
    SyncRun,
)
from meters.admin import ViewOnlyAdmin


class QuarantineInline(admin.TabularInline):
    model = QuarantinedPayload
    extra = 0
    fields = ["meter_id", "error", "created_at"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class RangeInline(admin.TabularInline):
    """A split full run's created-date ranges (leapsync/sync/ranges.py)."""

    model = SyncRange
    extra = 0
    fields = [
        "number",
        "created_from",
        "created_before",
        "status",
        "started_at",
        "finished_at",
        "pages",
        "meters_seen",
        "error",
    ]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SyncRun)
class SyncRunAdmin(ViewOnlyAdmin):
    list_display = [
        "pk",
        "stream",
        "mode",
        "status",
        "trigger",
        "started_at",
        "finished_at",
        "pages",
        "meters_seen",
        "created",
        "updated",
        "unchanged",
        "quarantined",
        "missing",
        "warnings_count",
    ]
    list_filter = ["stream", "mode", "status", "trigger"]
    date_hierarchy = "started_at"
    inlines = [RangeInline, QuarantineInline]


@admin.register(SyncCursor)
class SyncCursorAdmin(ViewOnlyAdmin):
    list_display = ["stream", "cursor", "last_success", "locked_by", "heartbeat_at"]


class SyncAlertEmailInline(admin.TabularInline):
    model = SyncAlertEmail
    extra = 0
    fields = ["kind", "status", "claimed_at", "sent_at", "attempts", "to", "error"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SyncIncident)
class SyncIncidentAdmin(ViewOnlyAdmin):
    list_display = ["pk", "opened_at", "closed_at", "is_open"]
    list_filter = ["is_open"]
    inlines = [SyncAlertEmailInline]


@admin.register(SyncAlertEmail)
class SyncAlertEmailAdmin(ViewOnlyAdmin):
    list_display = ["incident", "kind", "status", "claimed_at", "sent_at", "attempts", "to"]
    list_filter = ["kind", "status"]
    list_select_related = ["incident"]


@admin.register(QuarantinedPayload)
class QuarantinedPayloadAdmin(ViewOnlyAdmin):
    list_display = ["created_at", "stream", "meter_id", "error", "run"]
    list_filter = ["stream"]
    search_fields = ["meter_id", "error"]
    list_select_related = ["run"]


# axes registers its own admin (the import above made sure it did first); ours adds the unlock.
admin.site.unregister(AccessAttempt)


@admin.register(AccessAttempt)
class AccessAttemptAdmin(AxesAccessAttemptAdmin):
    """Failed sign-ins still counting towards a lockout, by account and address. Forgetting
    them unlocks: search the user name or address, select, and run "Unlock" (docs/deploy.md)."""

    actions = ["unlock", *AxesAccessAttemptAdmin.actions]

    @admin.action(description="Unlock: forget the selected failed sign-ins", permissions=["delete"])
    def unlock(self, request: HttpRequest, queryset: QuerySet[AccessAttempt]) -> None:
        forgotten, _ = queryset.delete()
        self.message_user(request, f"Unlocked: {forgotten} failed sign-in record(s) forgotten.")
