"""PostgreSQL storage settings for what the sync writes in bulk (no schema change).

- enrollment_raw is compressed with lz4 instead of pglz: a first load of 100,000 enrollments
  (2.3 KB of JSON each) spent 4.3 s compressing with pglz, 2.4 s with lz4.
- ProgramEnrollment ids are handed out 1,000 at a time per connection: the sync reserves the
  ids of a page's new delivery periods in one query, and an uncached sequence made that
  query cost 9 ms a page.
Servers built without lz4 keep pglz; SQLite has neither setting.
"""

from django.db import DatabaseError, migrations, transaction


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        "ALTER TABLE enrollments_programenrollment ALTER COLUMN id SET CACHE 1000"
    )
    try:
        with transaction.atomic():
            schema_editor.execute(
                "ALTER TABLE enrollments_meterenrollment"
                " ALTER COLUMN enrollment_raw SET COMPRESSION lz4"
            )
    except DatabaseError:  # PostgreSQL built without lz4
        pass


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("ALTER TABLE enrollments_programenrollment ALTER COLUMN id SET CACHE 1")
    schema_editor.execute(
        "ALTER TABLE enrollments_meterenrollment ALTER COLUMN enrollment_raw SET COMPRESSION default"
    )


class Migration(migrations.Migration):
    dependencies = [("enrollments", "0002_digestsubscription_sentdigest")]

    operations = [migrations.RunPython(forwards, backwards)]
