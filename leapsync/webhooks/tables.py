"""The webhook events table: what arrived, its state and the refresh it caused."""

from __future__ import annotations

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from leapsync.ui.tables import Table
from leapsync.ui.templatetags.leapsync_ui import status_badge
from leapsync.webhooks.models import WebhookEvent

METERS_SHOWN = 3
STATE_BADGES = {
    "queued": "running",
    "refreshing": "running",
    "refreshed": "succeeded",
    "failed": "failed",
    "stored": "skipped",
    "unknown": "PENDING",
}


class WebhookEventTable(Table):
    received_at = tables.DateTimeColumn(
        verbose_name="Received", format="Y-m-d H:i:s", attrs={"td": {"class": "nowrap"}}
    )
    webhook_event_type = tables.Column(
        verbose_name="Event type",
        linkify=("webhooks:webhook_event_detail", {"pk": tables.A("pk")}),
    )
    subject = tables.Column(verbose_name="Meters / subject", empty_values=(), orderable=False)
    status = tables.Column(verbose_name="Announces")
    state = tables.Column()
    refresh = tables.Column(verbose_name="Refresh", orderable=False)
    duplicates = tables.Column(verbose_name="Redelivered")

    class Meta:
        model = WebhookEvent
        fields = ()
        order_by_field = "sort"
        empty_text = "No webhook event has arrived yet."

    def render_subject(self, record: WebhookEvent) -> str:
        """Links to the first meters named; a Connect event shows its partner_reference."""
        ids = record.meter_ids if isinstance(record.meter_ids, list) else []
        if not ids:
            return record.partner_reference or "—"
        links = format_html_join(
            ", ",
            '<a href="{}"><code>{}</code></a>',
            (
                (reverse("meters:meter_detail", args=[meter_id]), meter_id[:8])
                for meter_id in ids[:METERS_SHOWN]
            ),
        )
        more = len(ids) - METERS_SHOWN
        return format_html("{} (+{} more)", links, more) if more > 0 else links

    def render_state(self, record: WebhookEvent) -> str:
        return status_badge(
            STATE_BADGES.get(record.state, record.state), record.get_state_display()
        )

    def render_refresh(self, record: WebhookEvent) -> str:
        refresh = record.refresh
        runs = [run for run in (refresh.details_run, refresh.enrollments_run) if run]
        if not runs:
            return f"#{refresh.pk} {refresh.get_status_display().lower()}"
        return format_html(
            "#{} {}",
            refresh.pk,
            format_html_join(
                " ",
                '<a href="{}">{} #{}</a>',
                ((reverse("sync_run_detail", args=[run.pk]), run.stream, run.pk) for run in runs),
            ),
        )
