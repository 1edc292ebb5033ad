"""Saved views and column choices, per person and list."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models


class ListPage(models.TextChoices):
    """The lists whose views and columns can be saved."""

    METERS = "meters", "Meters"
    ACTIONS = "actions", "Actions"


class SavedViewQuerySet(models.QuerySet):
    def visible_to(self, user) -> SavedViewQuerySet:
        """Views `user` may open: their own, and those shared with one of their groups."""
        return self.filter(
            models.Q(owner=user) | models.Q(shared_with__in=user.groups.all())
        ).distinct()


class SavedView(models.Model):
    """A named set of filters and a sort on one list (`query`: the list's query string)."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views"
    )
    page = models.CharField(max_length=16, choices=ListPage)
    name = models.CharField(max_length=80)
    query = models.TextField(blank=True)
    shared_with = models.ForeignKey(
        Group, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SavedViewQuerySet.as_manager()

    class Meta:
        ordering = ["page", "name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "page", "name"], name="saved_view_name_per_owner_and_list"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_page_display()}: {self.name}"


class ListPreference(models.Model):
    """One person's choices on one list: the view it opens with, the columns it hides."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="list_preferences"
    )
    page = models.CharField(max_length=16, choices=ListPage)
    default_view = models.ForeignKey(
        SavedView, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    hidden_columns = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "page"], name="list_preference_per_list")
        ]

    def __str__(self) -> str:
        return f"{self.user} on {self.get_page_display()}"
