"""Normalised search columns: the free-text search ignores accents and case, alike everywhere.

`Meter.search_text` (customer, address, account), `Meter.search_reference` (partner_reference)
and `Site.search_text` hold their fields folded by `leapsync.lib.search.fold`, which every
writer runs from now on; this migration fills them for the rows already stored. On PostgreSQL
a GIN trigram index on each column serves the search's `LIKE '%text%'`, and the per-column
trigram and UPPER() indexes of migration 0005, which only the old `icontains`/`iexact` search
used, are dropped (reversing this migration builds them again).
"""

import importlib

from django.db import migrations, models

from leapsync.lib.search import search_column

# The columns each search column folds, as the models list them when this migration was written.
SOURCES = {
    ("meters_meter", "search_text"): (
        "end_customer_name",
        "end_customer_company_name",
        "street_1",
        "street_2",
        "city",
        "postal_code",
        "electric_service_account_number",
    ),
    ("meters_meter", "search_reference"): ("partner_reference",),
    ("meters_site", "search_text"): (
        "external_id",
        "name",
        "street",
        "city",
        "postal_code",
        "utility_account_number",
    ),
}
CHUNK = 2000
OLD = importlib.import_module("meters.migrations.0005_search_trigram_indexes")


def _trigram_indexes() -> list[tuple[str, str]]:
    return [
        (
            f"{table.removeprefix('meters_')}_{column}_trgm",
            f'CREATE INDEX IF NOT EXISTS "{table.removeprefix("meters_")}_{column}_trgm" '
            f'ON "{table}" USING gin ("{column}" gin_trgm_ops)',
        )
        for table, column in SOURCES
    ]


def fill(apps, schema_editor) -> None:
    """Fold every stored row's fields into its search columns, CHUNK rows at a time."""
    for table in ("meters_meter", "meters_site"):
        targets = [column for (t, column) in SOURCES if t == table]
        names = [name for column in targets for name in SOURCES[table, column]]
        select = (
            f'SELECT "id", {", ".join(names)} FROM "{table}" '
            f'WHERE "id" > %s ORDER BY "id" LIMIT {CHUNK}'
        )
        assignments = ", ".join(f'"{column}" = %s' for column in targets)
        update = f'UPDATE "{table}" SET {assignments} WHERE "id" = %s'
        last = 0
        with schema_editor.connection.cursor() as cursor:
            while True:
                cursor.execute(select, [last])
                rows = cursor.fetchall()
                if not rows:
                    break
                cursor.executemany(update, [_folded(table, targets, names, row) for row in rows])
                last = rows[-1][0]


def _folded(table: str, targets: list[str], names: list[str], row: tuple) -> list:
    by_name = dict(zip(names, row[1:]))
    values = [search_column(by_name[name] for name in SOURCES[table, column]) for column in targets]
    return [*values, row[0]]


def create_indexes(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for _, statement in _trigram_indexes():
        schema_editor.execute(statement)
    OLD.drop_indexes(apps, schema_editor)


def drop_indexes(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    OLD.create_indexes(apps, schema_editor)
    for name, _ in _trigram_indexes():
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [
        ("meters", "0009_event_parts"),
    ]

    operations = [
        migrations.AddField(
            model_name="meter",
            name="search_reference",
            field=models.TextField(blank=True, editable=False),
        ),
        migrations.AddField(
            model_name="meter",
            name="search_text",
            field=models.TextField(blank=True, editable=False),
        ),
        migrations.AddField(
            model_name="site",
            name="search_text",
            field=models.TextField(blank=True, editable=False),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=False),
        migrations.RunPython(create_indexes, drop_indexes, elidable=False),
    ]
