"""Admins see everyone's saved views and list preferences."""

from django.contrib import admin

from leapsync.preferences.models import ListPreference, SavedView


@admin.register(SavedView)
class SavedViewAdmin(admin.ModelAdmin):
    list_display = ["name", "page", "owner", "shared_with", "updated_at"]
    list_filter = ["page", "shared_with"]
    search_fields = ["name", "owner__username"]
    raw_id_fields = ["owner"]


@admin.register(ListPreference)
class ListPreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "page", "default_view"]
    list_filter = ["page"]
    raw_id_fields = ["user", "default_view"]
