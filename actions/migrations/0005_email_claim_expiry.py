"""Action email claims expire: a claim left `sending` by a crashed sender is retried.

Existing claims count from when they were made, so one already stuck is retried at once.
"""

import django.utils.timezone
from django.db import migrations, models


def claimed_when_created(apps, schema_editor):
    ActionEmail = apps.get_model("actions", "ActionEmail")
    ActionEmail.objects.update(claimed_at=models.F("created_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("actions", "0004_open_action_inbox_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="actionemail",
            name="attempts",
            field=models.PositiveIntegerField(default=1),
        ),
        migrations.AddField(
            model_name="actionemail",
            name="claimed_at",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.RunPython(claimed_when_created, migrations.RunPython.noop, elidable=True),
    ]
