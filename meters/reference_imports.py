"""partner_reference in bulk from a CSV file (`meter_id,partner_reference`): the preview that
classifies every row, and the confirmation that records the new and changed values through the
single edit's service (meters.services), so each gets the same audit trail, push and retry.

The file is read with the site import's reader (meters.imports.read_csv: UTF-8 with or without
a BOM, the same hints for Excel's encodings and spreadsheet files). Meters, their open changes
and the values other meters hold are fetched CHUNK at a time, so a preview's queries grow with
the file only by chunks, never by rows.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import IO
from uuid import UUID

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, models, transaction
from django.template.defaultfilters import pluralize

from leapsync.leap.references import RULE, reference_problem
from meters.imports import ImportFileError, column_key, found_columns, read_csv
from meters.models import Meter, PartnerReferenceChange, ReferenceImport
from meters.services import REFERENCE_BATCH, ReferenceEdit, Seen, set_partner_references

CHUNK = REFERENCE_BATCH
COLUMNS = ("meter_id", "partner_reference")
MAX_ROWS = 20_000  # confirming this many takes about 20 s (docs/benchmarks.md); longer: refused
SHOWN = 100  # rows listed per class on the preview ("and N more" beyond)
SKIPPED_KEPT = 200  # skipped rows kept with the import's record
BREAKS_RULE = "breaks Leap's partner_reference rule (above)"
HEADER_HINT = "The first line must name the columns: meter_id,partner_reference."


class RowClass(models.TextChoices):
    """What confirming the file would do with a row. Only NEW and CHANGED rows are sent."""

    NEW = "new", "New (the meter has none)"
    CHANGED = "changed", "Changed"
    UNCHANGED = "unchanged", "Unchanged"
    INVALID = "invalid", "Invalid partner_reference"
    UNKNOWN = "unknown", "Unknown meter"
    DUPLICATE = "duplicate", "Meter listed more than once"


SENT = (RowClass.NEW, RowClass.CHANGED)


@dataclass(slots=True)
class Row:
    """One line of the file and what the preview found."""

    line: int
    meter_id: str  # as written in the file
    value: str  # stripped, as it would be sent
    kind: str = ""
    reason: str = ""
    uuid: UUID | None = None
    meter_pk: int | None = None
    old: str = ""  # Leap's value now
    open_change: int | None = None  # the meter's unconfirmed change, which this one replaces
    open_value: str = ""
    shared_with: int = 0  # other meters that would hold the same value


@dataclass
class Section:
    """One class of rows on the preview: its count and the first SHOWN rows."""

    kind: str
    label: str
    count: int
    rows: list[Row]

    @property
    def more(self) -> int:
        return self.count - len(self.rows)


@dataclass
class Preview:
    rows: list[Row]
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(row.kind for row in self.rows)
        return {kind: found[kind] for kind in RowClass.values}

    @property
    def to_send(self) -> list[Row]:
        return [row for row in self.rows if row.kind in SENT]

    @property
    def shared(self) -> list[Row]:
        return [row for row in self.rows if row.kind in SENT and row.shared_with]

    def sections(self) -> list[Section]:
        by_kind: dict[str, list[Row]] = defaultdict(list)
        for row in self.rows:
            by_kind[row.kind].append(row)
        return [
            Section(kind, label, len(by_kind[kind]), by_kind[kind][:SHOWN])
            for kind, label in RowClass.choices
        ]

    def shared_section(self) -> Section:
        shared = self.shared
        return Section("shared", "Would be shared", len(shared), shared[:SHOWN])

    def moved_since(self, seen: dict[str, list]) -> list[Row]:
        """Rows to send whose meter is no longer as the upload's preview showed it (`seen`), or
        that were not to be sent then: confirming skips them (a sync or an edit came between)."""
        return [
            row
            for row in self.to_send
            if seen.get(str(row.uuid)) != [row.meter_pk, row.old, row.open_change]
        ]

    def seen(self) -> dict[str, list]:
        """What the preview showed of each meter to send: pk, Leap's value, the open change.

        Kept beside the upload; the confirmation binds each edit to it, so a meter whose
        value or unconfirmed change moved on since the preview is skipped with the reason.
        """
        return {str(r.uuid): [r.meter_pk, r.old, r.open_change] for r in self.to_send}


# --- reading the file ---------------------------------------------------------------------------


def read_references(stream: IO[bytes]) -> Preview:
    """The file's rows, unclassified but for rows that cannot be read as (meter_id, value).

    Raises ImportFileError for a file that cannot be read, lacks a column, or is too long.
    """
    lines = read_csv(stream)
    headers = next(lines, (0, []))[1]
    if not any(h.strip() for h in headers):
        raise ImportFileError(f"The file is empty. {HEADER_HINT}")
    keys = [column_key(h) for h in headers]
    if _uuid(headers[0]) is not None:
        raise ImportFileError(
            f"The first line is a row of data, not column names. {HEADER_HINT} Add that line "
            "above the data."
        )
    missing = [name for name in COLUMNS if name not in keys]
    if missing:
        raise ImportFileError(
            f"The file has no {' or '.join(missing)} column (found: {found_columns(headers)}). "
            f"{HEADER_HINT}"
        )
    at = {name: keys.index(name) for name in COLUMNS}
    ignored = [h for i, h in enumerate(headers) if i not in at.values()]
    rows: list[Row] = []
    for line, fields in lines:
        if not any(cell.strip() for cell in fields):
            continue
        if len(rows) == MAX_ROWS:
            raise ImportFileError(
                f"The file has more than {MAX_ROWS:,} rows: split it into smaller files."
            )
        rows.append(_row(line, fields, at, len(headers)))
    return Preview(rows, ignored)


def _uuid(text: str) -> UUID | None:
    try:
        return UUID(text.strip())
    except ValueError:
        return None


def _row(line: int, fields: list[str], at: dict[str, int], width: int) -> Row:
    def cell(name: str) -> str:
        return fields[at[name]].strip() if at[name] < len(fields) else ""

    row = Row(line, cell("meter_id"), cell("partner_reference"))
    row.uuid = _uuid(row.meter_id)
    if row.uuid is None:
        what = "not a meter_id (a UUID)" if row.meter_id else "meter_id is empty"
        row.kind, row.reason = RowClass.UNKNOWN, what
    elif any(cell.strip() for cell in fields[width:]):  # empty trailing fields are harmless
        row.kind = RowClass.INVALID
        row.reason = (
            f"has {len(fields)} fields, the header has {width} (a value holding a comma must be "
            "in double quotes)"
        )
    elif at["partner_reference"] >= len(fields):
        row.kind = RowClass.INVALID
        row.reason = (
            f"has {len(fields)} field{pluralize(len(fields))}: partner_reference is missing"
        )
    return row


# --- classifying --------------------------------------------------------------------------------


def preview_references(stream: IO[bytes]) -> Preview:
    """Read and classify every row of the file against the meters as they are now."""
    preview = read_references(stream)
    _mark_duplicates(preview.rows)
    _match_meters(preview.rows)
    to_send = preview.to_send
    _attach_open_changes(to_send)
    _count_sharers(preview.rows, to_send)
    return preview


def _chunks(items: list) -> list[list]:
    return [items[start : start + CHUNK] for start in range(0, len(items), CHUNK)]


def _mark_duplicates(rows: list[Row]) -> None:
    lines: dict[UUID, list[int]] = defaultdict(list)
    for row in rows:
        if row.uuid is not None:
            lines[row.uuid].append(row.line)
    for row in rows:
        listed = lines.get(row.uuid) if row.uuid is not None else None
        if listed and len(listed) > 1:
            row.kind = RowClass.DUPLICATE
            row.reason = (
                f"listed on lines {', '.join(map(str, listed))}: none of them is sent; keep "
                "one line per meter"
            )


def _match_meters(rows: list[Row]) -> None:
    """Unknown meter, invalid value, or new / changed / unchanged against Leap's value."""
    pending = [row for row in rows if row.uuid is not None]
    found: dict[UUID, tuple[int, str]] = {}
    for chunk in _chunks([row.uuid for row in pending]):
        meters = Meter.objects.filter(meter_id__any=chunk).order_by()
        found.update(
            (m_id, (pk, ref))
            for pk, m_id, ref in meters.values_list("pk", "meter_id", "partner_reference")
        )
    for row in pending:
        meter = found.get(row.uuid)  # type: ignore[arg-type]
        if meter is not None:
            row.meter_pk, row.old = meter  # linked on the preview, even when listed twice
        if row.kind == RowClass.DUPLICATE:
            continue
        if meter is None:
            row.kind, row.reason = RowClass.UNKNOWN, "no meter has this meter_id"
            continue
        if row.kind:  # unreadable row: invalid already
            continue
        problem = reference_problem(row.value)
        if problem:  # the preview shows RULE once, above these rows; here what it adds
            row.kind = RowClass.INVALID
            row.reason = problem.removeprefix(RULE).strip() or BREAKS_RULE
        elif row.value == row.old:
            row.kind = RowClass.UNCHANGED
        else:
            row.kind = RowClass.CHANGED if row.old else RowClass.NEW


def _attach_open_changes(to_send: list[Row]) -> None:
    """The unconfirmed change each meter to send has, which confirming would replace."""
    latest: dict[int, tuple[int, str]] = {}
    for chunk in _chunks([row.meter_pk for row in to_send]):
        changes = PartnerReferenceChange.objects.filter(
            meter_id__any=chunk, push_status__in=PartnerReferenceChange.OPEN_STATUSES
        ).order_by("-at", "-id")
        for meter_pk, pk, new in changes.values_list("meter_id", "pk", "new"):
            latest.setdefault(meter_pk, (pk, new))
    for row in to_send:
        if row.meter_pk in latest:
            row.open_change, row.open_value = latest[row.meter_pk]


def _count_sharers(rows: list[Row], to_send: list[Row]) -> None:
    """For each value to send, how many other meters would hold it once the file is applied:
    meters of the file that keep or get it, and meters outside the file that hold it now.
    Leap allows a shared partner_reference (NOTES.md section 5), so this warns, never refuses.
    """
    final = {row.meter_pk: row.value for row in rows if row.kind in (*SENT, RowClass.UNCHANGED)}
    holders: dict[str, set[int]] = defaultdict(set)
    for meter_pk, value in final.items():
        holders[value].add(meter_pk)  # type: ignore[arg-type]
    values = sorted({row.value for row in to_send})
    for chunk in _chunks(values):
        others = Meter.objects.filter(partner_reference__any=chunk).order_by()
        for meter_pk, value in others.values_list("pk", "partner_reference"):
            if meter_pk not in final:  # a meter the file leaves as it is
                holders[value].add(meter_pk)
    for row in to_send:
        row.shared_with = len(holders[row.value]) - 1


# --- confirming ---------------------------------------------------------------------------------


def claim_import(
    token: str, *, name: str, sha256: str, actor: AbstractBaseUser
) -> ReferenceImport | None:
    """Record that the upload `token` is being applied; None when it already was (its token
    is unique), so a confirmation sent twice, even at the same moment, applies it once."""
    try:
        with transaction.atomic():
            return ReferenceImport.objects.create(token=token, name=name, sha256=sha256, by=actor)
    except IntegrityError:
        return None


def apply_references(
    stream: IO[bytes], seen: dict[str, list], *, record: ReferenceImport, actor: AbstractBaseUser
) -> ReferenceImport:
    """Send the rows the preview classified new or changed (`seen`), each bound to what the
    preview showed of its meter, through the single edit's service; record the counts."""
    rows = read_references(stream).rows
    edits, row_of = [], {}
    for row in rows:
        shown = seen.get(str(row.uuid)) if row.uuid is not None else None
        if shown is None:
            continue
        meter_pk, old, open_change = shown
        meter = Meter(pk=meter_pk, meter_id=row.uuid, partner_reference=old)
        edit = ReferenceEdit(meter, row.value, Seen(old, open_change))
        edits.append(edit)
        row_of[meter_pk] = row
    changes, refused = set_partner_references(edits, actor=actor, batch=record)
    record.rows = len(rows)
    record.pushed = len(changes)
    record.skipped = len(refused)
    record.skipped_rows = [
        [row_of[edit.meter.pk].line, row_of[edit.meter.pk].meter_id, reason]
        for edit, reason in refused[:SKIPPED_KEPT]
    ]
    record.save(update_fields=["rows", "pushed", "skipped", "skipped_rows"])
    return record
