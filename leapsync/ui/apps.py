"""An installed app only so that Django finds its template tags (`{% load leapsync_ui %}`)."""

from django.apps import AppConfig


class UiConfig(AppConfig):
    name = "leapsync.ui"
    verbose_name = "Shared web helpers"
