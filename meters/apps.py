"""App config for meters."""

from django.apps import AppConfig


class MetersConfig(AppConfig):
    name = "meters"

    def ready(self) -> None:
        from leapsync.models import SyncRun
        from leapsync.signals import run_finished
        from meters.receivers import score_after_run

        run_finished.connect(score_after_run, sender=SyncRun, dispatch_uid="meters.score_after_run")
