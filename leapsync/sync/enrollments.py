"""Applying one page of Leap's meter enrollments (`POST /v2/meters/enrollments/search`)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction

from actions.models import RequiredAction
from enrollments.models import (
    EnrollmentDeadline,
    MeterEnrollment,
    ParticipationPeriod,
    ProgramEnrollment,
)
from leapsync.payloads import MeterEnrollment as EnrollmentRecord
from leapsync.payloads import parse_meter_enrollment, payload_hash
from leapsync.sync.children import diff_actions, diff_participation, diff_programs
from leapsync.sync.common import PageContext, fit, parse_all
from leapsync.sync.meters import (
    clear_missing,
    identifier_values,
    load_meters,
    mark_returned,
    merge_meter,
    upsert_meters,
)
from meters.models import EventKind, Meter


@dataclass
class ChangedMeter:
    """A meter whose enrollment payload changed, with what was stored before."""

    meter: Meter
    record: EnrollmentRecord
    digest: str
    previous: MeterEnrollment | None


@dataclass
class PageWrites:
    """Every child-row write of a page, collected first and then issued in bulk."""

    now: datetime
    enrollments: list[MeterEnrollment] = field(default_factory=list)
    programs: list[ProgramEnrollment] = field(default_factory=list)
    unlisted_program_ids: list[int] = field(default_factory=list)
    deadlines: dict[tuple[int, str, datetime], list[EnrollmentDeadline]] = field(
        default_factory=dict
    )
    actions: list[RequiredAction] = field(default_factory=list)
    resolved_action_ids: list[int] = field(default_factory=list)
    participation_replaced: list[int] = field(default_factory=list)
    participation: list[ParticipationPeriod] = field(default_factory=list)


def apply_enrollments_page(raws: list[Any], ctx: PageContext) -> None:
    """Upsert the page's changed enrollments and their child rows; skip unchanged ones.

    A bounded number of queries whatever the page holds (see tests/leapsync/test_sync.py).
    """
    records: list[EnrollmentRecord] = parse_all(raws, parse_meter_enrollment, ctx)
    with transaction.atomic():
        existing = load_meters((r.meter_id for r in records), with_enrollment=True)
        meters_to_upsert: list[Meter] = []
        returned: list[Meter] = []
        changed: list[ChangedMeter] = []
        for record in records:
            ctx.stats.see_timestamps(record.audit.updated_at, record.audit.created_at)
            meter = existing.get(record.meter_id)
            previous = _stored_enrollment(meter)
            digest = payload_hash(record.raw)
            if previous is not None and previous.enrollment_hash == digest:
                ctx.stats.unchanged += 1
                if mark_returned(meter, ctx):
                    returned.append(meter)
                continue
            if previous is None:
                ctx.stats.created += 1
            else:
                ctx.stats.updated += 1
            meter = merge_meter(meter, record.meter_id, identifier_values(record, ctx), ctx)
            meters_to_upsert.append(meter)
            changed.append(ChangedMeter(meter, record, digest, previous))
        upsert_meters(meters_to_upsert, Meter.IDENTIFIER_FIELDS)
        clear_missing(returned)
        _write_children(changed, ctx)
        ctx.flush()


def _stored_enrollment(meter: Meter | None) -> MeterEnrollment | None:
    if meter is None:
        return None
    try:
        return meter.enrollment
    except ObjectDoesNotExist:
        return None


def _write_children(changed: list[ChangedMeter], ctx: PageContext) -> None:
    if not changed:
        return
    pks = [item.meter.pk for item in changed]
    programs = _grouped(ProgramEnrollment.objects.filter(meter_id__in=pks))
    actions = _grouped(RequiredAction.objects.filter(meter_id__in=pks))
    participation = _grouped(ParticipationPeriod.objects.filter(meter_id__in=pks))
    writes = PageWrites(now=ctx.now)
    for item in changed:
        pk = item.meter.pk
        track = item.previous is not None  # a first sight is not a change: no child events
        if track and item.previous.global_enrollment_status != (
            item.record.global_enrollment_status or ""
        ):
            ctx.event(
                item.meter,
                EventKind.GLOBAL_STATUS,
                field_name="global_enrollment_status",
                old=item.previous.global_enrollment_status,
                new=item.record.global_enrollment_status,
                leap_updated_at=item.record.audit.updated_at,
            )
        diff_programs(item.meter, item.record, programs.get(pk, []), writes, ctx, track=track)
        diff_actions(item.meter, item.record, actions.get(pk, []), writes, ctx, track=track)
        diff_participation(
            item.meter, item.record, participation.get(pk, []), writes, ctx, track=track
        )
        writes.enrollments.append(_enrollment_row(item, writes, ctx))
    _flush_writes(writes, pks)


def _grouped(queryset) -> dict[int, list]:
    groups: dict[int, list] = defaultdict(list)
    for row in queryset:
        groups[row.meter_id].append(row)
    return groups


def _enrollment_row(item: ChangedMeter, writes: PageWrites, ctx: PageContext) -> MeterEnrollment:
    return MeterEnrollment(
        meter=item.meter,
        global_enrollment_status=fit(
            MeterEnrollment,
            "global_enrollment_status",
            item.record.global_enrollment_status,
            ctx.stats,
        ),
        leap_updated_at=item.record.audit.updated_at,
        enrollment_raw=item.record.raw,
        enrollment_hash=item.digest,
        synced_at=ctx.now,
        stale_after=stale_after(item.record),
    )


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


def _flush_writes(writes: PageWrites, pks: list[int]) -> None:
    MeterEnrollment.objects.bulk_create(
        writes.enrollments,
        update_conflicts=True,
        unique_fields=["meter"],
        update_fields=[name for name in MeterEnrollment.SYNCED_FIELDS],
    )
    _flush_programs(writes, pks)
    if writes.actions:
        RequiredAction.objects.bulk_create(
            writes.actions,
            update_conflicts=True,
            unique_fields=["meter", "owner", "program_identifier", "action_type", "action_code"],
            update_fields=[
                "action_description",
                "delivery_period",
                "enrollment_deadline_date_time",
                "last_seen_at",
                "resolved_at",
            ],
        )
    if writes.resolved_action_ids:
        RequiredAction.objects.filter(pk__in=writes.resolved_action_ids).update(
            resolved_at=writes.now
        )
    if writes.participation_replaced:
        ParticipationPeriod.objects.filter(meter_id__in=writes.participation_replaced).delete()
        ParticipationPeriod.objects.bulk_create(writes.participation)


def _flush_programs(writes: PageWrites, pks: list[int]) -> None:
    if writes.programs:
        ProgramEnrollment.objects.bulk_create(
            writes.programs,
            update_conflicts=True,
            unique_fields=["meter", "program_identifier", "delivery_period_start_date_time"],
            update_fields=[
                "delivery_period",
                "delivery_period_end_date_time",
                "enrollment_status",
                "market_group_id",
                "market_group_name",
                "listed",
            ],
        )
    if writes.unlisted_program_ids:
        ProgramEnrollment.objects.filter(pk__in=writes.unlisted_program_ids).update(listed=False)
    if not writes.deadlines:
        return
    ids = {
        (meter_id, program, start): pk
        for pk, meter_id, program, start in ProgramEnrollment.objects.filter(
            meter_id__in=pks, listed=True
        ).values_list("pk", "meter_id", "program_identifier", "delivery_period_start_date_time")
    }
    EnrollmentDeadline.objects.filter(program_enrollment_id__in=ids.values()).delete()
    rows = []
    for key, deadlines in writes.deadlines.items():
        for deadline in deadlines:
            deadline.program_enrollment_id = ids[key]
            rows.append(deadline)
    EnrollmentDeadline.objects.bulk_create(rows, batch_size=2000)
