"""Deadlines as the pages and the digest show them: enrollments' deadlines, each with the meters
an open partner action still blocks.

The one figure that joins enrollments and actions, so it lives on the read side, above both
(enrollments may not import actions).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from actions.models import ActionOwner, RequiredAction
from enrollments.deadlines import Deadline, ProgramDeadlines, program_deadlines
from enrollments.models import ProgramEnrollment
from meters.counts import IN_LEAP, Figure, meters_url
from meters.models import Meter


def deadlines_page(now: datetime) -> list[ProgramDeadlines]:
    """Per program, the current and next periods' deadlines with their blocked meters."""
    programs = program_deadlines(now)
    count_blocked([d for item in programs for d in item.deadlines])
    return programs


def blocked_params(deadline: Deadline) -> dict[str, str]:
    """Meters list parameters: in the period, with an open partner action of the program due
    by the deadline."""
    return {
        **deadline.period.params,
        "action_program": deadline.period.program,
        "action_due_by": deadline.deadline.isoformat(),
    }


def blocking_actions(program: str, due_by: datetime) -> QuerySet[RequiredAction]:
    """Open partner actions of `program` due by `due_by` (the meters list's action filters)."""
    return RequiredAction.objects.open().filter(
        owner=ActionOwner.PARTNER,
        program_identifier__iexact=program,
        enrollment_deadline_date_time__lte=due_by,
    )


def count_blocked(deadlines: list[Deadline]) -> None:
    """One query: per deadline, meters in its period blocked by an open partner action.

    A meter is blocked for a deadline when it is listed in the deadline's period and has an
    open partner action of the program due by the deadline, i.e. when its earliest such
    action is due by then. So the database counts meters per (program, period, earliest
    due date), a few hundred rows whatever the number of meters, and each deadline sums
    the rows due by it. (Counting with two correlated subqueries per deadline and meter took
    29 s at 100,000 meters.)
    """
    if not deadlines:
        return
    counts: dict[tuple[str, str], list[tuple[datetime, int]]] = defaultdict(list)
    with connection.cursor() as cursor:
        cursor.execute(_BLOCKED_SQL, [ActionOwner.PARTNER.value])
        for program, period, first_due, meters in cursor.fetchall():
            counts[(program, period)].append((as_datetime(first_due), meters))
    for d in deadlines:
        rows = counts.get((d.period.program.upper(), d.period.name.upper()), ())
        blocked = sum(meters for first_due, meters in rows if first_due <= d.deadline)
        d.blocked = Figure("blocked", blocked, meters_url({**blocked_params(d), **IN_LEAP}))


def as_datetime(value: datetime | str) -> datetime:
    """A timestamp from a raw query: SQLite hands back UTC naive, as ISO text or a datetime."""
    parsed = value if isinstance(value, datetime) else parse_datetime(value)
    if parsed is None:
        raise ValueError(f"not a timestamp: {value!r}")
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, UTC)


# The meters list's filters behind `blocked_params` (program and period matched without regard
# to case, open partner actions of the program, meters still in Leap), grouped.
_BLOCKED_SQL = f"""
    SELECT program, period, first_due, COUNT(*)
    FROM (
        SELECT DISTINCT
            pe.meter_id,
            UPPER(pe.program_identifier) AS program,
            UPPER(pe.delivery_period) AS period,
            action.first_due
        FROM (
            SELECT meter_id, UPPER(program_identifier) AS program,
                   MIN(enrollment_deadline_date_time) AS first_due
            FROM {RequiredAction._meta.db_table}
            WHERE resolved_at IS NULL AND owner = %s
            GROUP BY meter_id, UPPER(program_identifier)
        ) action
        JOIN {ProgramEnrollment._meta.db_table} pe
            ON pe.meter_id = action.meter_id
            AND UPPER(pe.program_identifier) = action.program
            AND pe.listed
        JOIN {Meter._meta.db_table} meter
            ON meter.id = action.meter_id AND NOT meter.missing_from_leap
    ) blocked
    GROUP BY program, period, first_due
"""
