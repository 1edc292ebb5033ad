"""django-tables2 tables for the meters pages."""

from __future__ import annotations

import django_tables2 as tables
from django.utils.html import format_html

from leapsync.templatetags.leapsync_ui import status_badge
from meters.models import Meter, MeterType, Site

METER_TYPE_LABELS = dict(MeterType.choices)


class MeterTable(tables.Table):
    meter_id = tables.Column(linkify=("meters:meter_detail", {"meter_id": tables.A("meter_id")}))
    partner_reference = tables.Column(verbose_name="partner_reference")
    end_customer_name = tables.Column(verbose_name="Customer")
    address = tables.Column(accessor="city", verbose_name="Address", order_by=("city", "street_1"))
    transmission_region = tables.Column(verbose_name="Region")
    meter_type = tables.Column(verbose_name="Type")
    global_status = tables.Column(
        accessor="enrollment__global_enrollment_status", verbose_name="Global status"
    )
    site = tables.Column(accessor="site__name", verbose_name="Site", order_by=("site__name",))
    open_actions = tables.Column(verbose_name="Open actions", orderable=False)
    leap_updated_at = tables.DateTimeColumn(verbose_name="Leap updated", format="Y-m-d H:i")

    class Meta:
        model = Meter
        fields = ()
        sequence = (
            "meter_id",
            "partner_reference",
            "end_customer_name",
            "address",
            "transmission_region",
            "meter_type",
            "global_status",
            "site",
            "open_actions",
            "leap_updated_at",
        )
        empty_text = "No meters match these filters."
        order_by_field = "sort"
        attrs = {"id": "meters"}

    def render_meter_id(self, value) -> str:
        return format_html('<span class="mono">{}</span>', value)

    def render_address(self, record: Meter) -> str:
        line = ", ".join(
            p for p in (record.street_1, record.city, record.state_or_province_code) if p
        )
        return line or "—"

    def render_global_status(self, value: str) -> str:
        return status_badge(value)

    def render_meter_type(self, value: str) -> str:
        return METER_TYPE_LABELS.get(value, value)

    def render_open_actions(self, value: int) -> str:
        return format_html('<span class="badge badge-warn">{}</span>', value) if value else "0"


class SiteTable(tables.Table):
    external_id = tables.Column(
        verbose_name="external_id", linkify=("meters:site_detail", {"pk": tables.A("pk")})
    )
    name = tables.Column()
    address = tables.Column(
        accessor="street", verbose_name="Service address", order_by=("city", "street")
    )
    postal_code = tables.Column(verbose_name="Postal code")
    utility_account_number = tables.Column(verbose_name="Utility account")
    meter_count = tables.Column(verbose_name="Meters")
    imported_at = tables.DateTimeColumn(verbose_name="Imported", format="Y-m-d H:i")

    class Meta:
        model = Site
        fields = ()
        sequence = (
            "external_id",
            "name",
            "address",
            "postal_code",
            "utility_account_number",
            "meter_count",
            "imported_at",
        )
        empty_text = "No sites match. Import the partner's site list from CSV."
        order_by_field = "sort"
        attrs = {"id": "sites"}

    def render_address(self, record: Site) -> str:
        line = ", ".join(
            p for p in (record.street, record.city, record.state_or_province_code) if p
        )
        return line or "—"

    def render_utility_account_number(self, record: Site) -> str:
        return " ".join(p for p in (record.utility_name, record.utility_account_number) if p)
