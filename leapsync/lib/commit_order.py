"""Commit order for an append-only table read by followers: the writing transaction's id.

An auto-increment id is taken when a row is inserted, not when its transaction commits, so a
reader that pages by id alone can pass a row whose transaction commits later: that row is
missed for good. A row that records its transaction's id (`CurrentTransactionId`, a column
default) can be read in (transaction id, id) order up to `SAFE_WATERMARK`: every transaction
of this database below the oldest one still running is finished, and every later one gets a
higher id, so no row can appear below that line once a reader has passed it.

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


# Below this, no transaction that could have written to this database is still running
# (PostgreSQL; computed from the same statement's snapshot as the rows read with it). The
# snapshot's own xmin would do, but it is the whole server's: a long write transaction in
# another database (another app's, a test run's) would hold every reader here back. So the
# watermark is the oldest transaction in progress that is not known to belong to another
# database (pg_stat_activity names a backend's database; a transaction it does not show, or
# shows without its id for want of privileges, counts as ours), else the snapshot's xmax.
SAFE_WATERMARK = """COALESCE(
    (SELECT min(x)::text::bigint FROM pg_snapshot_xip(pg_current_snapshot()) AS x
     WHERE x::xid NOT IN (
         SELECT backend_xid FROM pg_stat_activity
         WHERE backend_xid IS NOT NULL AND datname <> current_database())),
    pg_snapshot_xmax(pg_current_snapshot())::text::bigint)"""
