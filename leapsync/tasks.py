"""django-q2 task entry points (called by dotted path) and the schedules that run them."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.template.defaultfilters import pluralize
from django_q.models import Schedule

from leapsync import alerts, sync
from leapsync.leap.client import LeapClient
from leapsync.models import RangeStatus, RunStatus, SyncRun
from leapsync.sync import ranges
from leapsync.webhooks.services import run_refresh

logger = logging.getLogger("leapsync.tasks")


class SyncFailed(RuntimeError):
    """A scheduled run failed; raised so django-q2 records the task as failed."""


class SyncSkipped(RuntimeError):
    """A stream was busy with another run, so this task synced nothing for it: raised so the
    task log never shows a run that did nothing as a success."""


def run_incremental(trigger: str = "schedule") -> str:
    _close_abandoned_split_runs()
    return _outcome(sync.sync_incremental(trigger=trigger))


def run_full(trigger: str = "schedule") -> str:
    """The full sync; in SYNC_FULL_RANGES ranges (each its own task) when more than one."""
    _close_abandoned_split_runs()
    if settings.SYNC_FULL_RANGES > 1:
        return _outcome(ranges.split_full(settings.SYNC_FULL_RANGES, trigger=trigger))
    return _outcome(sync.sync_full(trigger=trigger))


def run_full_range(range_pk: int) -> str:
    """One range of a split full sync; the one that ends the last range closes the run."""
    part = ranges.run_range(range_pk)
    run = SyncRun.objects.get(pk=part.run_id)
    if run.status != RunStatus.RUNNING:
        _check_alerts_after_runs()
    line = f"{part}: {part.pages} pages, {part.meters_seen} meters seen"
    if part.error:
        line = f"{line}; {part.error}"
    if run.status != RunStatus.RUNNING:
        line = f"{line}; the run closed: {describe(run)}"
    if part.status == RangeStatus.FAILED:
        raise SyncFailed(line)
    return line


def run_stale() -> str:
    _close_abandoned_split_runs()
    return _outcome(sync.sync_stale(trigger="schedule"))


def refresh_meters(meter_ids: Iterable[str], trigger: str = "task") -> str:
    return _outcome(sync.sync_refresh(meter_ids, trigger=trigger))


def push_partner_reference(change_pk: int) -> str:
    """Send one recorded partner_reference change to Leap (meters.pushes records the answer)."""
    from meters.pushes import push_change

    with LeapClient.from_settings() as client:
        return push_change(change_pk, client=client)


def remove_stale_site_uploads() -> str:
    """Delete CSV files (site lists, partner_reference lists) uploaded for import but never
    confirmed nor discarded within a day."""
    from meters.uploads import remove_stale_uploads

    removed = remove_stale_uploads()
    return f"{removed} unconfirmed upload{pluralize(removed)} removed"


def score_match_candidates() -> str:
    """Store the best candidate site of every meter waiting for a mapping (meters.candidates)."""
    from meters.candidates import score_all

    scored = score_all()
    return f"{scored} meter{pluralize(scored)} scored"


def score_new_match_candidates() -> str:
    """Score the waiting meters new or changed since they were last scored (after a sync)."""
    from meters.candidates import score_stale

    scored = score_stale()
    return f"{scored} meter{pluralize(scored)} scored"


def send_digests() -> str:
    """Send the managers' digests due today; each period at most once, failures retried."""
    from leapsync.dashboard.digest import send_due_digests

    outcomes = send_due_digests()
    return "; ".join(f"{o.username} {o.period} {o.status}" for o in outcomes) or "none due"


def digest_cron() -> str:
    """Daily at DIGEST_SEND_TIME; django-q2 reads cron in TIME_ZONE, so it is local time."""
    hour, minute = settings.DIGEST_SEND_TIME.split(":")
    return f"{int(minute)} {int(hour)} * * *"


def check_sync_alerts() -> str:
    """One alert when the sync turns unhealthy, one email when it recovers (leapsync.alerts).

    A split run whose last worker died is closed first, so its failure is what the check sees.
    """
    _close_abandoned_split_runs()
    return alerts.check()


def _close_abandoned_split_runs() -> None:
    """`ranges.close_abandoned`, logged; a failure here never stops the task's own work."""
    try:
        for run in ranges.close_abandoned():
            logger.warning(
                "closed split run %s left open by a dead worker: %s", run.pk, describe(run)
            )
    except Exception:
        logger.exception("closing split runs left open by a dead worker failed")


def _outcome(runs: list[SyncRun]) -> str:
    _check_alerts_after_runs()
    summary = "; ".join(describe(run) for run in runs)
    if any(run.status == RunStatus.FAILED for run in runs):
        raise SyncFailed(summary)
    if any(run.status == RunStatus.SKIPPED for run in runs):
        raise SyncSkipped(summary)
    return summary


def _check_alerts_after_runs() -> None:
    """Right after a sync task's runs, rather than at the next scheduled check; a failure here
    is logged and never changes the task's own outcome."""
    try:
        alerts.check()
    except Exception:
        logger.exception("sync alerts: the check after the runs failed")


def describe(run: SyncRun) -> str:
    """One line for logs and task results."""
    line = (
        f"{run.get_mode_display()} {run.stream} run #{run.pk} {run.status}: "
        f"{run.pages} page{pluralize(run.pages)}, {run.meters_seen} meter"
        f"{pluralize(run.meters_seen)} seen, {run.created} created, {run.updated} updated, "
        f"{run.unchanged} unchanged, {run.quarantined} quarantined, {run.missing} missing, "
        f"{run.events} event{pluralize(run.events)}, {run.warnings_count} warning"
        f"{pluralize(run.warnings_count)}"
    )
    return f"{line}; {run.error}" if run.error else line


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    func: str
    schedule_type: str
    minutes: int | None = None
    cron: str | None = None


def schedule_specs() -> list[ScheduleSpec]:
    """The schedules leapsync needs; the environment sets their initial timing."""
    return [
        ScheduleSpec(
            name="leapsync: incremental sync",
            func="leapsync.tasks.run_incremental",
            schedule_type=Schedule.MINUTES,
            minutes=settings.SYNC_INCREMENTAL_MINUTES,
        ),
        ScheduleSpec(
            name="leapsync: full sync",
            func="leapsync.tasks.run_full",
            schedule_type=Schedule.CRON,
            cron=settings.SYNC_FULL_CRON,
        ),
        ScheduleSpec(
            name="leapsync: stale refresh",
            func="leapsync.tasks.run_stale",
            schedule_type=Schedule.CRON,
            cron=settings.SYNC_STALE_CRON,
        ),
        ScheduleSpec(
            # Also checked after every sync task; this catches data going stale with no run.
            name="leapsync: sync alerts",
            func="leapsync.tasks.check_sync_alerts",
            schedule_type=Schedule.MINUTES,
            minutes=10,
        ),
        ScheduleSpec(
            name="enrollments: managers' deadline digests",
            func="leapsync.tasks.send_digests",
            schedule_type=Schedule.CRON,
            cron=digest_cron(),
        ),
        ScheduleSpec(
            name="actions: follow-up (missed deadlines, deadline alerts)",
            func="actions.tasks.follow_up",
            schedule_type=Schedule.MINUTES,
            minutes=30,
        ),
        ScheduleSpec(
            # Hourly, so an unconfirmed upload (up to 200 MB) outlives its day by an hour at most.
            name="meters: remove unconfirmed site imports",
            func="leapsync.tasks.remove_stale_site_uploads",
            schedule_type=Schedule.MINUTES,
            minutes=60,
        ),
        ScheduleSpec(
            # Sync runs and site imports queue their own scoring; nightly, every waiting meter
            # is scored again, for sites edited by hand in between.
            name="meters: match candidates",
            func="leapsync.tasks.score_match_candidates",
            schedule_type=Schedule.CRON,
            cron="30 3 * * *",
        ),
        ScheduleSpec(
            # Every minute: it recomputes only what a finished run, an edit or the clock made
            # out of date (leapsync.dashboard.store), so figures follow a sync within a minute.
            name="dashboard: figures",
            func="leapsync.dashboard.tasks.refresh_figures",
            schedule_type=Schedule.MINUTES,
            minutes=1,
        ),
        ScheduleSpec(
            # Just after local midnight (django-q2 reads cron in TIME_ZONE): the day that
            # ended gets its final counts; the figures refresh keeps today's current.
            name="dashboard: daily counts",
            func="leapsync.dashboard.tasks.record_daily_counts",
            schedule_type=Schedule.CRON,
            cron="5 0 * * *",
        ),
    ]


def ensure_schedules() -> list[tuple[Schedule, bool]]:
    """Upsert the schedules by name. Timing is set only on creation, so admin edits persist.

    Schedule names are not unique in django-q2, so this never calls `schedule()` (which
    raises on a duplicate) and is safe to run on every deploy.
    """
    results = []
    for spec in schedule_specs():
        schedule, created = Schedule.objects.update_or_create(
            name=spec.name,
            defaults={"func": spec.func},
            create_defaults={
                "func": spec.func,
                "schedule_type": spec.schedule_type,
                "minutes": spec.minutes,
                "cron": spec.cron,
                "repeats": -1,
            },
        )
        results.append((schedule, created))
    return results


def run_webhook_refresh(refresh_id: int) -> str:
    """Drain the webhook events queued for one coalesced refresh (see leapsync.webhooks)."""
    refresh = run_refresh(refresh_id)
    if refresh is None:
        return ""
    events, meters = refresh.event_count, refresh.meter_count
    return f"{refresh}: {events} event{pluralize(events)}, {meters} meter{pluralize(meters)}"
