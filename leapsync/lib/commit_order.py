"""Commit order for an append-only table read by followers: the writing transaction's id.

An auto-increment id is taken when a row is inserted, not when its transaction commits, so a
reader that pages by id alone can pass a row whose transaction commits later: that row is
missed for good. A row that records its transaction's id (`CurrentTransactionId`, a column
default) can be read in (transaction id, id) order up to `SAFE_WATERMARK`: every transaction
below the oldest one still running is finished, and every later one gets a higher id, so no
row can appear below that line once a reader has passed it.

On SQLite one writer holds the database at a time and ids are taken in commit order, so the
column is 0 and the order is the id's.
"""

from __future__ import annotations

from typing import Any

from django.db.models import BigIntegerField, Func


class CurrentTransactionId(Func):
    """The current top-level transaction's id (PostgreSQL's xid8, as a bigint); 0 on SQLite."""

    template = "(pg_current_xact_id()::text::bigint)"
    output_field = BigIntegerField()

    def __init__(self) -> None:
        super().__init__()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        return "0", []


# Below this, every transaction has committed or rolled back (PostgreSQL; the same statement's
# snapshot as the rows read with it).
SAFE_WATERMARK = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
