"""App config for the sync engine's own models (SyncRun, SyncCursor)."""

from django.apps import AppConfig


class LeapsyncConfig(AppConfig):
    name = "leapsync"
    verbose_name = "Leap sync"
