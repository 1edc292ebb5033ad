"""A first full load builds the inventory tables' secondary indexes once, at the end.

Maintaining a dozen b-tree and trigram indexes row by row is most of what PostgreSQL spends
on a first load (measured: inserting 100,000 meters took 10.6 s with their indexes and 2.5 s
without; building the same indexes afterwards takes a fraction of the difference). So when a
full run finds its stream's tables empty, it drops their secondary indexes (never a primary
key or unique constraint: upserts need those) and builds them again when the run ends,
whether it succeeded or not.

The statements to rebuild them are saved on the stream's SyncCursor in the same transaction
that drops them, and every run of the stream first rebuilds whatever is saved there: a run
killed mid-load leaves the tables without some indexes only until the next run starts.
Pages are slower to query during a first load; there is nothing to show yet anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction

from actions.models import RequiredAction
from enrollments.models import (
    EnrollmentDeadline,
    MeterEnrollment,
    ParticipationPeriod,
    ProgramEnrollment,
)
from leapsync.models import Stream, SyncCursor, SyncMode
from meters.models import Meter

logger = logging.getLogger("leapsync.sync")

# The tables each stream fills. MeterEvent is left out: both streams write it.
TABLES = {
    Stream.DETAILS: (Meter,),
    Stream.ENROLLMENTS: (
        MeterEnrollment,
        ProgramEnrollment,
        EnrollmentDeadline,
        ParticipationPeriod,
        RequiredAction,
    ),
}

_SECONDARY_INDEXES = """
    SELECT index.relname, pg_get_indexdef(index.oid)
    FROM pg_index
    JOIN pg_class index ON index.oid = pg_index.indexrelid
    WHERE pg_index.indrelid = %s::regclass
      AND NOT pg_index.indisunique
      AND NOT pg_index.indisprimary
      AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conindid = index.oid)
    ORDER BY index.relname
"""


@contextmanager
def deferred_for_first_load(stream: str, mode: str) -> Iterator[bool]:
    """Around a run's pages: drop the secondary indexes if this is a first load; yields that.

    Not inside a caller's transaction (tests): the index builds would have to wait for its
    deferred constraint checks, and its DDL locks would last until it ends.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield False
        return
    rebuild(stream)  # whatever a run that died left dropped
    if mode != SyncMode.FULL or not is_first_load(stream):
        yield False
        return
    drop(stream)
    try:
        yield True
    finally:
        rebuild(stream)


def is_first_load(stream: str) -> bool:
    if stream == Stream.DETAILS:
        return not Meter.objects.exclude(details_hash="").exists()
    return not MeterEnrollment.objects.exists()


def drop(stream: str) -> list[str]:
    """Drop the stream's secondary indexes, saving how to build each again; their names."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor_row = SyncCursor.objects.select_for_update().get(stream=stream)
        dropped = []
        for model in TABLES[stream]:
            cursor.execute(_SECONDARY_INDEXES, [model._meta.db_table])
            for name, definition in cursor.fetchall():
                cursor_row.deferred_indexes.append(definition)
                cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
                dropped.append(name)
        cursor_row.save(update_fields=["deferred_indexes"])
    logger.info("first %s load: %d secondary indexes built at the end", stream, len(dropped))
    return dropped


def rebuild(stream: str) -> int:
    """Build every index saved on the stream's cursor (all or none: DDL is transactional)."""
    saved = SyncCursor.objects.filter(stream=stream).values_list("deferred_indexes", flat=True)
    if not any(saved):
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor_row = SyncCursor.objects.select_for_update().get(stream=stream)
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        for definition in cursor_row.deferred_indexes:
            cursor.execute(definition.replace("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1))
        count = len(cursor_row.deferred_indexes)
        cursor_row.deferred_indexes = []
        cursor_row.save(update_fields=["deferred_indexes"])
    logger.info("built %d deferred %s indexes", count, stream)
    return count
