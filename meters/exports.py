"""The meters CSV export: its columns and one row per meter, safe to open in a spreadsheet."""

from __future__ import annotations

from meters.models import Meter

EXPORT_COLUMNS = (
    "meter_id",
    "partner_reference",
    "global_enrollment_status",
    "transmission_region",
    "meter_type",
    "customer_classification",
    "customer_group",
    "load_types",
    "tags",
    "is_archived",
    "missing_from_leap",
    "end_customer_name",
    "end_customer_company_name",
    "street_1",
    "street_2",
    "city",
    "state_or_province_code",
    "postal_code",
    "utility_name",
    "electric_service_account_number",
    "site_external_id",
    "site_name",
    "open_partner_actions",
    "leap_updated_at",
)


def export_row(meter: Meter) -> list:
    enrollment = getattr(meter, "enrollment", None)
    site = meter.site
    values = [
        str(meter.meter_id),
        meter.partner_reference,
        enrollment.global_enrollment_status if enrollment else "",
        meter.transmission_region,
        meter.meter_type,
        meter.customer_classification,
        meter.customer_group,
        ";".join(map(str, meter.load_types or [])),
        ";".join(map(str, meter.tags or [])),
        "yes" if meter.is_archived else "no",
        "yes" if meter.missing_from_leap else "no",
        meter.end_customer_name,
        meter.end_customer_company_name,
        meter.street_1,
        meter.street_2,
        meter.city,
        meter.state_or_province_code,
        meter.postal_code,
        meter.utility_name,
        meter.electric_service_account_number,
        site.external_id if site else "",
        site.name if site else "",
        meter.open_actions,
        meter.leap_updated_at.isoformat() if meter.leap_updated_at else "",
    ]
    return values
