"""The market group roster export (CSV and JSON, streamed): the format is in docs/exports.md."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

import msgspec

from enrollments.deadlines import Period
from enrollments.models import ProgramEnrollment
from leapsync.ui.csv_download import csv_lines as _csv_lines

FORMAT = "leapsync.market_group_roster.v1"
ROSTER_COLUMNS = (
    "meter_id",
    "partner_reference",
    "site_external_id",
    "program_identifier",
    "delivery_period",
    "market_group_id",
    "market_group_name",
    "delivery_period_start",
    "delivery_period_end",
)


def utc_iso(value: datetime | None) -> str:
    """An instant as ISO 8601 in UTC with a `Z` ("" when there is none)."""
    if value is None:
        return ""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def roster_record(row: ProgramEnrollment) -> dict[str, str]:
    site = row.meter.site
    return {
        "meter_id": str(row.meter.meter_id),
        "partner_reference": row.meter.partner_reference,
        "site_external_id": site.external_id if site else "",
        "program_identifier": row.program_identifier,
        "delivery_period": row.delivery_period,
        "market_group_id": str(row.market_group_id) if row.market_group_id else "",
        "market_group_name": row.market_group_name,
        "delivery_period_start": utc_iso(row.delivery_period_start_date_time),
        "delivery_period_end": utc_iso(row.delivery_period_end_date_time),
    }


def csv_lines(rows: Iterable[ProgramEnrollment]) -> Iterator[str]:
    """Header, then one line per meter; text cells neutralised against spreadsheet formulas."""
    records = (roster_record(row) for row in rows)
    return _csv_lines(ROSTER_COLUMNS, ([record[c] for c in ROSTER_COLUMNS] for record in records))


def json_chunks(period: Period, rows: Iterable[ProgramEnrollment], now: datetime) -> Iterator[str]:
    """One JSON document, written a row at a time so memory stays flat at any size."""
    head = {
        "format": FORMAT,
        "generated_at": utc_iso(now),
        "program_identifier": period.program,
        "delivery_period": period.name,
        "delivery_period_start": utc_iso(period.start),
        "delivery_period_end": utc_iso(period.end),
    }
    yield msgspec.json.encode(head).decode()[:-1] + ', "meters": ['
    for i, row in enumerate(rows):
        yield ("," if i else "") + "\n" + msgspec.json.encode(roster_record(row)).decode()
    yield "\n]}\n"
