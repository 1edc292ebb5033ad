"""A run's warnings count becomes the number of distinct warnings, not the times they were seen.

A field Leap adds is reported on every meter: counted per meter it made every run after a Leap
release look like hundreds of thousands of warnings. From now on the sync counts it once
(`RunStats.save_onto`), its `warnings` entry keeping the times; this migration counts the runs
already stored the same way. Reversing it sums the times again.
"""

from django.db import migrations

CHUNK = 1000


def _recount(apps, count) -> None:
    SyncRun = apps.get_model("leapsync", "SyncRun")
    runs = SyncRun.objects.exclude(warnings={}).only("warnings", "warnings_count")
    changed = []
    for run in runs.iterator(chunk_size=CHUNK):
        run.warnings_count = count(run.warnings or {})
        changed.append(run)
        if len(changed) == CHUNK:
            SyncRun.objects.bulk_update(changed, ["warnings_count"])
            changed = []
    SyncRun.objects.bulk_update(changed, ["warnings_count"])


def distinct(apps, schema_editor) -> None:
    _recount(apps, len)


def times(apps, schema_editor) -> None:
    _recount(apps, lambda warnings: sum(warnings.values()))


class Migration(migrations.Migration):
    dependencies = [
        ("leapsync", "0007_sync_alerts"),
    ]

    operations = [migrations.RunPython(distinct, times, elidable=True)]
