"""A first full load builds the inventory tables' secondary indexes and foreign keys at the end.

Maintaining a dozen b-tree and trigram indexes row by row is most of what PostgreSQL spends
on a first load (measured: inserting 100,000 meters took 10.6 s with their indexes and 2.5 s
without; building the same indexes afterwards takes a fraction of the difference), and
checking a foreign key for each of the million child rows of 100,000 enrollments took 7 s of
commits; validating each key once, afterwards, is one join. So when a full run finds its
stream's tables empty, it drops their secondary indexes and foreign keys (never a primary key
or unique constraint: upserts need those) and adds them again when the run ends, whether it
succeeded or not. Meanwhile only the sync writes these tables, and it writes a meter before
anything that refers to it.

The statements to add them again are saved on the stream's SyncCursor in the same transaction
that drops them, and every run of the stream first rebuilds whatever is saved there: a run
killed mid-load leaves the tables without some indexes only until the next run starts.
Pages are slower to query during a first load; there is nothing to show yet anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, models, transaction

from actions.models import RequiredAction
from enrollments.models import (
    EnrollmentDeadline,
    MeterEnrollment,
    ParticipationPeriod,
    ProgramEnrollment,
)
from leapsync.models import Stream, SyncCursor, SyncMode
from meters.models import Meter, MeterEvent

logger = logging.getLogger("leapsync.sync")

# The tables each stream fills. Both write MeterEvent; the details stream, which creates most
# meters' first-seen events, looks after it.
TABLES: dict[str, tuple[type[models.Model], ...]] = {
    Stream.DETAILS: (Meter, MeterEvent),
    Stream.ENROLLMENTS: (
        MeterEnrollment,
        ProgramEnrollment,
        EnrollmentDeadline,
        ParticipationPeriod,
        RequiredAction,
    ),
}

_FOREIGN_KEYS = """
    SELECT conname, pg_get_constraintdef(oid)
    FROM pg_constraint
    WHERE conrelid = %s::regclass AND contype = 'f'
    ORDER BY conname
"""

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
    """Drop the stream's secondary indexes and foreign keys, saving how to add each again."""
    quote = connection.ops.quote_name
    with transaction.atomic(), connection.cursor() as cursor:
        cursor_row = SyncCursor.objects.select_for_update().get(stream=stream)
        dropped = []
        for model in TABLES[stream]:
            table = model._meta.db_table
            cursor.execute(_FOREIGN_KEYS, [table])
            for name, definition in cursor.fetchall():
                cursor_row.deferred_indexes.append(
                    {"table": table, "constraint": name, "sql": definition}
                )
                cursor.execute(f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(name)}")
                dropped.append(name)
            cursor.execute(_SECONDARY_INDEXES, [table])
            for name, definition in cursor.fetchall():
                cursor_row.deferred_indexes.append(
                    {"table": table, "index": name, "sql": definition}
                )
                cursor.execute(f"DROP INDEX {quote(name)}")
                dropped.append(name)
        cursor_row.save(update_fields=["deferred_indexes"])
    logger.info("first %s load: %d indexes and keys added at the end", stream, len(dropped))
    return dropped


def rebuild(stream: str) -> int:
    """Add back everything saved on the stream's cursor (all or none: DDL is transactional).

    Indexes first, then foreign keys (each validated by one query over the whole table).
    """
    saved = SyncCursor.objects.filter(stream=stream).values_list("deferred_indexes", flat=True)
    if not any(saved):
        return 0
    quote = connection.ops.quote_name
    with transaction.atomic(), connection.cursor() as cursor:
        cursor_row = SyncCursor.objects.select_for_update().get(stream=stream)
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        # The other stream may be writing meters, then events, in its page transactions:
        # taking the meter table first (as they do) means waiting for them, never a deadlock.
        cursor.execute(f"LOCK TABLE {quote(Meter._meta.db_table)} IN SHARE ROW EXCLUSIVE MODE")
        items = cursor_row.deferred_indexes
        for item in [item for item in items if "index" in item]:
            cursor.execute(item["sql"].replace("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1))
        for item in [item for item in items if "constraint" in item]:
            cursor.execute(
                "SELECT 1 FROM pg_constraint WHERE conrelid = %s::regclass AND conname = %s",
                [item["table"], item["constraint"]],
            )
            if cursor.fetchone() is None:
                cursor.execute(
                    f"ALTER TABLE {quote(item['table'])} "
                    f"ADD CONSTRAINT {quote(item['constraint'])} {item['sql']}"
                )
        cursor_row.deferred_indexes = []
        cursor_row.save(update_fields=["deferred_indexes"])
    logger.info("added back %d deferred %s indexes and keys", len(items), stream)
    return len(items)
