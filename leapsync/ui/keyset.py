"""Keyset pagination, newest first by (a time, then the id): every page, however deep, is one
indexed query. A page link carries the id of the row it continues from (`?before=`, older, or
`?after=`, newer); the row's time is looked up, so a link stays short and cannot be forged into
a different order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Model, QuerySet


@dataclass(frozen=True)
class KeysetPage:
    rows: list[Any]
    newer: int | None  # `?after=` for the newer page; None when this page is the newest
    older: int | None  # `?before=` for the older page; None when this page is the oldest
    note: str = ""  # why the page asked for is not the one shown (a stale or broken link)

    @property
    def is_newest(self) -> bool:
        return self.newer is None


def parse_cursor(value: str | None) -> int | None:
    """A page link's id, or None when the link carries none (or garbage)."""
    value = (value or "").strip()
    return int(value) if value.isdigit() and len(value) < 19 else None


def keyset_page(
    queryset: QuerySet, *, time_field: str, before: str | None, after: str | None, size: int
) -> KeysetPage:
    """One page of `queryset` (already filtered), newest first by `time_field`, then id."""
    model: type[Model] = queryset.model
    newest_first = (f"-{time_field}", "-pk")
    cursor_id = parse_cursor(before) or parse_cursor(after)
    note = ""
    anchor = None
    if cursor_id is not None:
        anchor = model._default_manager.filter(pk=cursor_id).values_list(time_field, flat=True)
        anchor = anchor.first()
        if anchor is None:
            note = "That page link no longer leads anywhere; here are the newest changes."
    elif before or after:
        note = "That page link is not valid; here are the newest changes."

    if anchor is not None and parse_cursor(after) is not None and not parse_cursor(before):
        # Newer than the anchor: read upwards, then show newest first.
        rows = list(
            queryset.filter(**{f"{time_field}__gte": anchor})
            .exclude(**{time_field: anchor, "pk__lte": cursor_id})
            .order_by(time_field, "pk")[: size + 1]
        )
        more_newer = len(rows) > size
        rows = rows[:size][::-1]
        if not rows:  # nothing newer any more: the newest page
            return keyset_page(queryset, time_field=time_field, before=None, after=None, size=size)
        return KeysetPage(rows, rows[0].pk if more_newer else None, rows[-1].pk, note)

    if anchor is not None:
        queryset = queryset.filter(**{f"{time_field}__lte": anchor}).exclude(
            **{time_field: anchor, "pk__gte": cursor_id}
        )
    rows = list(queryset.order_by(*newest_first)[: size + 1])
    more_older = len(rows) > size
    rows = rows[:size]
    newer = rows[0].pk if anchor is not None and rows else None
    return KeysetPage(rows, newer, rows[-1].pk if more_older else None, note)
