"""Applying one page of Leap's meter details (`POST /v2/meters/search`) to the database."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from leapsync.payloads import MeterDetails, parse_meter_details, payload_hash
from leapsync.sync.common import PageContext, fit, parse_all
from leapsync.sync.meters import (
    clear_missing,
    identifier_values,
    load_meters,
    mark_returned,
    merge_meter,
    upsert_meters,
)
from meters.models import Meter


def apply_details_page(raws: list[Any], ctx: PageContext) -> None:
    """Upsert the page's changed meters; skip those whose payload hash is unchanged.

    A bounded number of queries whatever the page holds: load, upsert, pk lookup for new
    meters, events, quarantine.
    """
    records: list[MeterDetails] = parse_all(raws, parse_meter_details, ctx)
    with transaction.atomic():
        existing = load_meters(record.meter_id for record in records)
        changed: list[Meter] = []
        returned: list[Meter] = []
        for record in records:
            ctx.stats.see_timestamps(record.audit.updated_at, record.audit.created_at)
            meter = existing.get(record.meter_id)
            digest = payload_hash(record.raw)
            if meter is not None and meter.details_hash == digest:
                ctx.stats.unchanged += 1
                if mark_returned(meter, ctx):
                    returned.append(meter)
                continue
            if meter is None or not meter.details_hash:
                ctx.stats.created += 1
            else:
                ctx.stats.updated += 1
            values = {**identifier_values(record, ctx), **details_values(record, digest, ctx)}
            changed.append(merge_meter(meter, record.meter_id, values, ctx))
        upsert_meters(changed, (*Meter.IDENTIFIER_FIELDS, *Meter.DETAILS_FIELDS))
        clear_missing(returned)
        ctx.flush()


def details_values(record: MeterDetails, digest: str, ctx: PageContext) -> dict[str, Any]:
    """The flattened detail columns of one record (the raw JSON keeps everything else)."""
    customer, utility, device = record.customer, record.utility, record.device or {}
    stats = ctx.stats

    def text(name: str, value: Any) -> str:
        return fit(Meter, name, value, stats)

    return {
        "end_customer_name": text("end_customer_name", customer and customer.end_customer_name),
        "end_customer_email": text("end_customer_email", customer and customer.end_customer_email),
        "end_customer_phone_number": text(
            "end_customer_phone_number", customer and customer.end_customer_phone_number
        ),
        "end_customer_company_name": text(
            "end_customer_company_name", customer and customer.end_customer_company_name
        ),
        "street_1": text("street_1", customer and customer.street_1),
        "street_2": text("street_2", customer and customer.street_2),
        "city": text("city", customer and customer.city),
        "state_or_province_code": text(
            "state_or_province_code", customer and customer.state_or_province_code
        ),
        "postal_code": text("postal_code", customer and customer.postal_code),
        "utility_name": text("utility_name", utility and utility.utility_name),
        "electric_service_account_number": text(
            "electric_service_account_number", utility and utility.electric_service_account_number
        ),
        "device_type": text(
            "device_type", device.get("device_type") if isinstance(device, dict) else None
        ),
        "details_raw": record.raw,
        "details_hash": digest,
        "details_synced_at": ctx.now,
    }
