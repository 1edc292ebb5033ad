"""How fresh each stream's data is: its last successful run against SYNC_FRESHNESS_MINUTES.

Read by the Sync page and by the sync alerts (`leapsync.alerts`); one query.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings

from leapsync.models import Stream, SyncCursor, SyncRun


@dataclass(frozen=True)
class StreamFreshness:
    """One stream: its last successful run (None: never), and whether that is too old."""

    stream: str
    label: str
    last_success: SyncRun | None
    stale: bool


def stream_freshness(now: datetime) -> list[StreamFreshness]:
    """Every stream, in Stream order; stale when its last success finished longer ago than
    SYNC_FRESHNESS_MINUTES before `now`, or never happened."""
    limit = timedelta(minutes=settings.SYNC_FRESHNESS_MINUTES)
    cursors = {c.stream: c for c in SyncCursor.objects.select_related("last_success")}
    rows = []
    for stream, label in Stream.choices:
        cursor = cursors.get(stream)
        success = cursor.last_success if cursor is not None else None
        finished = success.finished_at if success is not None else None
        stale = finished is None or now - finished > limit
        rows.append(StreamFreshness(stream, label, success, stale))
    return rows
