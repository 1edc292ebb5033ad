"""Upserting Meter rows from either stream, with events for the identifier changes we track."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from leapsync.sync.common import PageContext, fit
from meters.models import EventKind, Meter


def identifier_values(record: Any, ctx: PageContext) -> dict[str, Any]:
    """The identifier columns both Leap responses carry, taken from a parsed record."""
    stats = ctx.stats
    return {
        "partner_reference": fit(Meter, "partner_reference", record.partner_reference, stats),
        "transmission_region": fit(Meter, "transmission_region", record.transmission_region, stats),
        "customer_classification": fit(
            Meter, "customer_classification", record.customer_classification, stats
        ),
        "meter_type": fit(Meter, "meter_type", record.meter_type, stats),
        "customer_group": fit(Meter, "customer_group", record.customer_group, stats),
        "load_types": list(record.load_types),
        "tags": list(record.tags),
        "connection_references": list(record.connection_references),
        "is_archived": bool(record.is_archived),
        "leap_created_by": fit(Meter, "leap_created_by", record.audit.created_by, stats),
        "leap_created_at": record.audit.created_at,
        "leap_updated_at": record.audit.updated_at,
    }


def load_meters(meter_ids: Iterable[UUID], *, with_enrollment: bool = False) -> dict[UUID, Meter]:
    """The stored meters of a page, without their (large) raw JSON. One query."""
    queryset = Meter.objects.filter(meter_id__in=list(meter_ids)).defer("details_raw")
    if with_enrollment:
        queryset = queryset.select_related("enrollment").defer("enrollment__enrollment_raw")
    return {meter.meter_id: meter for meter in queryset}


def merge_meter(
    existing: Meter | None, meter_id: UUID, values: dict[str, Any], ctx: PageContext
) -> Meter:
    """The Meter to upsert for one record, recording first-seen and identifier events."""
    leap_updated_at = values.get("leap_updated_at")
    if existing is None:
        meter = Meter(meter_id=meter_id, **values)
        ctx.event(meter, EventKind.FIRST_SEEN, leap_updated_at=leap_updated_at)
        return meter
    old_reference, new_reference = existing.partner_reference, values["partner_reference"]
    if old_reference != new_reference:
        ctx.event(
            existing,
            EventKind.PARTNER_REFERENCE,
            field_name="partner_reference",
            old=old_reference,
            new=new_reference,
            leap_updated_at=leap_updated_at,
        )
    if existing.is_archived != values["is_archived"]:
        kind = EventKind.ARCHIVED if values["is_archived"] else EventKind.UNARCHIVED
        ctx.event(
            existing,
            kind,
            field_name="is_archived",
            old=existing.is_archived,
            new=values["is_archived"],
            leap_updated_at=leap_updated_at,
        )
    mark_returned(existing, ctx)
    for name, value in values.items():
        setattr(existing, name, value)
    return existing


def mark_returned(meter: Meter, ctx: PageContext) -> bool:
    """A meter flagged missing that Leap lists again is back; True if it was missing."""
    if not meter.missing_from_leap:
        return False
    ctx.event(meter, EventKind.RETURNED, field_name="missing_from_leap", old=True, new=False)
    meter.missing_from_leap = False
    meter.missing_since = None
    return True


def upsert_meters(meters: list[Meter], fields: Iterable[str]) -> None:
    """Insert new meters and update `fields` of existing ones in one statement; set their pks.

    The rows are rebuilt with only the upserted columns: handing bulk_create the loaded
    instances would make it read their deferred raw JSON back, one query per meter.
    """
    if not meters:
        return
    columns = (*fields, "missing_from_leap", "missing_since")
    rows = [
        Meter(
            pk=meter.pk, meter_id=meter.meter_id, **{name: getattr(meter, name) for name in columns}
        )
        for meter in meters
    ]
    Meter.objects.bulk_create(
        rows,
        batch_size=500,
        update_conflicts=True,
        unique_fields=["meter_id"],
        update_fields=[*columns, "updated_at"],
    )
    without_pk = {meter.meter_id: meter for meter in meters if meter.pk is None}
    for row in rows:
        if row.pk is not None and row.meter_id in without_pk:
            without_pk.pop(row.meter_id).pk = row.pk
    if without_pk:
        for meter_id, pk in Meter.objects.filter(meter_id__in=list(without_pk)).values_list(
            "meter_id", "pk"
        ):
            without_pk[meter_id].pk = pk


def clear_missing(meters: list[Meter]) -> None:
    """Unflag meters that are back in Leap but otherwise unchanged (one UPDATE)."""
    if meters:
        Meter.objects.filter(pk__in=[meter.pk for meter in meters]).update(
            missing_from_leap=False, missing_since=None
        )
