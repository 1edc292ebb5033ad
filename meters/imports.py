"""Importing the partner's site list, from a CSV file or from the API's records: validated row by
row, upserted in batches inside one transaction, so a file (or a call) is imported whole (bad
rows skipped and reported) or not at all."""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import IO

from django.db import transaction
from django.template.defaultfilters import pluralize
from django.utils import timezone

from leapsync.lib import bulk
from leapsync.lib.search import search_column
from meters.models import Site

BATCH_SIZE = 2000
ERRORS_KEPT = 500  # per import; the count goes on beyond it
SAMPLE_KEPT = 20
# Accepted header spellings (case, spaces and dashes ignored) for each Site column.
COLUMNS = {
    "external_id": ("external_id", "site_id", "customer_id", "id"),
    "name": ("name", "site_name", "customer_name", "end_customer_name"),
    "street": ("street", "address", "service_address", "street_1", "street_address"),
    "city": ("city",),
    "state_or_province_code": ("state_or_province_code", "state", "province"),
    "postal_code": ("postal_code", "zip", "zip_code", "postcode"),
    "utility_name": ("utility_name", "utility"),
    "utility_account_number": (
        "utility_account_number",
        "account_number",
        "electric_service_account_number",
        "account",
    ),
    "notes": ("notes", "note", "comments"),
}
REQUIRED = "external_id"
_LIMITS = {name: Site._meta.get_field(name).max_length for name in ("external_id", *COLUMNS)}


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (not CSV, no external_id column): nothing is written."""


@dataclass
class ImportReport:
    """What an import did (or, for a preview, would do)."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    error_count: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    samples: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    mapped: int = 0

    def error(self, line: int, reason: str) -> None:
        self.error_count += 1
        if len(self.errors) < ERRORS_KEPT:
            self.errors.append((line, reason))

    def summary(self) -> str:
        return (
            f"{self.rows} row{pluralize(self.rows)}: {self.created} new, {self.updated} changed, "
            f"{self.unchanged} unchanged, {self.error_count} with errors"
        )


def column_key(header: str) -> str:
    return header.strip().lower().replace(" ", "_").replace("-", "_")


def _header_map(headers: list[str]) -> tuple[dict[str, int], list[str]]:
    aliases = {alias: name for name, spellings in COLUMNS.items() for alias in spellings}
    found: dict[str, int] = {}
    ignored = []
    for index, header in enumerate(headers):
        name = aliases.get(column_key(header))
        if name is None or name in found:
            ignored.append(header)
        else:
            found[name] = index
    return found, ignored


def read_rows(stream: IO[bytes], report: ImportReport) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, Site values) for each valid row; bad rows go into `report.errors`.

    Streams the file: memory stays flat whatever its size. Raises ImportFileError when the
    file is not UTF-8 CSV text or lacks an external_id column.
    """
    lines = read_csv(stream)
    headers = next(lines, (0, []))[1]
    if not headers:
        raise ImportFileError("The file is empty: expected a CSV header line.")
    columns, report.ignored_columns = _header_map(headers)
    if REQUIRED not in columns:
        raise ImportFileError(
            f"The file has no external_id column (found: {found_columns(headers)}). The first "
            "line must name the columns; external_id is required."
        )
    seen: dict[str, int] = {}
    for line, row in lines:
        if not any(cell.strip() for cell in row):
            continue
        report.rows += 1
        values = _row_values(line, row, columns, len(headers), seen, report)
        if values is not None:
            yield line, values


def read_csv(stream: IO[bytes]) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) for each record of a UTF-8 CSV file (with or without a BOM), the
    header first; the line number is the record's last line. Streamed.

    Raises ImportFileError, with how to fix it, for a spreadsheet saved as such, a file that
    is not UTF-8 (Excel's Windows-1252 named), binary data or broken quoting.
    """
    _refuse_spreadsheets(stream)
    text = codecs.getreader("utf-8-sig")(stream, errors="strict")
    reader = csv.reader(text, strict=True)
    try:
        for row in reader:
            if "\x00" in "".join(row):
                raise ImportFileError("This is not a CSV text file (it contains binary data).")
            yield reader.line_num, row
    except UnicodeDecodeError as error:
        raise ImportFileError(_not_utf8(error, _first_bad_line(stream))) from None
    except csv.Error as error:
        raise ImportFileError(f"This is not a readable CSV file: {error}.") from None


def found_columns(headers: list[str]) -> str:
    """The first column names of a header, for an error saying which column is missing."""
    return ", ".join(h for h in headers[:12] if h.strip()) or "(none)"


# How a file's first bytes give away a spreadsheet saved as such rather than as CSV.
SPREADSHEET_SIGNATURES = {
    b"PK\x03\x04": "an Excel or LibreOffice spreadsheet (.xlsx or .ods)",
    b"\xd0\xcf\x11\xe0": "an old Excel spreadsheet (.xls)",
}
SAVE_AS_UTF8 = (
    'In Excel, use File > Save As and pick "CSV UTF-8 (Comma delimited)"; in LibreOffice, '
    'Save As "Text CSV" with the character set "Unicode (UTF-8)".'
)


def _refuse_spreadsheets(stream: IO[bytes]) -> None:
    if not stream.seekable():
        return
    head = stream.read(4)
    stream.seek(0)
    for signature, what in SPREADSHEET_SIGNATURES.items():
        if head.startswith(signature):
            raise ImportFileError(f"This is {what}, not a CSV file. {SAVE_AS_UTF8}")


def _first_bad_line(stream: IO[bytes]) -> int | None:
    """The line of the file's first byte that is not UTF-8 (read again, only on refusal)."""
    if not stream.seekable():
        return None
    stream.seek(0)
    decoder, lines = codecs.getincrementaldecoder("utf-8-sig")(), 1
    while block := stream.read(1 << 20):
        try:
            decoder.decode(block)
        except UnicodeDecodeError as error:
            return lines + block[: error.start].count(b"\n")
        lines += block.count(b"\n")
    return None


def _not_utf8(error: UnicodeDecodeError, line: int | None) -> str:
    """The refusal of a file that is not UTF-8, with how to fix it when it looks like the
    Windows code page Excel writes by default."""
    byte = bytes(error.object[error.start : error.start + 1])
    try:
        chunk = bytes(error.object).decode("cp1252")
    except UnicodeDecodeError:
        chunk = "\x00"
    if any(ord(c) < 32 and c not in "\t\r\n" for c in chunk):  # binary, not text
        return "This is not a CSV text file (it is not UTF-8 text)."
    character = byte.decode("cp1252")
    return (
        f"This file is not UTF-8 text: {f'line {line}' if line else 'it'} holds byte 0x{byte.hex()}, which "
        f"reads as “{character}” in Windows-1252, the encoding Excel uses by default. "
        f"{SAVE_AS_UTF8} Nothing was imported."
    )


def _row_values(
    line: int,
    row: list[str],
    columns: dict[str, int],
    width: int,
    seen: dict[str, int],
    report: ImportReport,
) -> dict[str, str] | None:
    if len(row) != width:
        report.error(line, f"has {len(row)} field{pluralize(len(row))}, the header has {width}")
        return None
    values = {name: row[index] for name, index in columns.items()}
    return _checked(line, values, seen, report, unit="line")


def _checked(
    line: int, raw: dict[str, str], seen: dict[str, int], report: ImportReport, *, unit: str
) -> dict[str, str] | None:
    """A row's values, trimmed, or None (reported) when it breaks a rule; every source's rows
    pass here. `unit` names what `line` counts in messages (a file's line, a call's record)."""
    values = {name: value.strip() for name, value in raw.items()}
    external_id = values[REQUIRED]
    if not external_id:
        report.error(line, "external_id is empty")
        return None
    if external_id in seen:
        report.error(line, f"external_id {external_id} repeats {unit} {seen[external_id]}")
        return None
    for name, value in values.items():
        limit = _LIMITS[name]
        if limit is not None and len(value) > limit:
            report.error(line, f"{name} is longer than {limit} characters")
            return None
    seen[external_id] = line
    return values


def record_rows(
    records: Iterable[dict[str, object]], report: ImportReport
) -> Iterator[tuple[int, dict[str, str]]]:
    """(index, Site values) for each valid record (the API's JSON objects, keyed by the Site
    column names); bad ones go into `report.errors` by their index, checked as CSV rows are.
    Keys that name no column are ignored and reported, as a file's extra columns are."""
    seen: dict[str, int] = {}
    ignored: set[str] = set()
    for index, record in enumerate(records):
        report.rows += 1
        ignored.update(key for key in record if key not in COLUMNS)
        raw = {name: record[name] for name in COLUMNS if name in record}
        wrong = next((name for name, value in raw.items() if not isinstance(value, str)), None)
        if REQUIRED not in raw:
            report.error(index, "external_id is missing")
        elif wrong is not None:
            report.error(index, f"{wrong} is not a string")
        elif "\x00" in "".join(raw.values()):  # type: ignore[arg-type]
            report.error(index, "holds a NUL character")
        else:
            values = _checked(index, raw, seen, report, unit="record")  # type: ignore[arg-type]
            if values is not None:
                yield index, values
    report.ignored_columns = sorted(ignored)


def import_records(records: Iterable[dict[str, object]], *, dry_run: bool = False) -> ImportReport:
    """Upsert the records' sites by external_id, as `import_sites` does a file's rows."""
    report = ImportReport()
    _import(record_rows(records, report), report, dry_run)
    return report


def import_sites(stream: IO[bytes], *, dry_run: bool = False) -> ImportReport:
    """Upsert the file's sites by external_id; a bad row is reported and never stops the others.

    All or nothing: the batches are written in one transaction, so a file refused part-way
    (ImportFileError: not UTF-8, binary data, broken quoting) leaves the database as it was.
    Columns missing from the file keep their stored values. Unchanged sites are not written,
    so importing the same file again changes nothing.
    """
    report = ImportReport()
    _import(read_rows(stream, report), report, dry_run)
    return report


def _import(
    rows: Iterator[tuple[int, dict[str, str]]], report: ImportReport, dry_run: bool
) -> None:
    # A dry run writes nothing, so it opens no transaction: on SQLite (IMMEDIATE mode) that
    # would take the write lock for the whole preview.
    with nullcontext() if dry_run else transaction.atomic():
        batch: list[dict[str, str]] = []
        for _, values in rows:
            batch.append(values)
            if len(batch) >= BATCH_SIZE:
                _apply(batch, report, dry_run)
                batch = []
        _apply(batch, report, dry_run)


def _apply(batch: list[dict[str, str]], report: ImportReport, dry_run: bool) -> None:
    if not batch:
        return
    stored = {
        row["external_id"]: row
        for row in Site.objects.filter(external_id__in=[v["external_id"] for v in batch]).values(
            "external_id", *Site.IMPORTED_FIELDS
        )
    }
    now = timezone.now()
    search_fields = Site.SEARCH_COLUMNS["search_text"]
    writes = []
    for values in batch:
        old = stored.get(values["external_id"])
        if old is None:
            report.created += 1
            _sample(report, "new", values)
        elif any(old[n] != values[n] for n in values if n in old):
            report.updated += 1
            _sample(report, "changed", values)
        else:
            report.unchanged += 1
            continue
        # Columns a row lacks (the file's, or a record's) keep their stored values, blank for a
        # new site: every written row then has every column.
        full = {**dict.fromkeys(Site.IMPORTED_FIELDS, ""), **(old or {}), **values}
        search_text = search_column(full.get(n) for n in search_fields)
        writes.append({**full, "search_text": search_text, "imported_at": now, "updated_at": now})
    if writes and not dry_run:
        # Plain row dicts, one statement per batch (COPY on PostgreSQL): model instances and
        # the ORM's per-value preparation cost more than the database work at 100k rows.
        bulk.write(
            Site,
            writes,
            conflict=["external_id"],
            update=[*Site.IMPORTED_FIELDS, "search_text", "imported_at", "updated_at"],
        )


def _sample(report: ImportReport, kind: str, values: dict[str, str]) -> None:
    if len(report.samples) < SAMPLE_KEPT:
        report.samples.append((kind, values))
