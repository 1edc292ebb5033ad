"""App config for the sync engine's own models (SyncRun, SyncCursor)."""

from django.apps import AppConfig


class LeapsyncConfig(AppConfig):
    name = "leapsync"
    verbose_name = "Leap sync"

    def ready(self) -> None:
        from leapsync import lookups  # noqa: F401  (registers the `__any` lookup)
