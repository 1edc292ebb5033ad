"""Admin for the sync log: runs, cursors and quarantined meters (read-only)."""

from django.contrib import admin

from leapsync.models import QuarantinedPayload, SyncCursor, SyncRun
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
    inlines = [QuarantineInline]


@admin.register(SyncCursor)
class SyncCursorAdmin(ViewOnlyAdmin):
    list_display = ["stream", "cursor", "last_success", "locked_by", "heartbeat_at"]


@admin.register(QuarantinedPayload)
class QuarantinedPayloadAdmin(ViewOnlyAdmin):
    list_display = ["created_at", "stream", "meter_id", "error", "run"]
    list_filter = ["stream"]
    search_fields = ["meter_id", "error"]
    list_select_related = ["run"]
