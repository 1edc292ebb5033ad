"""History events keep their parts as columns: the program and delivery period of a period's
events, the natural key of an action's events.

Existing rows: the sync used to join those parts into `field` ("PROGRAM PERIOD" for program
status and market group events; "owner action_code action_type PROGRAM" for required action
events, blank parts left out). This migration parses each such label once, into the new
columns, and leaves `field` the field's path; a label that does not parse keeps its `field`.
"""

from django.db import migrations, models

# The field path each kind's events now keep in `field`.
PERIOD_FIELDS = {"program_status": "enrollment_status", "market_group": "market_group"}
ACTION_KINDS = ("action_added", "action_resolved")
ACTION_FIELD = "required_actions"
OWNERS = ("partner", "leap")  # actions.models.ActionOwner when this migration was written
PARTS = ("program_identifier", "delivery_period", "owner", "action_type", "action_code")
LIMITS = {"program_identifier": 64, "delivery_period": 128, "owner": 16}
LIMITS |= {"action_type": 64, "action_code": 64}
CHUNK = 2000


def parse(kind: str, label: str) -> dict[str, str] | None:
    """The columns an old label stands for, or None when it does not parse."""
    if not label:
        return None
    if kind in PERIOD_FIELDS:
        program, _, period = label.partition(" ")
        parts = {"program_identifier": program, "delivery_period": period}
        field = PERIOD_FIELDS[kind]
    else:
        tokens = label.split(" ", 3)
        if len(tokens) < 3 or tokens[0] not in OWNERS:
            return None
        owner, code, action_type, *program = tokens
        parts = {"owner": owner, "action_code": code, "action_type": action_type}
        parts["program_identifier"] = program[0] if program else ""
        field = ACTION_FIELD
    if any(len(value) > LIMITS[name] for name, value in parts.items()):
        return None
    return {"field": field, **parts}


def joined(event) -> str:
    """The old joined label, rebuilt from the columns (to migrate backwards)."""
    if event.kind in PERIOD_FIELDS:
        return f"{event.program_identifier} {event.delivery_period}".strip()
    parts = (event.owner, event.action_code, event.action_type, event.program_identifier)
    return " ".join(part for part in parts if part)


def _rewrite(apps, fields, change) -> None:
    MeterEvent = apps.get_model("meters", "MeterEvent")
    rows = MeterEvent.objects.filter(kind__in=[*PERIOD_FIELDS, *ACTION_KINDS]).order_by("pk")
    batch = []
    for event in rows.only("pk", "kind", *fields).iterator(chunk_size=CHUNK):
        if change(event):
            batch.append(event)
        if len(batch) >= CHUNK:
            MeterEvent.objects.bulk_update(batch, fields, batch_size=500)
            batch = []
    MeterEvent.objects.bulk_update(batch, fields, batch_size=500)


def forwards(apps, schema_editor):
    def split(event) -> bool:
        parts = parse(event.kind, event.field)
        if parts is None:
            return False
        for name, value in parts.items():
            setattr(event, name, value)
        return True

    _rewrite(apps, ["field", *PARTS], split)


def backwards(apps, schema_editor):
    def join(event) -> bool:
        if not any(getattr(event, name) for name in PARTS):
            return False  # kept its label: it never parsed
        event.field = joined(event)
        return True

    _rewrite(apps, ["field", *PARTS], join)


class Migration(migrations.Migration):
    dependencies = [
        ("meters", "0008_push_outcomes"),
    ]

    operations = [
        migrations.AddField(
            model_name="meterevent",
            name="action_code",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name="meterevent",
            name="action_type",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name="meterevent",
            name="delivery_period",
            field=models.CharField(blank=True, max_length=128),
        ),
        migrations.AddField(
            model_name="meterevent",
            name="owner",
            field=models.CharField(blank=True, max_length=16),
        ),
        migrations.AddField(
            model_name="meterevent",
            name="program_identifier",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddIndex(
            model_name="meterevent",
            index=models.Index(
                condition=models.Q(("kind", "market_group")),
                fields=["program_identifier", "delivery_period", "-observed_at"],
                name="event_group_period_time_idx",
            ),
        ),
        migrations.RunPython(forwards, backwards, elidable=True),
    ]
