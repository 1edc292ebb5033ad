"""Push outcomes told apart: accepted vs confirmed, Leap refused vs not sent, not applied.

Existing rows: "failed" splits into "not_sent" (stopped before sending: its error says "Not
sent") and "refused"; a meter's latest "pushed" change becomes "accepted", to be judged by the
next sync, and that meter's digests are forgotten, because the old push wrote its value locally
and a sync would otherwise keep it even if Leap never applied it; older "pushed" changes had a
later change after them and become "superseded".
"""

from django.db import migrations, models
from django.db.models import OuterRef, Subquery

STALE_DIGEST = "stale"  # meters.models.Meter.STALE_DIGEST when this migration was written


def forwards(apps, schema_editor):
    Change = apps.get_model("meters", "PartnerReferenceChange")
    Meter = apps.get_model("meters", "Meter")
    failed = Change.objects.filter(push_status="failed")
    failed.filter(error__startswith="Not sent").update(push_status="not_sent")
    failed.update(push_status="refused")
    latest = Change.objects.filter(meter=OuterRef("meter")).order_by("-at", "-id").values("pk")[:1]
    pushed = Change.objects.filter(push_status="pushed").annotate(latest=Subquery(latest))
    last = list(pushed.filter(pk=models.F("latest")).values_list("pk", "meter_id"))
    Change.objects.filter(pk__in=[pk for pk, _ in last]).update(push_status="accepted")
    Change.objects.filter(push_status="pushed").update(push_status="superseded")
    meters = Meter.objects.filter(pk__in=[meter_pk for _, meter_pk in last])
    meters.exclude(details_hash="").update(details_hash=STALE_DIGEST)
    meters.update(identifiers_hash=STALE_DIGEST)


def backwards(apps, schema_editor):
    Change = apps.get_model("meters", "PartnerReferenceChange")
    Change.objects.filter(push_status__in=["accepted", "confirmed", "not_applied"]).update(
        push_status="pushed"
    )
    Change.objects.filter(push_status__in=["refused", "not_sent"]).update(push_status="failed")


class Migration(migrations.Migration):
    dependencies = [
        ("meters", "0007_details_raw_lz4"),
    ]

    operations = [
        migrations.AddField(
            model_name="partnerreferencechange",
            name="confirmed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="partnerreferencechange",
            name="push_status",
            field=models.CharField(
                choices=[
                    ("pending", "Waiting for Leap"),
                    ("accepted", "Accepted by Leap, not confirmed yet"),
                    ("confirmed", "Confirmed by Leap"),
                    ("not_applied", "Accepted, but Leap returns another value"),
                    ("refused", "Leap refused"),
                    ("not_sent", "Not sent"),
                    ("superseded", "Superseded by a later change"),
                ],
                default="pending",
                max_length=16,
            ),
        ),
        migrations.RunPython(forwards, backwards),
    ]
