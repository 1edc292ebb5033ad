"""What the meters app does when the sync engine reports a finished run."""

from __future__ import annotations

from typing import Any

from leapsync.models import RunStatus, SyncRun
from meters.candidates import SCORE_STALE_TASK, queue_scoring


def score_after_run(sender: type[SyncRun], run: SyncRun, **kwargs: Any) -> None:
    """A run that created or changed meters queues their scoring, so new meters get their
    candidate site in the review queue without waiting for the nightly scoring."""
    if run.status != RunStatus.SUCCEEDED or not (run.created or run.updated):
        return
    queue_scoring(SCORE_STALE_TASK)
