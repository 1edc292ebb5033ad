"""Admin for Leap's webhooks: events, refreshes and refusal counters (read-only)."""

from django.contrib import admin

from leapsync.webhooks.models import WebhookEvent, WebhookRefresh, WebhookRejection
from meters.admin import ViewOnlyAdmin


@admin.register(WebhookEvent)
class WebhookEventAdmin(ViewOnlyAdmin):
    list_display = ["received_at", "webhook_event_type", "webhook_event_id", "state", "refresh"]
    list_filter = ["state", "webhook_event_type"]
    search_fields = ["webhook_event_id", "partner_reference", "market_group_id"]
    list_select_related = ["refresh"]
    raw_id_fields = ["refresh"]


@admin.register(WebhookRefresh)
class WebhookRefreshAdmin(ViewOnlyAdmin):
    list_display = ["pk", "status", "created_at", "finished_at", "event_count", "meter_count"]
    list_filter = ["status"]
    raw_id_fields = ["details_run", "enrollments_run"]


@admin.register(WebhookRejection)
class WebhookRejectionAdmin(ViewOnlyAdmin):
    list_display = ["reason", "count", "last_at"]
