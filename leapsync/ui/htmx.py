"""Shared HTMX helpers for the views: which requests get a fragment instead of a page."""

from __future__ import annotations

from django.http import HttpRequest


def wants_partial(request: HttpRequest) -> bool:
    """Fragments are for in-page swaps; boosted links and history restores need the full page."""
    htmx = request.htmx
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request
