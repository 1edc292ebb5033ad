"""The webhook models move here from the leapsync app, with their tables kept as they are.

State only: the tables were made by leapsync 0002_webhooks and keep their names (`db_table`),
so no row moves. The content types are repointed rather than recreated, so their permissions,
and every group's and user's grant of them, follow the models to this app.
"""

import django.db.models.deletion
from django.db import migrations, models

MODELS = ["webhookevent", "webhookrefresh", "webhookrejection"]


def _repoint(apps, old_label: str, new_label: str) -> None:
    content_type = apps.get_model("contenttypes", "ContentType")
    content_type.objects.filter(app_label=old_label, model__in=MODELS).update(app_label=new_label)


def repoint_content_types(apps, schema_editor) -> None:
    _repoint(apps, "leapsync", "webhooks")


def repoint_content_types_back(apps, schema_editor) -> None:
    _repoint(apps, "webhooks", "leapsync")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("leapsync", "0004_stream_lock_holder"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="WebhookRejection",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("reason", models.CharField(max_length=32, unique=True)),
                        ("count", models.PositiveBigIntegerField(default=0)),
                        ("last_at", models.DateTimeField(blank=True, null=True)),
                    ],
                    options={
                        "db_table": "leapsync_webhookrejection",
                        "ordering": ["reason"],
                    },
                ),
                migrations.CreateModel(
                    name="WebhookRefresh",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("queued", "Queued"),
                                    ("running", "Running"),
                                    ("succeeded", "Succeeded"),
                                    ("failed", "Failed"),
                                    ("deferred", "Deferred (a sync held the lock)"),
                                    ("empty", "Nothing to refresh"),
                                ],
                                default="queued",
                                max_length=16,
                            ),
                        ),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("started_at", models.DateTimeField(blank=True, null=True)),
                        ("finished_at", models.DateTimeField(blank=True, null=True)),
                        ("event_count", models.PositiveIntegerField(default=0)),
                        ("meter_count", models.PositiveIntegerField(default=0)),
                        ("error", models.TextField(blank=True)),
                        (
                            "details_run",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to="leapsync.syncrun",
                            ),
                        ),
                        (
                            "enrollments_run",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to="leapsync.syncrun",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "leapsync_webhookrefresh",
                        "ordering": ["-created_at", "-id"],
                        "constraints": [
                            models.UniqueConstraint(
                                condition=models.Q(("status", "queued")),
                                fields=("status",),
                                name="webhookrefresh_one_queued",
                            )
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="WebhookEvent",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("webhook_event_id", models.CharField(max_length=64, unique=True)),
                        ("webhook_event_type", models.CharField(max_length=100)),
                        ("meter_ids", models.JSONField(blank=True, default=list)),
                        ("market_group_id", models.CharField(blank=True, max_length=64)),
                        ("partner_reference", models.CharField(blank=True, max_length=256)),
                        ("status", models.CharField(blank=True, max_length=64)),
                        ("body", models.TextField()),
                        ("received_at", models.DateTimeField(auto_now_add=True)),
                        ("duplicates", models.PositiveIntegerField(default=0)),
                        ("last_duplicate_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "state",
                            models.CharField(
                                choices=[
                                    ("queued", "Refresh queued"),
                                    ("refreshing", "Refreshing"),
                                    ("refreshed", "Refreshed"),
                                    ("failed", "Refresh failed"),
                                    ("stored", "Stored (no refresh needed)"),
                                    ("unknown", "Unknown type (stored)"),
                                ],
                                max_length=16,
                            ),
                        ),
                        (
                            "refresh",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="events",
                                to="webhooks.webhookrefresh",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "leapsync_webhookevent",
                        "ordering": ["-received_at", "-id"],
                        "indexes": [
                            models.Index(fields=["state", "id"], name="webhookevent_state_idx")
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(repoint_content_types, repoint_content_types_back),
    ]
