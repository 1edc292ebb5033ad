"""Diffing one meter's enrollment child rows (periods, actions, participation) against Leap's."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from actions.models import RequiredAction
from enrollments.models import EnrollmentDeadline, ParticipationPeriod, ProgramEnrollment
from leapsync.payloads import MeterEnrollment as EnrollmentRecord
from leapsync.payloads import is_open_ended
from leapsync.sync.common import PageContext, fit
from meters.models import EventKind, Meter

if TYPE_CHECKING:
    from leapsync.sync.enrollments import PageWrites


def diff_programs(
    meter: Meter,
    record: EnrollmentRecord,
    stored: list[ProgramEnrollment],
    writes: PageWrites,
    ctx: PageContext,
    *,
    track: bool,
) -> None:
    """Upsert the listed delivery periods; unlist the ones Leap dropped (kept as history)."""
    by_key = {(row.program_identifier, row.delivery_period_start_date_time): row for row in stored}
    listed_keys = set()
    for period in record.program_enrollment:
        program = fit(ProgramEnrollment, "program_identifier", period.program_identifier, ctx.stats)
        key = (program, period.delivery_period_start_date_time)
        if key in listed_keys:
            ctx.stats.warn("delivery period listed twice for one meter; the first copy was used")
            continue
        listed_keys.add(key)
        row = ProgramEnrollment(
            meter=meter,
            program_identifier=program,
            delivery_period=fit(
                ProgramEnrollment, "delivery_period", period.delivery_period, ctx.stats
            ),
            delivery_period_start_date_time=period.delivery_period_start_date_time,
            delivery_period_end_date_time=period.delivery_period_end_date_time,
            enrollment_status=fit(
                ProgramEnrollment, "enrollment_status", period.enrollment_status, ctx.stats
            ),
            market_group_id=period.market_group_id,
            market_group_name=fit(
                ProgramEnrollment, "market_group_name", period.market_group_name, ctx.stats
            ),
            listed=True,
        )
        if track and key in by_key:
            _period_events(meter, by_key[key], row, record, ctx)
        writes.programs.append(row)
        writes.deadlines[(meter.pk, *key)] = _deadlines(period)
    writes.unlisted_program_ids += [
        row.pk for key, row in by_key.items() if row.listed and key not in listed_keys
    ]


def _deadlines(period: Any) -> list[EnrollmentDeadline]:
    unique = {}
    for deadline in period.enrollment_deadlines:
        unique.setdefault(
            deadline.enrollment_deadline_date_time,
            EnrollmentDeadline(
                enrollment_deadline_date_time=deadline.enrollment_deadline_date_time,
                activation_date_time=deadline.activation_date_time,
            ),
        )
    return list(unique.values())


def _period_events(
    meter: Meter,
    old: ProgramEnrollment,
    new: ProgramEnrollment,
    record: EnrollmentRecord,
    ctx: PageContext,
) -> None:
    label = f"{new.program_identifier} {new.delivery_period}".strip()
    stamp = record.audit.updated_at
    if old.enrollment_status != new.enrollment_status:
        ctx.event(
            meter,
            EventKind.PROGRAM_STATUS,
            field_name=label,
            old=old.enrollment_status,
            new=new.enrollment_status,
            leap_updated_at=stamp,
        )
    if (old.market_group_id, old.market_group_name) != (new.market_group_id, new.market_group_name):
        ctx.event(
            meter,
            EventKind.MARKET_GROUP,
            field_name=label,
            old=_group(old),
            new=_group(new),
            leap_updated_at=stamp,
        )


def _group(row: ProgramEnrollment) -> str:
    if row.market_group_id is None and not row.market_group_name:
        return ""
    return f"{row.market_group_name} ({row.market_group_id or 'no id'})"


def diff_actions(
    meter: Meter,
    record: EnrollmentRecord,
    stored: list[RequiredAction],
    writes: PageWrites,
    ctx: PageContext,
    *,
    track: bool,
) -> None:
    """Upsert listed actions by natural key (keeping workflow state); resolve dropped ones."""
    by_key = {_action_key(row): row for row in stored}
    listed = set()
    for action in record.required_actions:
        row = RequiredAction(
            meter=meter,
            owner=action.owner,
            program_identifier=fit(
                RequiredAction, "program_identifier", action.program_identifier, ctx.stats
            ),
            action_type=fit(RequiredAction, "action_type", action.action_type, ctx.stats),
            action_code=fit(RequiredAction, "action_code", action.action_code, ctx.stats),
            action_description=action.action_description or "",
            delivery_period=fit(
                RequiredAction, "delivery_period", action.delivery_period, ctx.stats
            ),
            enrollment_deadline_date_time=action.enrollment_deadline_date_time,
            first_seen_at=ctx.now,
            last_seen_at=ctx.now,
            resolved_at=None,
        )
        key = _action_key(row)
        if key in listed:
            ctx.stats.warn("required action listed twice for one meter; the first copy was used")
            continue
        listed.add(key)
        previous = by_key.get(key)
        if track and (previous is None or previous.resolved_at is not None):
            ctx.event(
                meter,
                EventKind.ACTION_ADDED,
                field_name=_action_label(row),
                new=row.action_description,
                leap_updated_at=record.audit.updated_at,
            )
        writes.actions.append(row)
    for key, row in by_key.items():
        if row.resolved_at is None and key not in listed:
            writes.resolved_action_ids.append(row.pk)
            ctx.event(
                meter,
                EventKind.ACTION_RESOLVED,
                field_name=_action_label(row),
                old=row.action_description,
                leap_updated_at=record.audit.updated_at,
            )


def _action_key(row: RequiredAction) -> tuple[str, str, str, str]:
    return (row.owner, row.program_identifier, row.action_type, row.action_code)


def _action_label(row: RequiredAction) -> str:
    return f"{row.owner} {row.action_code} {row.action_type} {row.program_identifier}".strip()


def diff_participation(
    meter: Meter,
    record: EnrollmentRecord,
    stored: list[ParticipationPeriod],
    writes: PageWrites,
    ctx: PageContext,
    *,
    track: bool,
) -> None:
    """Replace the meter's participation schedule when it differs from Leap's."""
    new_rows = {}
    for period in record.participation_preferences:
        row = ParticipationPeriod(
            meter=meter,
            participation_preference=fit(
                ParticipationPeriod,
                "participation_preference",
                period.participation_preference,
                ctx.stats,
            ),
            start_time=period.start_time,
            end_time=period.end_time,
            is_open_ended=is_open_ended(period.end_time),
            reason=period.reason or "",
        )
        new_rows.setdefault((row.start_time, row.participation_preference), row)
    new_summary = _schedule(new_rows.values())
    old_summary = _schedule(stored)
    if new_summary == old_summary:
        return
    if track:
        ctx.event(
            meter,
            EventKind.PARTICIPATION,
            field_name="participation_preferences",
            old=old_summary,
            new=new_summary,
            leap_updated_at=record.audit.updated_at,
        )
    writes.participation_replaced.append(meter.pk)
    writes.participation += new_rows.values()


def _schedule(rows) -> list[list[str]]:
    def iso(value: datetime | None) -> str:
        return value.isoformat() if value else ""

    return sorted(
        [row.participation_preference, iso(row.start_time), iso(row.end_time), row.reason]
        for row in rows
    )
