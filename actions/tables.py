"""The actions inbox table: render methods read the catalogue and state handed in, never query."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import django_tables2 as tables
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from actions.catalogue import Catalogue, entry_for
from actions.models import Fixer, RequiredAction
from leapsync.ui.tables import Table
from leapsync.ui.templatetags.leapsync_ui import status_badge

FIXER_BADGES = {Fixer.CUSTOMER: "info", Fixer.OPERATIONS: "warn", Fixer.LEAP: "muted"}


class ActionTable(Table):
    select = tables.CheckBoxColumn(accessor="pk", attrs={"th__input": {"aria-label": "Select all"}})
    deadline = tables.Column(
        accessor="enrollment_deadline_date_time",
        verbose_name="Deadline",
        attrs={"td": {"class": "nowrap"}},
    )
    title = tables.Column(
        accessor="action_code", verbose_name="Action", order_by=("action_type", "action_code")
    )
    program = tables.Column(
        accessor="program_identifier",
        verbose_name="Program · period",
        order_by=("program_identifier", "delivery_period"),
    )
    # By meter_id, never empty: a meter without a partner_reference still gets its link.
    meter = tables.Column(
        accessor="meter__meter_id", verbose_name="Meter", order_by=("meter__meter_id",)
    )
    customer = tables.Column(accessor="meter__end_customer_name", verbose_name="Customer")
    region = tables.Column(accessor="meter__transmission_region", verbose_name="Region")
    fixer = tables.Column(accessor="pk", verbose_name="Fixed by", orderable=False)
    status = tables.Column(verbose_name="Status")
    assignee = tables.Column(accessor="assignee__username", verbose_name="Assignee")
    customer_notified_at = tables.DateTimeColumn(verbose_name="Customer notified", format="Y-m-d")

    class Meta:
        model = RequiredAction
        fields = ()
        sequence = (
            "select",
            "deadline",
            "title",
            "program",
            "meter",
            "customer",
            "region",
            "fixer",
            "status",
            "assignee",
            "customer_notified_at",
        )
        empty_text = "No open actions match these filters."
        order_by_field = "sort"
        attrs = {"id": "actions"}

    def __init__(
        self,
        *args,
        catalogue: Catalogue,
        last_sync: datetime | None,
        selectable: bool,
        hidden: Sequence[str] = (),
        **kwargs,
    ) -> None:
        kwargs["exclude"] = (*hidden, *(() if selectable else ("select",)))
        super().__init__(*args, **kwargs)
        self.catalogue = catalogue
        self.last_sync = last_sync
        self.now = timezone.now()

    def render_select(self, record: RequiredAction) -> str:
        return format_html(
            '<input type="checkbox" name="pk" value="{}" aria-label="Select action {}">',
            record.pk,
            record.pk,
        )

    def render_deadline(self, record: RequiredAction, value: datetime) -> str:
        when = timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
        if record.deadline_passed(self.now):
            return format_html('{} <span class="badge badge-bad">missed</span>', when)
        if record.missed_deadline:
            return format_html(
                '{} <span class="badge badge-warn" title="missed {}">rolled over</span>',
                when,
                record.missed_delivery_period,
            )
        return when

    def render_title(self, record: RequiredAction) -> str:
        entry = entry_for(record, self.catalogue)
        return format_html(
            '<a href="{}">{}</a> <span class="mono small muted">{}</span>{}',
            reverse("actions:action_detail", args=[record.pk]),
            entry.title,
            record.action_code,
            mark_safe(' <span class="badge badge-unknown">new code</span>')
            if entry.needs_review
            else "",
        )

    def render_program(self, record: RequiredAction) -> str:
        return format_html(
            '{}<br><span class="small muted">{}</span>',
            record.program_identifier,
            record.delivery_period,
        )

    def render_meter(self, record: RequiredAction) -> str:
        meter = record.meter
        return format_html(
            '<a href="{}">{}</a>',
            reverse("meters:meter_detail", args=[meter.meter_id]),
            meter.partner_reference or str(meter.meter_id)[:8] + "…",
        )

    def render_fixer(self, record: RequiredAction) -> str:
        entry = entry_for(record, self.catalogue)
        css = FIXER_BADGES.get(entry.fixer, "muted")
        return format_html('<span class="badge badge-{}">{}</span>', css, entry.get_fixer_display())

    def render_status(self, record: RequiredAction) -> str:
        badge = status_badge(record.status, record.get_status_display())
        if record.done_but_open(self.last_sync):
            return format_html('{} <span class="flag">still open at Leap</span>', badge)
        if record.last_email_error:
            return format_html('{} <span class="flag">email failed</span>', badge)
        return badge
