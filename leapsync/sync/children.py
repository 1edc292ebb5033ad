"""Diffing one meter's enrollment child rows (periods, actions, participation) against Leap's.

Stored rows arrive as dicts (from `.values()`); new rows leave as dicts for `bulk.write`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from actions.models import RequiredAction
from enrollments.models import ParticipationPeriod, ProgramEnrollment
from leapsync.leap.payloads import MeterEnrollment as EnrollmentRecord
from leapsync.leap.payloads import ProgramEnrollment as PeriodRecord
from leapsync.leap.payloads import is_open_ended
from leapsync.sync.common import PageContext, Row, fit
from meters.models import EventKind

# A delivery period's PROGRAM_KEY values: (meter pk, program_identifier, start).
ProgramKey = tuple[int, str, datetime]


@dataclass
class PageWrites:
    """Every child-row write of a page, collected first and then issued in bulk."""

    now: datetime
    fresh: set[int]  # meters seen by this stream for the first time: no stored child rows
    enrollments: list[Row] = field(default_factory=list)
    programs: list[Row] = field(default_factory=list)
    unlisted_program_ids: list[int] = field(default_factory=list)
    relisted_program_ids: list[int] = field(default_factory=list)
    deadlines: dict[ProgramKey, list[Row]] = field(default_factory=dict)
    actions: list[Row] = field(default_factory=list)
    resolved_action_ids: list[int] = field(default_factory=list)
    participation_replaced: list[int] = field(default_factory=list)
    participation: list[Row] = field(default_factory=list)


def diff_programs(
    meter_id: UUID,
    pk: int,
    record: EnrollmentRecord,
    writes: PageWrites,
    ctx: PageContext,
    stored: list[Row],
    *,
    track: bool,
) -> None:
    """Upsert the listed delivery periods; unlist the ones Leap dropped (kept as history)."""
    by_key = {
        (row["program_identifier"], row["delivery_period_start_date_time"]): row for row in stored
    }
    listed = set()
    stats = ctx.stats
    for period in record.program_enrollment:
        program = fit(ProgramEnrollment, "program_identifier", period.program_identifier, stats)
        key = (program, period.delivery_period_start_date_time)
        if key in listed:
            stats.warn("delivery period listed twice for one meter; the first copy was used")
            continue
        listed.add(key)
        row: Row = {
            "meter_id": pk,
            "program_identifier": program,
            "delivery_period": fit(
                ProgramEnrollment, "delivery_period", period.delivery_period, stats
            ),
            "delivery_period_start_date_time": period.delivery_period_start_date_time,
            "delivery_period_end_date_time": period.delivery_period_end_date_time,
            "enrollment_status": fit(
                ProgramEnrollment, "enrollment_status", period.enrollment_status, stats
            ),
            "market_group_id": period.market_group_id,
            "market_group_name": fit(
                ProgramEnrollment, "market_group_name", period.market_group_name, stats
            ),
            "listed": True,
        }
        if key in by_key:
            writes.relisted_program_ids.append(by_key[key]["pk"])
            if track:
                _period_events(meter_id, by_key[key], row, record, ctx)
        writes.programs.append(row)
        writes.deadlines[(pk, *key)] = _deadlines(period)
    writes.unlisted_program_ids += [
        row["pk"] for key, row in by_key.items() if row["listed"] and key not in listed
    ]


def _deadlines(period: PeriodRecord) -> list[Row]:
    unique: dict[datetime, Row] = {}
    for deadline in period.enrollment_deadlines:
        unique.setdefault(
            deadline.enrollment_deadline_date_time,
            {
                "enrollment_deadline_date_time": deadline.enrollment_deadline_date_time,
                "activation_date_time": deadline.activation_date_time,
            },
        )
    return list(unique.values())


def _period_events(
    meter_id: UUID, old: Row, new: Row, record: EnrollmentRecord, ctx: PageContext
) -> None:
    about = {
        "program_identifier": new["program_identifier"],
        "delivery_period": new["delivery_period"],
    }
    stamp = record.audit.updated_at
    if old["enrollment_status"] != new["enrollment_status"]:
        ctx.event(
            meter_id,
            EventKind.PROGRAM_STATUS,
            field_name="enrollment_status",
            old=old["enrollment_status"],
            new=new["enrollment_status"],
            leap_updated_at=stamp,
            about=about,
        )
    if _group(old) != _group(new):
        ctx.event(
            meter_id,
            EventKind.MARKET_GROUP,
            field_name="market_group",
            old=_group(old),
            new=_group(new),
            leap_updated_at=stamp,
            about=about,
        )


def _group(row: Row) -> str:
    if row["market_group_id"] is None and not row["market_group_name"]:
        return ""
    return f"{row['market_group_name']} ({row['market_group_id'] or 'no id'})"


def diff_actions(
    meter_id: UUID,
    pk: int,
    record: EnrollmentRecord,
    writes: PageWrites,
    ctx: PageContext,
    stored: list[Row],
    *,
    track: bool,
) -> None:
    """Upsert listed actions by natural key (keeping workflow state); resolve dropped ones."""
    by_key = {_action_key(row): row for row in stored}
    listed = set()
    stats = ctx.stats
    for action in record.required_actions:
        row: Row = {
            "meter_id": pk,
            "owner": action.owner,
            "program_identifier": fit(
                RequiredAction, "program_identifier", action.program_identifier, stats
            ),
            "action_type": fit(RequiredAction, "action_type", action.action_type, stats),
            "action_code": fit(RequiredAction, "action_code", action.action_code, stats),
            "action_description": action.action_description or "",
            "delivery_period": fit(
                RequiredAction, "delivery_period", action.delivery_period, stats
            ),
            "enrollment_deadline_date_time": action.enrollment_deadline_date_time,
            "first_seen_at": ctx.now,
            "last_seen_at": ctx.now,
            "resolved_at": None,
        }
        key = _action_key(row)
        if key in listed:
            stats.warn("required action listed twice for one meter; the first copy was used")
            continue
        listed.add(key)
        previous = by_key.get(key)
        if track and (previous is None or previous["resolved_at"] is not None):
            ctx.event(
                meter_id,
                EventKind.ACTION_ADDED,
                field_name="required_actions",
                new=row["action_description"],
                leap_updated_at=record.audit.updated_at,
                about=_action_about(row),
            )
        writes.actions.append(row)
    for key, row in by_key.items():
        if row["resolved_at"] is None and key not in listed:
            writes.resolved_action_ids.append(row["pk"])
            ctx.event(
                meter_id,
                EventKind.ACTION_RESOLVED,
                field_name="required_actions",
                old=row["action_description"],
                leap_updated_at=record.audit.updated_at,
                about=_action_about(row),
            )


def _action_key(row: Row) -> tuple[str, str, str, str]:
    return (row["owner"], row["program_identifier"], row["action_type"], row["action_code"])


def _action_about(row: Row) -> dict[str, str]:
    """The action's natural key, as its events keep it."""
    return {
        name: row[name] for name in ("owner", "action_code", "action_type", "program_identifier")
    }


def diff_participation(
    meter_id: UUID,
    pk: int,
    record: EnrollmentRecord,
    writes: PageWrites,
    ctx: PageContext,
    stored: list[Row],
    *,
    track: bool,
) -> None:
    """Replace the meter's participation schedule when it differs from Leap's."""
    new_rows: dict[tuple[datetime, str], Row] = {}
    for period in record.participation_preferences:
        preference = fit(
            ParticipationPeriod,
            "participation_preference",
            period.participation_preference,
            ctx.stats,
        )
        new_rows.setdefault(
            (period.start_time, preference),
            {
                "meter_id": pk,
                "participation_preference": preference,
                "start_time": period.start_time,
                "end_time": period.end_time,
                "is_open_ended": is_open_ended(period.end_time),
                "reason": period.reason or "",
            },
        )
    if not stored and not track:  # a first sight: nothing to compare, no event to record
        if new_rows:
            writes.participation_replaced.append(pk)
            writes.participation += new_rows.values()
        return
    new_summary = _schedule(new_rows.values())
    old_summary = _schedule(stored)
    if new_summary == old_summary:
        return
    if track:
        ctx.event(
            meter_id,
            EventKind.PARTICIPATION,
            field_name="participation_preferences",
            old=old_summary,
            new=new_summary,
            leap_updated_at=record.audit.updated_at,
        )
    writes.participation_replaced.append(pk)
    writes.participation += new_rows.values()


def _schedule(rows: Iterable[Row]) -> list[list[str]]:
    def iso(value: datetime | None) -> str:
        return value.isoformat() if value else ""

    return sorted(
        [
            row["participation_preference"],
            iso(row["start_time"]),
            iso(row["end_time"]),
            row["reason"],
        ]
        for row in rows
    )
