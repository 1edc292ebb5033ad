"""ANALYZE skips enrollment_raw on PostgreSQL (no schema change).

As meters' details_raw (meters 0015): never filtered on, costly to sample. ANALYZE of 100,000
enrollments took 0.33 s with its statistics and 0.23 s without. SQLite has no such setting.
"""

from django.db import migrations


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE enrollments_meterenrollment ALTER COLUMN enrollment_raw SET STATISTICS 0"
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE enrollments_meterenrollment ALTER COLUMN enrollment_raw SET STATISTICS -1"
        )


class Migration(migrations.Migration):
    dependencies = [("enrollments", "0005_participation_window_indexes")]

    operations = [migrations.RunPython(forwards, backwards)]
