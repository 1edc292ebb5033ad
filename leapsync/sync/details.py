"""Applying one page of Leap's meter details (`POST /v2/meters/search`) to the database."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from leapsync.leap.payloads import MeterDetails, parse_meter_details
from leapsync.lib.search import search_column
from leapsync.sync.common import PageContext, fit, incoming, parse_all, screen
from leapsync.sync.meters import (
    StoredMeter,
    clear_missing,
    identifier_values,
    load_identifiers,
    load_meters,
    mark_returned,
    meter_row,
    upsert_meters,
)
from meters.models import Meter
from meters.pushes import judge_accepted
from meters.services import map_by_reference


def apply_details_page(raws: list[Any], ctx: PageContext) -> None:
    """Upsert the page's changed meters; skip those whose payload hash is unchanged.

    Then the partner_reference changes Leap accepted for the page's meters are confirmed, or
    flagged, against the value Leap returned. A bounded number of queries whatever the page
    holds: load, upsert, pks, events, accepted changes.
    """
    items = incoming(raws)
    ids = [item.meter_id for item in items if item.meter_id is not None]
    with transaction.atomic():
        stored = load_meters(ids)
        unchanged, changed = screen(items, lambda i: _hash(stored.get(i)), ctx)
        returned = [i for i in unchanged if mark_returned(stored[i], i, ctx)]
        records = parse_all(changed, parse_meter_details, ctx)
        values = [
            {"meter_id": record.meter_id, **identifier_values(record, ctx)}
            | details_values(record, digest, ctx)
            for record, digest in records
        ]
        load_identifiers(stored, values)
        rows = []
        for row in values:
            previous = stored.get(row["meter_id"])
            if previous is None or not previous.details_hash:
                ctx.stats.created += 1
            else:
                ctx.stats.updated += 1
            rows.append(meter_row(previous, row["meter_id"], row, ctx))
        written = upsert_meters(
            rows, (*Meter.IDENTIFIER_FIELDS, *Meter.DETAILS_FIELDS), ctx, stored
        )
        clear_missing(returned)
        ctx.flush({meter_id: meter.pk for meter_id, meter in stored.items()} | written)
        map_by_reference(row["meter_id"] for row in rows)  # new or changed meters only
        digests = {item.meter_id: item.digest for item in items if item.meter_id is not None}
        judge_accepted(digests, run_pk=ctx.run.pk)


def _hash(stored: StoredMeter | None) -> str | None:
    return stored.details_hash if stored is not None else None


def details_values(record: MeterDetails, digest: str, ctx: PageContext) -> dict[str, Any]:
    """The flattened detail columns of one record (the raw JSON keeps everything else)."""
    customer, utility, device = record.customer, record.utility, record.device or {}
    stats = ctx.stats

    def text(name: str, value: Any) -> str:
        return fit(Meter, name, value, stats)

    values = {
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
    values["search_text"] = search_column(
        values[name] for name in Meter.SEARCH_COLUMNS["search_text"]
    )
    return values
