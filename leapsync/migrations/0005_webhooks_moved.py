"""The webhook models now belong to the webhooks app (its 0001_initial), tables and all.

State only: the tables stay, under the names this app gave them.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("leapsync", "0004_stream_lock_holder"),
        ("webhooks", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="WebhookEvent"),
                migrations.DeleteModel(name="WebhookRefresh"),
                migrations.DeleteModel(name="WebhookRejection"),
            ],
            database_operations=[],
        ),
    ]
