"""What the actions app does when the sync engine reports a finished run."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from actions.services import reconcile
from leapsync.models import RunStatus, Stream, SyncRun


def reconcile_after_enrollments_run(sender: type[SyncRun], run: SyncRun, **kwargs: Any) -> None:
    """A succeeded enrollments run (any mode) may bring new action codes and roll deadlines
    over: catalogue them and record the misses now, so the inbox and action pages only read.

    In a savepoint: if it fails, the engine logs it and the run keeps its outcome; the
    follow-up schedule catches up.
    """
    if run.stream != Stream.ENROLLMENTS or run.status != RunStatus.SUCCEEDED:
        return
    with transaction.atomic():
        reconcile()
