"""Bulk inserts and upserts of plain row dicts: COPY on PostgreSQL, executemany on SQLite.

The sync writes hundreds of thousands of rows per full run. Building a model instance per row
and letting the ORM prepare every value costs more than everything else the sync does, so the
engine hands this module plain dicts (attname -> Python value) and it writes them in one or two
statements per call. Only the columns a row dict names, plus each remaining field's Python
default, are written; conflicting rows update just `update`.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import orjson
from django.db import connection, models
from django.utils import timezone


def write(
    model: type[models.Model],
    rows: Sequence[dict[str, Any]],
    *,
    conflict: Sequence[str] = (),
    update: Sequence[str] = (),
) -> None:
    """Insert `rows`; with `conflict` (a unique key's attnames), update `update` on clashes."""
    if not rows:
        return
    fields = _fields(model, rows[0])
    defaults = _defaults(fields, rows[0])
    if connection.vendor == "postgresql":
        _copy(model, fields, defaults, rows, conflict, update)
    else:
        _executemany(model, fields, defaults, rows, conflict, update)


def _fields(model: type[models.Model], sample: dict[str, Any]) -> list[models.Field]:
    """Every concrete column to write: the row's own, and the others that have a default."""
    fields = []
    for field in model._meta.concrete_fields:
        if field.attname in sample or not field.primary_key:
            fields.append(field)
    return fields


def _defaults(fields: list[models.Field], sample: dict[str, Any]) -> dict[str, Any]:
    now = timezone.now()
    defaults = {}
    for field in fields:
        if field.attname in sample:
            continue
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            defaults[field.attname] = now
        else:
            defaults[field.attname] = field.get_default()
    return defaults


def _values(fields: list[models.Field], defaults: dict[str, Any], row: dict[str, Any]) -> list:
    return [row[f.attname] if f.attname in row else defaults[f.attname] for f in fields]


def _conflict_sql(quote, fields, conflict: Sequence[str], update: Sequence[str]) -> str:
    if not conflict:
        return ""
    columns = {field.attname: field.column for field in fields}
    target = ", ".join(quote(columns[name]) for name in conflict)
    if not update:
        return f" ON CONFLICT ({target}) DO NOTHING"
    assignments = ", ".join(
        f"{quote(columns[name])} = EXCLUDED.{quote(columns[name])}" for name in update
    )
    return f" ON CONFLICT ({target}) DO UPDATE SET {assignments}"


def _copy(model, fields, defaults, rows, conflict, update) -> None:
    """COPY the rows: straight into the table, or (to upsert) into a staging table first."""
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(field.column) for field in fields)
    with connection.cursor() as cursor:
        raw = cursor.cursor
        if not conflict:
            _copy_rows(raw, table, columns, fields, defaults, rows)
            return
        # One staging table per connection and column list (named by a checksum, so a
        # long-lived worker never reuses one whose columns a migration changed).
        staging = quote(f"staging_{model._meta.db_table}_{zlib.crc32(columns.encode()):08x}")
        raw.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {staging} AS "
            f"SELECT {columns} FROM {table} WITH NO DATA"
        )
        _copy_rows(raw, staging, columns, fields, defaults, rows)
        raw.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {staging}"
            + _conflict_sql(quote, fields, conflict, update)
        )
        # TRUNCATE, not DELETE: autovacuum never visits temporary tables, so deleted rows would
        # pile up and every later page would scan them again.
        raw.execute(f"TRUNCATE {staging}")


def _copy_rows(raw, table: str, columns: str, fields, defaults, rows) -> None:
    from psycopg.types.json import Jsonb

    json_positions = [i for i, f in enumerate(fields) if isinstance(f, models.JSONField)]
    with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            values = _values(fields, defaults, row)
            for i in json_positions:
                if values[i] is not None:
                    values[i] = Jsonb(values[i], dumps=_dumps)
            copy.write_row(values)


def _executemany(model, fields, defaults, rows, conflict, update) -> None:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({placeholders})"
        + _conflict_sql(quote, fields, conflict, update)
    )
    prepared = [
        [
            field.get_db_prep_save(value, connection)
            for field, value in zip(fields, _values(fields, defaults, row), strict=True)
        ]
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, prepared)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()
