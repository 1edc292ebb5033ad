"""A database on the last release's schema, with rows in every table, migrates to the latest
with nothing lost: no row, no webhook value, no group's grant of a moved model's permission.

The tables are found from the release's migration state (every model of our apps), so a model
added later is covered once it is in a release; the target is the latest (the leaf migrations),
so new migrations are checked without editing this file. The test migrates the test database
back to the release first, so every migration since must be reversible.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.apps import apps as global_apps
from django.contrib.contenttypes.models import ContentType
from django.db import connection, models
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.urls import reverse

# The leaf migrations of the last release: the schema a production database has today.
LAST_RELEASE = [
    ("actions", "0004_open_action_inbox_indexes"),
    ("admin", "0003_logentry_add_action_flag_choices"),
    ("auth", "0012_alter_user_first_name_max_length"),
    ("axes", "0010_accessattemptexpiration"),
    ("contenttypes", "0002_remove_content_type_name"),
    ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ("enrollments", "0003_bulk_load_storage"),
    ("leapsync", "0004_stream_lock_holder"),
    ("meters", "0008_push_outcomes"),
    ("sessions", "0001_initial"),
]
OUR_APPS = ("leapsync", "meters", "enrollments", "actions")
# Models that changed app since the release: (old app, model) -> new app.
MOVED = {
    ("leapsync", "webhookevent"): "webhooks",
    ("leapsync", "webhookrefresh"): "webhooks",
    ("leapsync", "webhookrejection"): "webhooks",
}
ROWS = 2


def _value(field: models.Field, i: int) -> Any:
    """A valid value for a concrete non-relation field, distinct per row `i`."""
    if field.choices:
        return field.choices[i % len(field.choices)][0]
    kind = field.get_internal_type()
    if kind in {"CharField", "SlugField", "TextField", "EmailField", "URLField"}:
        return f"{field.name}-{i}"[: field.max_length or None]
    if kind.endswith("IntegerField"):
        return i + 1
    simple = {
        "BooleanField": i % 2 == 0,
        "FloatField": i + 0.5,
        "DecimalField": Decimal(i + 1),
        "DateTimeField": datetime(2026, 1, 1 + i, 12, tzinfo=UTC),
        "DateField": date(2026, 1, 1 + i),
        "TimeField": time(12, i),
        "DurationField": timedelta(minutes=i + 1),
        "JSONField": {"row": i, "field": field.name},
        "UUIDField": uuid.uuid4(),
        "BinaryField": bytes([i + 1]) * 4,
        "GenericIPAddressField": f"192.0.2.{i + 1}",
    }
    if kind not in simple:
        raise NotImplementedError(f"no test value for {field.model.__name__}.{field.name} ({kind})")
    return simple[kind]


class Filler:
    """Rows in historical models, the targets of each foreign key first (made on demand)."""

    def __init__(self) -> None:
        self.rows: dict[type[models.Model], list[models.Model]] = {}

    def fill(self, model: type[models.Model]) -> list[models.Model]:
        if model not in self.rows:
            self.rows[model] = []  # a self or cyclic reference sees no rows and stays null
            self.rows[model] = [self._create(model, i) for i in range(ROWS)]
        return self.rows[model]

    def _create(self, model: type[models.Model], i: int) -> models.Model:
        values: dict[str, Any] = {}
        for field in model._meta.concrete_fields:
            if field.primary_key and field.get_internal_type().endswith("AutoField"):
                continue
            if field.is_relation:
                targets = self.fill(field.related_model)
                if targets:
                    values[field.name] = targets[i % len(targets)]
                elif not field.null:
                    raise NotImplementedError(f"{model.__name__}.{field.name}: required cycle")
            else:
                values[field.name] = _value(field, i)
        return model._base_manager.create(**values)


def _migrate(executor: MigrationExecutor, targets: list[tuple[str, str | None]]) -> None:
    executor.loader.build_graph()
    executor.migrate(targets)


def _release_targets(executor: MigrationExecutor) -> list[tuple[str, str | None]]:
    """The release's leaf migrations, and apps made since it migrated to zero."""
    released = {app for app, _ in LAST_RELEASE}
    new_apps = {app for app, _ in executor.loader.graph.leaf_nodes()} - released
    return LAST_RELEASE + [(app, None) for app in sorted(new_apps)]


def _current_model(old: type[models.Model]) -> type[models.Model]:
    key = (old._meta.app_label, old._meta.model_name)
    return global_apps.get_model(MOVED.get(key, key[0]), key[1])


def _snapshot(model: type[models.Model]) -> list[dict[str, Any]]:
    return list(model._base_manager.order_by("pk").values())


def _grant_webhook_view(old_apps) -> int:
    """As on a released database: a group granted leapsync.view_webhookevent, and a member."""
    content_type, _ = old_apps.get_model("contenttypes", "ContentType").objects.get_or_create(
        app_label="leapsync", model="webhookevent"
    )
    permission, _ = old_apps.get_model("auth", "Permission").objects.get_or_create(
        content_type=content_type,
        codename="view_webhookevent",
        defaults={"name": "Can view webhook event"},
    )
    group = old_apps.get_model("auth", "Group").objects.create(name="Webhook readers")
    group.permissions.add(permission)
    user = old_apps.get_model("auth", "User").objects.create(username="reader", is_active=True)
    user.groups.add(group)
    return user.pk


@pytest.mark.django_db(transaction=True)
def test_a_released_database_with_rows_everywhere_migrates_forward_losing_nothing():
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    try:
        _migrate(executor, _release_targets(executor))
        old_apps = executor.loader.project_state(LAST_RELEASE).apps
        filler = Filler()
        old_models = [
            model for app in OUR_APPS for model in old_apps.get_app_config(app).get_models()
        ]
        for model in old_models:
            filler.fill(model)
        counts = {m._meta.label: m._base_manager.count() for m in old_models}
        moved = [m for m in old_models if (m._meta.app_label, m._meta.model_name) in MOVED]
        values = {m._meta.label: _snapshot(m) for m in moved}
        reader = _grant_webhook_view(old_apps)

        _migrate(executor, latest)
    finally:
        _migrate(executor, executor.loader.graph.leaf_nodes())

    assert all(counts.values()), counts
    assert {m._meta.label: _current_model(m)._base_manager.count() for m in old_models} == counts
    assert {m._meta.label: _snapshot(_current_model(m)) for m in moved} == values
    ContentType.objects.clear_cache()
    user = global_apps.get_model("auth", "User").objects.get(pk=reader)
    assert user.has_perm("webhooks.view_webhookevent")
    client = Client()
    client.force_login(user)
    assert client.get(reverse("webhooks:webhook_event_list")).status_code == 200
