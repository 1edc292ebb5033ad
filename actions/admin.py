"""Admin for required actions: Leap's fields read-only, the workflow fields editable."""

from django.contrib import admin
from django.http import HttpRequest

from actions.models import RequiredAction


@admin.register(RequiredAction)
class RequiredActionAdmin(admin.ModelAdmin):
    list_display = [
        "meter",
        "owner",
        "action_code",
        "action_type",
        "program_identifier",
        "enrollment_deadline_date_time",
        "resolved_at",
        "status",
        "assignee",
    ]
    list_filter = ["owner", "action_type", "status", "program_identifier"]
    search_fields = ["=meter__meter_id", "action_code", "action_description"]
    list_select_related = ["meter", "assignee"]
    raw_id_fields = ["assignee"]
    readonly_fields = RequiredAction.SYNCED_FIELDS
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
