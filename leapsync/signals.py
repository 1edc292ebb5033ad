"""Signals the sync engine sends, for other apps to act on what a run brought in."""

from django.dispatch import Signal

# Sent once a run has finished and its outcome (and cursor) is committed, whatever the outcome;
# `run` is the SyncRun (check `run.status` and `run.stream`). Receivers run in the sync's own
# process after its lock is released; one that raises is logged and does not fail the run.
run_finished = Signal()
