"""The sync runs table of the Sync pages."""

from __future__ import annotations

import django_tables2 as tables

from leapsync.models import SyncRun
from leapsync.ui.tables import Table
from leapsync.ui.templatetags.leapsync_ui import status_badge


class SyncRunTable(Table):
    id = tables.Column(verbose_name="Run", linkify=("sync_run_detail", {"pk": tables.A("pk")}))
    # Date and time may take two lines, and a page's `ui:<token>` trigger breaks anywhere: with
    # 100,000 meters' six-digit counters, every column must still show at 1280 px.
    started_at = tables.DateTimeColumn(verbose_name="Started", format="Y-m-d H:i:s")
    stream = tables.Column()
    mode = tables.Column()
    trigger = tables.Column(attrs={"td": {"class": "break-anywhere"}})
    status = tables.Column()
    duration = tables.Column(empty_values=(), orderable=False)
    pages = tables.Column(verbose_name="Pg")
    meters_seen = tables.Column(verbose_name="Seen")
    created = tables.Column()
    updated = tables.Column()
    unchanged = tables.Column(verbose_name="Same")
    quarantined = tables.Column(verbose_name="Quar.")
    missing = tables.Column()
    events = tables.Column()
    warnings_count = tables.Column(verbose_name="Warn.")

    class Meta:
        model = SyncRun
        fields = ()
        order_by_field = "sort"
        empty_text = "No sync has run yet."
        attrs = {"id": "sync-run-table"}

    def render_id(self, value: int) -> str:
        return f"#{value}"

    def render_status(self, record: SyncRun) -> str:
        return status_badge(record.status, record.get_status_display().split(" (")[0])

    def render_stream(self, record: SyncRun) -> str:
        return record.stream

    def render_mode(self, record: SyncRun) -> str:
        return record.mode

    def render_duration(self, record: SyncRun) -> str:
        if record.duration is None:
            return "running…" if record.status == "running" else "—"
        return f"{record.duration.total_seconds():.1f} s"
