"""django-tables2 tables of the enrollments pages."""

from __future__ import annotations

import django_tables2 as tables
from django.utils import timezone
from django.utils.html import format_html

from enrollments.models import ParticipationPeriod
from leapsync.leap.text import leap_text
from leapsync.ui.tables import Table
from leapsync.ui.templatetags.leapsync_ui import status_badge


class TransitionTable(Table):
    transition_at = tables.DateTimeColumn(
        verbose_name="When", format="Y-m-d H:i T", order_by=("transition_at", "meter_id")
    )
    transition_to = tables.Column(verbose_name="Goes to", order_by=("transition_to",))
    meter = tables.Column(
        accessor="meter__meter_id",
        verbose_name="Meter",
        linkify=("meters:meter_detail", {"meter_id": tables.A("meter__meter_id")}),
        order_by=("meter__meter_id",),
    )
    partner_reference = tables.Column(
        accessor="meter__partner_reference", verbose_name="partner_reference"
    )
    customer = tables.Column(accessor="meter__end_customer_name", verbose_name="Customer")
    site = tables.Column(accessor="meter__site__external_id", verbose_name="Site")
    region = tables.Column(accessor="meter__transmission_region", verbose_name="Region")
    global_status = tables.Column(
        accessor="meter__enrollment__global_enrollment_status", verbose_name="Global status"
    )
    period = tables.Column(
        accessor="participation_preference", verbose_name="Period", empty_values=()
    )
    reason = tables.Column(verbose_name="Reason")

    class Meta:
        model = ParticipationPeriod
        fields = ()
        sequence = (
            "transition_at",
            "transition_to",
            "meter",
            "partner_reference",
            "customer",
            "site",
            "region",
            "global_status",
            "period",
            "reason",
        )
        empty_text = "No participation changes in this window."
        order_by_field = "sort"
        attrs = {"id": "transitions"}

    def render_reason(self, value: str) -> str:
        return leap_text(value)

    def render_meter(self, value) -> str:
        return format_html('<span class="mono">{}</span>', str(value)[:8] + "…")

    def render_transition_to(self, value: str) -> str:
        return status_badge(value)

    def render_global_status(self, value: str) -> str:
        return status_badge(value)

    def render_period(self, record: ParticipationPeriod) -> str:
        start = f"{timezone.localtime(record.start_time):%Y-%m-%d}"
        if record.is_open_ended or record.end_time is None:
            return f"{record.participation_preference} {start} → no end"
        return f"{record.participation_preference} {start} → {timezone.localtime(record.end_time):%Y-%m-%d}"
