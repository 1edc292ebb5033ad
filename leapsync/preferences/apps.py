"""App config of people's list preferences."""

from django.apps import AppConfig


class PreferencesConfig(AppConfig):
    name = "leapsync.preferences"
    label = "preferences"
    verbose_name = "List preferences"
