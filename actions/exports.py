"""The actions CSV export: its columns and one row per action, safe to open in a spreadsheet."""

from __future__ import annotations

from collections.abc import Iterator

from actions.catalogue import Catalogue, entry_for
from actions.models import RequiredAction
from leapsync.ui.csv_download import csv_lines as _csv_lines

EXPORT_COLUMNS = (
    "action_id",
    "owner",
    "action_type",
    "action_code",
    "title",
    "fixed_by",
    "program_identifier",
    "delivery_period",
    "enrollment_deadline_date_time",
    "missed_deadline",
    "missed_delivery_period",
    "status",
    "assignee",
    "due_date",
    "customer_notified_at",
    "meter_id",
    "partner_reference",
    "end_customer_name",
    "end_customer_email",
    "transmission_region",
    "site_external_id",
    "site_name",
    "action_description",
)


def _iso(value) -> str:
    return value.isoformat() if value else ""


def export_row(action: RequiredAction, catalogue: Catalogue) -> list:
    entry = entry_for(action, catalogue)
    meter, site = action.meter, action.meter.site
    values = [
        action.pk,
        action.owner,
        action.action_type,
        action.action_code,
        entry.title,
        entry.fixer,
        action.program_identifier,
        action.delivery_period,
        _iso(action.enrollment_deadline_date_time),
        _iso(action.missed_deadline),
        action.missed_delivery_period,
        action.status,
        action.assignee.get_username() if action.assignee else "",
        _iso(action.due_date),
        _iso(action.customer_notified_at),
        str(meter.meter_id),
        meter.partner_reference,
        meter.end_customer_name,
        meter.end_customer_email,
        meter.transmission_region,
        site.external_id if site else "",
        site.name if site else "",
        action.action_description,
    ]
    return values


def csv_lines(actions: Iterator[RequiredAction], catalogue: Catalogue) -> Iterator[str]:
    return _csv_lines(EXPORT_COLUMNS, (export_row(action, catalogue) for action in actions))
