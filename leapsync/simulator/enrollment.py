"""Rendering of the identifier block (shared by both responses) and the enrollment response."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from .catalog import ACTION_KINDS, FAR_FUTURE, GROUP_UTILITY_CODE, PROGRAM_BY_ID, REGION_TZ
from .generate import GROUPS_PER_POOL, new_uuid
from .state import ACTIVE, STATUS_RANK, ActionState, MeterState, ProgramState
from .timeutil import Period, fmt_us, local_midnight, period

PERIODS_SHOWN = 3  # the current delivery period plus the next two


@dataclass(slots=True)
class RenderContext:
    """What a rendering depends on besides the meter: seed, clock, and the nulls switch."""

    seed: int
    now: datetime
    months: dict[str, int]  # current local month index per region
    send_nulls: bool


def put(out: dict[str, Any], key: str, value: Any, nulls: bool) -> None:
    """Set an optional field: absent when None, unless the nulls switch asks for an explicit null."""
    if value is not None or nulls:
        out[key] = value


@lru_cache(maxsize=1024)
def group_pool(seed: int, program: str, utility: str) -> tuple[tuple[str, str], ...]:
    """A stable pool of (market_group_id, market_group_name) per program and utility."""
    rng = random.Random(f"{seed}:{program}:{utility}")
    code = GROUP_UTILITY_CODE.get(utility, utility[:4])
    suffix = PROGRAM_BY_ID[program].group_code
    return tuple(
        (new_uuid(rng), f"{code}_{i + 1}_{suffix}{rng.randrange(10, 99)}")
        for i in range(GROUPS_PER_POOL)
    )


def identifiers(m: MeterState, ctx: RenderContext) -> dict[str, Any]:
    """Identifier fields and audit, identical in the details and enrollment responses."""
    nulls = ctx.send_nulls
    out: dict[str, Any] = {"meter_id": m.meter_id}
    put(out, "partner_reference", m.partner_reference, nulls)
    out["transmission_region"] = m.region
    put(out, "customer_classification", m.classification, nulls)
    out["load_types"] = list(m.load_types)
    out["meter_type"] = m.meter_type
    out["connection_references"] = list(m.connection_references)
    put(out, "customer_group", m.customer_group, nulls)
    out["tags"] = list(m.tags)
    out["is_archived"] = m.is_archived
    if m.nickname is not None:
        out["meter_nickname"] = m.nickname  # Leap adds fields without notice
    out["audit"] = {
        "created_by": m.created_by,
        "created_at": fmt_us(m.created_at),
        "updated_at": fmt_us(m.updated_at),
    }
    return out


def render_enrollment(m: MeterState, ctx: RenderContext) -> tuple[dict[str, Any], float, str]:
    """The enrollment response, the instant it next changes by itself, and the global status."""
    tz = REGION_TZ[m.region]
    cur = ctx.months[m.region]
    expires = local_midnight(tz, cur + 1).timestamp()
    periods, any_active, statuses = [], False, set()
    for p in m.programs:
        for mi in range(cur, cur + PERIODS_SHOWN):
            status, row = _period_row(m, p, mi, ctx)
            periods.append(row)
            statuses.add(status)
            any_active = any_active or status == ACTIVE
    actions: dict[str, list[dict[str, Any]]] = {"partner": [], "leap": []}
    for a in m.actions:
        row, deadline = _action_row(a, tz, cur, ctx.now)
        actions[a.side].append(row)
        expires = min(expires, deadline)
    status = ACTIVE if any_active else _rollup(statuses, m.base_status)
    out = identifiers(m, ctx)
    out["global_enrollment_status"] = status
    out["participation_preferences"] = _participation(m, ctx.send_nulls)
    out["program_enrollment"] = periods
    out["required_actions"] = actions
    return out, expires, status


def _rollup(statuses: set[str], base: str) -> str:
    for status in STATUS_RANK:
        if status in statuses:
            return status
    return base


def _period_row(
    m: MeterState, p: ProgramState, mi: int, ctx: RenderContext
) -> tuple[str, dict[str, Any]]:
    program = PROGRAM_BY_ID[p.program]
    info = period(program.period_prefix, REGION_TZ[m.region], mi, program.mid_month_deadline)
    status, group = p.at(mi)
    row: dict[str, Any] = {
        "program_identifier": p.program,
        "delivery_period": info.name,
        "delivery_period_start_date_time": info.start,
        "delivery_period_end_date_time": info.end,
        "enrollment_status": status,
        "enrollment_deadlines": [
            {"enrollment_deadline_date_time": d, "activation_date_time": a}
            for _, d, a in info.deadlines
        ],
    }
    if group >= 0:
        gid, gname = group_pool(ctx.seed, p.program, m.utility)[group]
        row["market_group_id"], row["market_group_name"] = gid, gname
    elif ctx.send_nulls:
        row["market_group_id"] = row["market_group_name"] = None
    if p.capacity_kw is not None:
        row["capacity_kw"] = p.capacity_kw  # Leap adds fields without notice
    return status, row


def action_period(a: ActionState, tz: str, cur: int, now: datetime) -> tuple[Period, int]:
    """The period and deadline an unresolved action shows now: the first deadline still ahead."""
    program = PROGRAM_BY_ID[a.program]
    mi = max(a.anchor_month, cur)
    while True:
        info = period(program.period_prefix, tz, mi, program.mid_month_deadline)
        for index, (deadline, _, _) in enumerate(info.deadlines):
            if deadline > now:
                return info, index
        mi += 1


def _action_row(a: ActionState, tz: str, cur: int, now: datetime) -> tuple[dict[str, Any], float]:
    kind = ACTION_KINDS[a.kind]
    info, index = action_period(a, tz, cur, now)
    deadline, deadline_text, _ = info.deadlines[index]
    row = {
        "program_identifier": a.program,
        "delivery_period": info.name,
        "enrollment_deadline_date_time": deadline_text,
        "action_type": kind.action_type,
        "action_description": kind.descriptions[a.description % len(kind.descriptions)],
        "action_code": kind.code,
    }
    return row, deadline.timestamp()


def _participation(m: MeterState, nulls: bool) -> list[dict[str, Any]]:
    rows = []
    for p in m.participation:
        row: dict[str, Any] = {"participation_preference": p.preference, "start_time": p.start}
        row["end_time"] = p.end if p.end is not None else FAR_FUTURE[m.far_future]
        put(row, "reason", p.reason, nulls)
        rows.append(row)
    return rows
