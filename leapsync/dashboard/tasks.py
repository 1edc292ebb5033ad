"""django-q2 entry point of the read side (scheduled every minute by leapsync.tasks)."""

from __future__ import annotations

from leapsync.dashboard import store


def refresh_figures(names: list[str] | None = None) -> str:
    """Recompute the out-of-date figure sets (all of them when `names` is None)."""
    done = store.refresh(names)
    return f"recomputed {len(done)} figure set(s): {', '.join(done) or 'none out of date'}"
