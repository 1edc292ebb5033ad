"""Upserting Meter rows from either stream, with events for the identifier changes we track."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any
from uuid import UUID

import msgspec
from django.db import IntegrityError, connection, transaction

from leapsync.leap.payloads import MeterDetails, MeterEnrollment
from leapsync.lib import bulk
from leapsync.lib.search import search_column
from leapsync.sync.common import PageContext, fit
from meters.models import EventKind, Meter


@dataclass(slots=True)
class StoredMeter:
    """What a page needs to know about a meter already in the database.

    `identifiers` is loaded only for meters whose identifier values changed
    (`load_identifiers`); the others need just their hashes.
    """

    pk: int
    missing_from_leap: bool
    details_hash: str
    identifiers_hash: str
    enrollment_hash: str | None = None
    global_enrollment_status: str | None = None
    identifiers: dict[str, Any] | None = None

    @property
    def partner_reference(self) -> str:
        value: str = self._identifiers()["partner_reference"]
        return value

    @property
    def is_archived(self) -> bool:
        value: bool = self._identifiers()["is_archived"]
        return value

    def _identifiers(self) -> dict[str, Any]:
        if self.identifiers is None:
            raise TypeError("identifiers not loaded (see load_identifiers)")
        return self.identifiers


_STORED = ("pk", "missing_from_leap", "details_hash", "identifiers_hash")
_STORED_ENROLLMENT = ("enrollment__enrollment_hash", "enrollment__global_enrollment_status")


def load_meters(
    meter_ids: Iterable[UUID], *, with_enrollment: bool = False
) -> dict[UUID, StoredMeter]:
    """The stored meters of a page, as light records (no model instances, no raw JSON)."""
    extra = _STORED_ENROLLMENT if with_enrollment else ()
    rows = Meter.objects.filter(meter_id__any=list(meter_ids)).values_list(
        "meter_id", *_STORED, *extra
    )
    return {row[0]: StoredMeter(*row[1:]) for row in rows}


def load_identifiers(stored: dict[UUID, StoredMeter], rows: Iterable[dict[str, Any]]) -> None:
    """Read back the stored identifiers of the meters whose new values differ (one query).

    `rows` are the new values (`identifier_values`); a stored meter with the same digest has
    the same identifiers and is left alone.
    """
    wanted = [
        row["meter_id"]
        for row in rows
        if (meter := stored.get(row["meter_id"])) is not None
        and meter.identifiers_hash != row["identifiers_hash"]
    ]
    if not wanted:
        return
    names = Meter.IDENTIFIER_FIELDS
    for row in Meter.objects.filter(meter_id__any=wanted).values_list("meter_id", *names):
        stored[row[0]].identifiers = dict(zip(names, row[1:], strict=True))


def identifier_values(record: MeterDetails | MeterEnrollment, ctx: PageContext) -> dict[str, Any]:
    """The identifier columns both Leap responses carry, taken from a parsed record."""
    stats = ctx.stats
    values = {
        "partner_reference": fit(Meter, "partner_reference", record.partner_reference, stats),
        "transmission_region": fit(Meter, "transmission_region", record.transmission_region, stats),
        "customer_classification": fit(
            Meter, "customer_classification", record.customer_classification, stats
        ),
        "meter_type": fit(Meter, "meter_type", record.meter_type, stats),
        "customer_group": fit(Meter, "customer_group", record.customer_group, stats),
        "load_types": list(record.load_types),
        "tags": list(record.tags),
        "connection_references": list(record.connection_references),
        "is_archived": bool(record.is_archived),
        "leap_created_by": fit(Meter, "leap_created_by", record.audit.created_by, stats),
        "leap_created_at": record.audit.created_at,
        "leap_updated_at": record.audit.updated_at,
    }
    # Datetimes as isoformat text ("+00:00", where msgspec would write "Z"): the digests stored
    # before stay valid, so the first sync after an upgrade does not re-read every meter.
    canonical = msgspec.json.encode(
        [v.isoformat() if isinstance(v, datetime) else v for v in values.values()]
    )
    values["identifiers_hash"] = hashlib.blake2b(canonical, digest_size=16).hexdigest()
    # Derived from the values above, so out of the digest: it changes only when they do.
    values["search_reference"] = search_column([values["partner_reference"]])
    return values


def meter_row(
    stored: StoredMeter | None, meter_id: UUID, values: dict[str, Any], ctx: PageContext
) -> dict[str, Any]:
    """The row to upsert for one record, recording identifier-change events.

    A new meter's first-seen event is recorded by `upsert_meters`, which knows whether this
    page really created the row (the other stream may have, a moment earlier).
    """
    stamp: datetime | None = values.get("leap_updated_at")
    if stored is not None and stored.identifiers is not None:  # read back: they differ
        if stored.partner_reference != values["partner_reference"]:
            ctx.event(
                meter_id,
                EventKind.PARTNER_REFERENCE,
                field_name="partner_reference",
                old=stored.partner_reference,
                new=values["partner_reference"],
                leap_updated_at=stamp,
            )
        if stored.is_archived != values["is_archived"]:
            kind = EventKind.ARCHIVED if values["is_archived"] else EventKind.UNARCHIVED
            ctx.event(
                meter_id,
                kind,
                field_name="is_archived",
                old=stored.is_archived,
                new=values["is_archived"],
                leap_updated_at=stamp,
            )
    if stored is not None:
        mark_returned(stored, meter_id, ctx)
    return {
        "meter_id": meter_id,
        **values,
        "missing_from_leap": False,
        "missing_since": None,
        "updated_at": ctx.now,
    }


def mark_returned(stored: StoredMeter, meter_id: UUID, ctx: PageContext) -> bool:
    """A meter flagged missing that Leap lists again is back; True if it was missing."""
    if not stored.missing_from_leap:
        return False
    ctx.event(meter_id, EventKind.RETURNED, field_name="missing_from_leap", old=True, new=False)
    stored.missing_from_leap = False
    return True


def upsert_meters(
    rows: list[dict[str, Any]],
    fields: Sequence[str],
    ctx: PageContext,
    stored: dict[UUID, StoredMeter],
) -> dict[UUID, int]:
    """Insert new meters and update `fields` (plus the missing flags) of existing ones.

    Records a first-seen event for each meter this page inserted, and returns the pk of every
    meter written. Rows go in meter_id order, so two streams upserting the same meters at once
    lock them in the same order (no deadlock).
    """
    rows = sorted(rows, key=itemgetter("meter_id"))
    new_only = stored.keys().isdisjoint(row["meter_id"] for row in rows)
    written = _insert_all_new(rows) if rows and new_only else None
    if written is None:  # some were stored, or the other stream inserted one meanwhile
        written = bulk.write(
            Meter,
            rows,
            conflict=["meter_id"],
            update=[*fields, "missing_from_leap", "missing_since", "updated_at"],
            report="meter_id",
        )
    if written is None:  # SQLite: one writer at a time, so what we read before is still true
        inserted = {row["meter_id"] for row in rows if row["meter_id"] not in stored}
        pks = pk_map(inserted) | {
            row["meter_id"]: stored[row["meter_id"]].pk for row in rows if row["meter_id"] in stored
        }
    else:
        pks = {meter_id: row.pk for meter_id, row in written.items()}
        inserted = {meter_id for meter_id, row in written.items() if row.inserted}
    for row in rows:
        if row["meter_id"] in inserted:
            ctx.event(row["meter_id"], EventKind.FIRST_SEEN, leap_updated_at=row["leap_updated_at"])
    return pks


def _insert_all_new(rows: list[dict[str, Any]]) -> dict[UUID, bulk.Written] | None:
    """Meters none of which was stored when the page was read (most pages of a first load):
    inserted with keys taken from the sequence, by one COPY, without the staging table and
    the upsert's conflict checks (half the meters' write time). None on SQLite, or if the
    other stream inserted one of them meanwhile (the COPY is then undone: upsert instead)."""
    if connection.vendor != "postgresql":
        return None
    keyed = [
        {**row, "id": pk} for row, pk in zip(rows, bulk.allocate_ids(Meter, len(rows)), strict=True)
    ]
    try:
        with transaction.atomic():  # a savepoint: a clash undoes this COPY alone
            bulk.write(Meter, keyed)
    except IntegrityError:
        return None
    return {row["meter_id"]: bulk.Written(row["id"], True) for row in keyed}


def clear_missing(meter_ids: list[UUID]) -> None:
    """Unflag meters that are back in Leap but otherwise unchanged (one UPDATE)."""
    if meter_ids:
        Meter.objects.filter(meter_id__any=meter_ids).update(
            missing_from_leap=False, missing_since=None
        )


def pk_map(meter_ids: Iterable[UUID]) -> dict[UUID, int]:
    ids = list(meter_ids)
    if not ids:
        return {}
    return dict(Meter.objects.filter(meter_id__any=ids).values_list("meter_id", "pk"))
