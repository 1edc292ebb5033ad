"""Test helpers shared across apps: a client on the in-process simulator, our clock at the
simulator's, query counting, and comparing the database to Leap's truth."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import msgspec
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from actions.models import RequiredAction
from enrollments.models import EnrollmentDeadline, ParticipationPeriod, ProgramEnrollment
from leapsync.leap.client import LeapClient
from leapsync.leap.payloads import parse_meter_details, parse_meter_enrollment, payload_hash
from leapsync.lib.search import search_column
from leapsync.models import RunStatus, SyncCursor, SyncMode, SyncRun
from leapsync.simulator import LeapSimulator
from leapsync.simulator.timeutil import DEFAULT_START
from leapsync.sync.locks import (
    ADVISORY_KEYS,
    ADVISORY_NAMESPACE,
    process_identity,
)
from meters.models import Meter

API_KEY = "test-key"


def simulator_client(
    simulator: LeapSimulator, *, api_key: str = API_KEY, page_size: int = 50, max_retries: int = 6
) -> LeapClient:
    """A LeapClient on the simulator's in-process transport (no sockets); retries never sleep."""
    return LeapClient(
        "http://leap.test",
        api_key,
        transport=simulator.transport(),
        page_size=page_size,
        max_retries=max_retries,
        sleep=lambda seconds: None,
    )


@contextmanager
def at_the_simulators_clock() -> Iterator[None]:
    """Our clock starts where the simulator's does, as Leap's and ours agree in production.

    Otherwise what counts as stale, current or upcoming (a deadline passed by our clock, the
    current delivery period) would depend on the day the tests run.
    """
    with time_machine.travel(DEFAULT_START, tick=True):
        yield


_HOLDER = """
import msgspec, sys, time
params = msgspec.json.decode(sys.argv[1])
if params:
    import psycopg
    lock = psycopg.connect(**params, autocommit=True)
    lock.execute("SELECT pg_advisory_lock(%s, %s)", msgspec.json.decode(sys.argv[2]))
print("holding", flush=True)
time.sleep(600)
"""


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


@contextmanager
def stream_held_elsewhere(stream: str) -> Iterator[subprocess.Popen]:
    """Another live process holds `stream`'s lock for a run of its own, until the block ends
    or the yielded process is killed (a holder that dies).

    On PostgreSQL that process holds the advisory lock on its own connection; elsewhere the
    cursor row names it as the holder.
    """
    params: dict[str, Any] = {}
    if connection.vendor == "postgresql":
        params = {
            key: value
            for key, value in connection.get_connection_params().items()
            if isinstance(value, str | int)
        }
    keys = [ADVISORY_NAMESPACE, ADVISORY_KEYS[stream]]
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, _json(params), _json(keys)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "holding"
    run = SyncRun.objects.create(stream=stream, mode=SyncMode.FULL, status=RunStatus.RUNNING)
    SyncCursor.objects.update_or_create(
        stream=stream,
        defaults={
            "locked_by": run,
            "holder": process_identity(holder.pid),
            "heartbeat_at": timezone.now(),
        },
    )
    try:
        yield holder
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()


def count_queries(func, *args: Any, **kwargs: Any) -> int:
    with CaptureQueriesContext(connection) as captured:
        func(*args, **kwargs)
    return len(captured.captured_queries)


def truth_by_meter(simulator) -> dict[str, dict[str, dict]]:
    """{meter_id: {"details": ..., "enrollment": ...}} whichever shape the simulator returns."""
    truth = simulator.truth()
    if set(truth) == {"details", "enrollments"}:
        merged: dict[str, dict[str, dict]] = defaultdict(dict)
        for meter_id, raw in truth["details"].items():
            merged[str(meter_id)]["details"] = raw
        for meter_id, raw in truth["enrollments"].items():
            merged[str(meter_id)]["enrollment"] = raw
        return dict(merged)
    return {str(meter_id): value for meter_id, value in truth.items()}


def database_differences(simulator) -> list[str]:
    """Every way the database differs from the simulator's truth (empty when converged)."""
    problems: list[str] = []
    truth = truth_by_meter(simulator)
    meters = {str(m.meter_id): m for m in Meter.objects.select_related("enrollment")}
    extra = [mid for mid, m in meters.items() if mid not in truth and not m.missing_from_leap]
    if extra:
        problems.append(f"{len(extra)} meters stored that Leap does not have, e.g. {extra[:3]}")
    programs = _by_meter(ProgramEnrollment.objects.filter(listed=True))
    deadlines = _deadlines_by_program()
    actions = _by_meter(RequiredAction.objects.open())
    participation = _by_meter(ParticipationPeriod.objects.all())
    for meter_id, payloads in truth.items():
        meter = meters.get(meter_id)
        if meter is None:
            problems.append(f"{meter_id}: not stored")
            continue
        problems += _meter_differences(meter, payloads)
        if "enrollment" in payloads:
            record = parse_meter_enrollment(payloads["enrollment"])
            problems += _children_differences(
                meter, record, programs, deadlines, actions, participation
            )
    return problems


def _by_meter(queryset) -> dict[int, list]:
    groups: dict[int, list] = defaultdict(list)
    for row in queryset:
        groups[row.meter_id].append(row)
    return groups


def _deadlines_by_program() -> dict[int, set]:
    groups: dict[int, set] = defaultdict(set)
    for row in EnrollmentDeadline.objects.all():
        groups[row.program_enrollment_id].add(
            (row.enrollment_deadline_date_time, row.activation_date_time)
        )
    return groups


def _meter_differences(meter: Meter, payloads: dict) -> list[str]:
    problems = []
    if meter.missing_from_leap:
        problems.append(f"{meter.meter_id}: flagged missing but Leap has it")
    if "details" in payloads:
        details = parse_meter_details(payloads["details"])
        if meter.details_hash != payload_hash(details.raw):
            problems.append(f"{meter.meter_id}: details differ")
        expected = {
            "partner_reference": details.partner_reference or "",
            "is_archived": details.is_archived,
            "meter_type": details.meter_type or "",
            "tags": list(details.tags),
            "end_customer_name": (details.customer and details.customer.end_customer_name) or "",
        }
        for name, value in expected.items():
            if getattr(meter, name) != value:
                problems.append(f"{meter.meter_id}: {name} {getattr(meter, name)!r} != {value!r}")
    for column, sources in Meter.SEARCH_COLUMNS.items():
        folded = search_column(getattr(meter, name) for name in sources)
        if getattr(meter, column) != folded:
            problems.append(f"{meter.meter_id}: {column} {getattr(meter, column)!r} != {folded!r}")
    if "enrollment" in payloads:
        enrollment = getattr(meter, "enrollment", None)
        if enrollment is None or enrollment.enrollment_hash != payload_hash(payloads["enrollment"]):
            problems.append(f"{meter.meter_id}: enrollment differs")
    return problems


def _children_differences(meter, record, programs, deadlines, actions, participation) -> list[str]:
    problems = []
    stored_programs = {
        (p.program_identifier, p.delivery_period_start_date_time): p for p in programs[meter.pk]
    }
    expected_programs = {
        (p.program_identifier or "", p.delivery_period_start_date_time): p
        for p in record.program_enrollment
    }
    if set(stored_programs) != set(expected_programs):
        problems.append(f"{meter.meter_id}: delivery periods differ")
    for key, period in expected_programs.items():
        row = stored_programs.get(key)
        if row is None:
            continue
        got = (
            row.delivery_period,
            row.delivery_period_end_date_time,
            row.enrollment_status,
            row.market_group_id,
            row.market_group_name,
        )
        want = (
            period.delivery_period or "",
            period.delivery_period_end_date_time,
            period.enrollment_status or "",
            period.market_group_id,
            period.market_group_name or "",
        )
        if got != want:
            problems.append(f"{meter.meter_id}: period {key} {got} != {want}")
        want_deadlines = {
            (d.enrollment_deadline_date_time, d.activation_date_time)
            for d in period.enrollment_deadlines
        }
        if deadlines[row.pk] != want_deadlines:
            problems.append(f"{meter.meter_id}: deadlines of {key} differ")
    stored_actions = {
        (a.owner, a.program_identifier, a.action_type, a.action_code): (
            a.delivery_period,
            a.enrollment_deadline_date_time,
            a.action_description,
        )
        for a in actions[meter.pk]
    }
    expected_actions = {
        (a.owner, a.program_identifier or "", a.action_type, a.action_code): (
            a.delivery_period or "",
            a.enrollment_deadline_date_time,
            a.action_description,
        )
        for a in record.required_actions
    }
    if stored_actions != expected_actions:
        problems.append(f"{meter.meter_id}: open actions differ")
    stored_schedule = sorted(
        (p.participation_preference, p.start_time, p.end_time, p.reason)
        for p in participation[meter.pk]
    )
    expected_schedule = sorted(
        (p.participation_preference, p.start_time, p.end_time, p.reason or "")
        for p in record.participation_preferences
    )
    if stored_schedule != expected_schedule:
        problems.append(f"{meter.meter_id}: participation differs")
    return problems


def count_get_queries(client, url: str, headers: dict[str, str] | None = None) -> int:
    """Queries one GET of `url` runs (the response must be a success)."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, headers=headers or {})
    assert response.status_code == 200, response.status_code
    return len(captured.captured_queries)


def count_figure_queries(*names: str) -> int:
    """Queries the figures task runs to recompute `names` (which must be out of date)."""
    from leapsync.dashboard import store

    with CaptureQueriesContext(connection) as captured:
        done = store.refresh(list(names))
    assert sorted(done) == sorted(names), done
    return len(captured.captured_queries)
