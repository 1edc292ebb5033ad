"""Applying one page of Leap's meter enrollments (`POST /v2/meters/enrollments/search`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db import connection, models, transaction

from actions.models import RequiredAction
from enrollments.models import (
    EnrollmentDeadline,
    MeterEnrollment,
    ParticipationPeriod,
    ProgramEnrollment,
)
from leapsync.leap.payloads import MeterEnrollment as EnrollmentRecord
from leapsync.leap.payloads import parse_meter_enrollment
from leapsync.lib import bulk
from leapsync.sync.children import (
    PageWrites,
    ProgramKey,
    diff_actions,
    diff_participation,
    diff_programs,
)
from leapsync.sync.common import PageContext, Row, fit, incoming, parse_all, screen
from leapsync.sync.meters import (
    StoredMeter,
    clear_missing,
    identifier_values,
    load_identifiers,
    load_meters,
    mark_returned,
    meter_row,
    upsert_meters,
)
from meters.models import EventKind, Meter
from meters.services import map_by_reference

ACTION_KEY = ("meter_id", "owner", "program_identifier", "action_type", "action_code")
PROGRAM_KEY = ("meter_id", "program_identifier", "delivery_period_start_date_time")


@dataclass
class ChangedMeter:
    """A meter whose enrollment payload changed, with what was stored before."""

    meter_id: UUID
    record: EnrollmentRecord
    digest: str
    previous: StoredMeter | None


def apply_enrollments_page(raws: list[Any], ctx: PageContext) -> None:
    """Upsert the page's changed enrollments and their child rows; skip unchanged ones.

    A bounded number of queries whatever the page holds (see tests/leapsync).
    """
    items = incoming(raws)
    ids = [item.meter_id for item in items if item.meter_id is not None]
    with transaction.atomic():
        stored = load_meters(ids, with_enrollment=True)
        unchanged, changed_raws = screen(items, lambda i: _hash(stored.get(i)), ctx)
        returned = [i for i in unchanged if mark_returned(stored[i], i, ctx)]
        records = parse_all(changed_raws, parse_meter_enrollment, ctx)
        values = [
            {"meter_id": record.meter_id, **identifier_values(record, ctx)} for record, _ in records
        ]
        load_identifiers(stored, values)
        changed, rows = [], []
        for (record, digest), row in zip(records, values, strict=True):
            previous = stored.get(record.meter_id)
            has_enrollment = previous is not None and previous.enrollment_hash is not None
            ctx.stats.updated += has_enrollment
            ctx.stats.created += not has_enrollment
            # The details stream usually wrote these already; rewrite the meter only on news.
            if (
                previous is None
                or previous.identifiers_hash != row["identifiers_hash"]
                or previous.missing_from_leap
            ):
                rows.append(meter_row(previous, record.meter_id, row, ctx))
            changed.append(ChangedMeter(record.meter_id, record, digest, previous))
        written = upsert_meters(rows, Meter.IDENTIFIER_FIELDS, ctx, stored)
        clear_missing(returned)
        pks = {meter_id: meter.pk for meter_id, meter in stored.items()} | written
        _write_children(changed, pks, ctx)
        ctx.flush(pks)
        map_by_reference(row["meter_id"] for row in rows)  # new or changed meters only


def _hash(stored: StoredMeter | None) -> str | None:
    return stored.enrollment_hash if stored is not None else None


def _write_children(changed: list[ChangedMeter], pks: dict[UUID, int], ctx: PageContext) -> None:
    if not changed:
        return
    meter_pks = [pks[item.meter_id] for item in changed]
    # Child rows exist only for meters whose enrollment was stored before; a first sight
    # (all of a first full sync) needs no lookups and can be inserted without upserting.
    tracked = [pks[item.meter_id] for item in changed if _tracked(item)]
    programs = _grouped(
        ProgramEnrollment,
        tracked,
        "pk",
        *PROGRAM_KEY[1:],
        "delivery_period",
        "enrollment_status",
        "market_group_id",
        "market_group_name",
        "listed",
    )
    actions = _grouped(
        RequiredAction, tracked, "pk", *ACTION_KEY[1:], "action_description", "resolved_at"
    )
    schedule = _grouped(
        ParticipationPeriod,
        tracked,
        "participation_preference",
        "start_time",
        "end_time",
        "reason",
    )
    writes = PageWrites(now=ctx.now, fresh=set(meter_pks) - set(tracked))
    for item in changed:
        pk = pks[item.meter_id]
        previous = item.previous if _tracked(item) else None
        track = previous is not None
        if previous is not None and previous.global_enrollment_status != (
            item.record.global_enrollment_status or ""
        ):
            ctx.event(
                item.meter_id,
                EventKind.GLOBAL_STATUS,
                field_name="global_enrollment_status",
                old=previous.global_enrollment_status,
                new=item.record.global_enrollment_status,
                leap_updated_at=item.record.audit.updated_at,
            )
        context = (item.meter_id, pk, item.record, writes, ctx)
        diff_programs(*context, programs.get(pk, []), track=track)
        diff_actions(*context, actions.get(pk, []), track=track)
        diff_participation(*context, schedule.get(pk, []), track=track)
        writes.enrollments.append(_enrollment_row(pk, item, ctx))
    _flush_writes(writes, meter_pks)


def _tracked(item: ChangedMeter) -> bool:
    return item.previous is not None and item.previous.enrollment_hash is not None


def _grouped(
    model: type[ProgramEnrollment | RequiredAction | ParticipationPeriod],
    meter_pks: list[int],
    *columns: str,
) -> dict[int, list[Row]]:
    groups: dict[int, list[Row]] = defaultdict(list)
    for row in model.objects.filter(meter_id__any=meter_pks).values("meter_id", *columns):
        groups[row["meter_id"]].append(row)
    return groups


def _enrollment_row(pk: int, item: ChangedMeter, ctx: PageContext) -> Row:
    return {
        "meter_id": pk,
        "global_enrollment_status": fit(
            MeterEnrollment,
            "global_enrollment_status",
            item.record.global_enrollment_status,
            ctx.stats,
        ),
        "leap_updated_at": item.record.audit.updated_at,
        "enrollment_raw": item.record.raw,
        "enrollment_hash": item.digest,
        "synced_at": ctx.now,
        "stale_after": stale_after(item.record),
    }


def stale_after(record: EnrollmentRecord) -> datetime | None:
    """When Leap's answer for this meter next changes without moving `updated_at`.

    The guide: a delivery period rolling over, or an unresolved action's deadline rolling
    forward, leaves `updated_at` alone; so the earliest period end or action deadline.
    """
    instants = [
        period.delivery_period_end_date_time
        for period in record.program_enrollment
        if period.delivery_period_end_date_time is not None
    ]
    instants += [
        action.enrollment_deadline_date_time
        for action in record.required_actions
        if action.enrollment_deadline_date_time is not None
    ]
    return min(instants, default=None)


def _flush_writes(writes: PageWrites, meter_pks: list[int]) -> None:
    _upsert(
        MeterEnrollment,
        writes.enrollments,
        writes.fresh,
        conflict=["meter_id"],
        update=[name for name in MeterEnrollment.SYNCED_FIELDS],
    )
    _flush_programs(writes, meter_pks)
    _upsert(
        RequiredAction,
        writes.actions,
        writes.fresh,
        conflict=ACTION_KEY,
        update=[
            "action_description",
            "delivery_period",
            "enrollment_deadline_date_time",
            "last_seen_at",
            "resolved_at",
        ],
    )
    if writes.resolved_action_ids:
        RequiredAction.objects.filter(pk__any=writes.resolved_action_ids).update(
            resolved_at=writes.now
        )
    if writes.participation_replaced:
        stored = [pk for pk in writes.participation_replaced if pk not in writes.fresh]
        ParticipationPeriod.objects.filter(meter_id__any=stored).delete()
        bulk.write(ParticipationPeriod, writes.participation)


def _upsert(
    model: type[models.Model],
    rows: list[Row],
    fresh: set[int],
    *,
    conflict: Sequence[str],
    update: Sequence[str],
) -> None:
    """Plain inserts for first-seen meters' rows, upserts for the rest."""
    bulk.write(model, [row for row in rows if row["meter_id"] in fresh])
    bulk.write(
        model,
        [row for row in rows if row["meter_id"] not in fresh],
        conflict=conflict,
        update=update,
    )


def _flush_programs(writes: PageWrites, meter_pks: list[int]) -> None:
    ids = _allocate_fresh_program_ids(writes)
    _upsert(
        ProgramEnrollment,
        writes.programs,
        writes.fresh,
        conflict=PROGRAM_KEY,
        update=[
            "delivery_period",
            "delivery_period_end_date_time",
            "enrollment_status",
            "market_group_id",
            "market_group_name",
            "listed",
        ],
    )
    if writes.unlisted_program_ids:
        ProgramEnrollment.objects.filter(pk__any=writes.unlisted_program_ids).update(listed=False)
    if not writes.deadlines:
        return
    unknown = [pk for pk in meter_pks if pk not in writes.fresh] if ids else meter_pks
    if unknown:
        ids.update(
            {
                (meter_id, program, start): pk
                for pk, meter_id, program, start in ProgramEnrollment.objects.filter(
                    meter_id__any=unknown, listed=True
                ).values_list("pk", *PROGRAM_KEY)
            }
        )
    if writes.relisted_program_ids:  # periods stored before: their deadlines are replaced
        EnrollmentDeadline.objects.filter(
            program_enrollment_id__any=writes.relisted_program_ids
        ).delete()
    bulk.write(
        EnrollmentDeadline,
        [
            {"program_enrollment_id": ids[key], "program_identifier": key[1], **deadline}
            for key, deadlines in writes.deadlines.items()
            for deadline in deadlines
        ],
    )


def _allocate_fresh_program_ids(writes: PageWrites) -> dict[ProgramKey, int]:
    """On PostgreSQL, key first-seen meters' periods in advance: no read-back for deadlines."""
    fresh = [row for row in writes.programs if row["meter_id"] in writes.fresh]
    if not fresh or connection.vendor != "postgresql":
        return {}
    ids: dict[ProgramKey, int] = {}
    for row, pk in zip(fresh, bulk.allocate_ids(ProgramEnrollment, len(fresh)), strict=True):
        row["id"] = pk
        ids[tuple(row[name] for name in PROGRAM_KEY)] = pk
    return ids
