"""django-q2 entry point of the read side (scheduled every minute by leapsync.tasks)."""

from __future__ import annotations

from django.utils import timezone

from leapsync.dashboard import history, store


def refresh_figures(names: list[str] | None = None) -> str:
    """Recompute the out-of-date figure sets (all of them when `names` is None)."""
    done = store.refresh(names)
    return f"recomputed {len(done)} figure set(s): {', '.join(done) or 'none out of date'}"


def record_daily_counts() -> str:
    """Yesterday's final daily counts and today's, and any day of the Trends window not stored
    yet rebuilt from history (daily by schedule, just after local midnight)."""
    days = history.fill(timezone.now())
    return f"daily counts written for {len(days)} day(s)"
