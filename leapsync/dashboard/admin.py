"""Admin for the stored figures: what each set was computed from, and when (read-only)."""

from django.contrib import admin

from leapsync.dashboard.models import DailyCount, FigureSet
from meters.admin import ViewOnlyAdmin


@admin.register(FigureSet)
class FigureSetAdmin(ViewOnlyAdmin):
    list_display = ["name", "computed_at", "state", "format"]
    search_fields = ["name"]
    exclude = ["data"]


@admin.register(DailyCount)
class DailyCountAdmin(ViewOnlyAdmin):
    list_display = ["day", "series", "key", "count", "rebuilt"]
    list_filter = ["series", "rebuilt"]
    date_hierarchy = "day"
