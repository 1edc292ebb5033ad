"""Trigram indexes for the meters list's text search, on PostgreSQL only (a no-op elsewhere).

The search is an `icontains` over several columns, which PostgreSQL compiles to
`UPPER(col::text) LIKE UPPER('%value%')`: no btree helps, so a search with few or no matches
read every meter. A GIN index on that same expression with `gin_trgm_ops` serves it. Creating
the `pg_trgm` extension needs a role allowed to (the database owner on PostgreSQL 13+, as it is
a trusted extension). The exact-match fields get btree indexes on UPPER(col) for `iexact`.
Kept out of the models' Meta because SQLite has neither GIN nor trigram operator classes.
"""

from django.db import migrations

TRIGRAM = {
    "meters_meter": (
        "partner_reference",
        "end_customer_name",
        "end_customer_company_name",
        "street_1",
        "city",
        "electric_service_account_number",
    ),
    "meters_site": ("name",),
}
EXACT = {
    "meters_meter": ("postal_code",),
    "meters_site": ("external_id", "utility_account_number"),
}


def _indexes() -> list[tuple[str, str]]:
    """(name, CREATE INDEX statement) for every index this migration adds."""
    indexes = []
    for table, columns in TRIGRAM.items():
        for column in columns:
            name = f"{table.removeprefix('meters_')}_{column}_trgm"
            indexes.append(
                (
                    name,
                    f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" '
                    f'USING gin (UPPER("{column}"::text) gin_trgm_ops)',
                )
            )
    for table, columns in EXACT.items():
        for column in columns:
            name = f"{table.removeprefix('meters_')}_{column}_upper"
            indexes.append(
                (
                    name,
                    f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" (UPPER("{column}"::text))',
                )
            )
    return indexes


def create_indexes(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for _, statement in _indexes():
        schema_editor.execute(statement)


def drop_indexes(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _ in _indexes():
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [
        ("meters", "0004_list_sort_indexes"),
    ]

    operations = [
        migrations.RunPython(create_indexes, drop_indexes, elidable=False),
    ]
