"""App config for actions."""

from django.apps import AppConfig


class ActionsConfig(AppConfig):
    name = "actions"

    def ready(self) -> None:
        from actions.receivers import reconcile_after_enrollments_run
        from leapsync.models import SyncRun
        from leapsync.signals import run_finished

        run_finished.connect(
            reconcile_after_enrollments_run,
            sender=SyncRun,
            dispatch_uid="actions.reconcile_after_enrollments_run",
        )
