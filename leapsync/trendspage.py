"""The Trends page's charts, drawn from the stored trends figures (no query here).

leapsync.dashboard.trends computes the figures in the figures task; this turns them into
chart geometry (leapsync.ui.charts), a sentence describing each chart (its aria description),
a legend whose entries link to the list behind them, and the numbers as a table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.urls import reverse
from django.utils import timezone

from leapsync.dashboard.trends import Bucket, DailyTrends, Run, Series, Timeline, Week
from leapsync.models import RunStatus
from leapsync.ui.charts import (
    BarChart,
    BarSpec,
    LineChart,
    TimelineChart,
    bar_chart,
    line_chart,
    timeline_chart,
)

RUN_COLOURS = {RunStatus.SUCCEEDED: 0, RunStatus.FAILED: 3, RunStatus.SKIPPED: 5}
RUNNING_COLOUR = 4


@dataclass(frozen=True)
class Entry:
    """A legend entry: its colour, label, value (today's, where a list shows it) and link."""

    label: str
    css: str
    value: int | None = None
    url: str = ""


@dataclass(frozen=True)
class Row:
    label: str
    cells: list
    url: str = ""


@dataclass
class Chart:
    id: str
    kind: str  # "line", "bars" or "timeline": the template that draws it
    title: str
    description: str
    chart: LineChart | BarChart | TimelineChart
    legend: list[Entry] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    # What the legend's values are ("today", "in 12 weeks"...).
    legend_title: str = ""


def daily_chart(chart_id: str, title: str, daily: DailyTrends, series: list[Series]) -> Chart:
    labels = [f"{day:%b %d}" for day in daily.days]
    chart = line_chart(labels, [(s.key, s.label, s.values, s.url) for s in series])
    if not daily.days:
        description = "No daily counts recorded yet."
    else:
        latest = ", ".join(f"{s.label} {s.today}" for s in series) or "nothing counted"
        span = f"{daily.days[0]:%Y-%m-%d} to {daily.days[-1]:%Y-%m-%d}"
        description = f"Daily counts from {span}. Today: {latest}."
    legend = [
        Entry(s.label, line.css, s.today, s.url)
        for s, line in zip(series, chart.lines, strict=True)
    ]
    rows = [
        Row(
            f"{day:%Y-%m-%d}" + (" (rebuilt)" if rebuilt else ""),
            [s.values[n] for s in series],
        )
        for n, (day, rebuilt) in enumerate(zip(daily.days, daily.rebuilt, strict=True))
    ]
    columns = ["Day", *(s.label for s in series)]
    return Chart(chart_id, "line", title, description, chart, legend, columns, rows[::-1], "Today")


def weekly_actions_chart(weeks: list[Week]) -> Chart:
    groups = [
        (
            f"{week.start:%b %d}",
            [
                BarSpec(week.opened, 0, "", f"Week of {week.start:%Y-%m-%d}: {week.opened} opened"),
                BarSpec(
                    week.resolved, 2, "", f"Week of {week.start:%Y-%m-%d}: {week.resolved} resolved"
                ),
            ],
        )
        for week in weeks
    ]
    opened, resolved = sum(w.opened for w in weeks), sum(w.resolved for w in weeks)
    description = (
        f"Partner actions per week over the last {len(weeks)} weeks: {opened} opened, "
        f"{resolved} resolved."
    )
    return Chart(
        "actions-weekly",
        "bars",
        "Partner actions opened and resolved per week",
        description,
        bar_chart(groups),
        [Entry("Opened", "series-0", opened), Entry("Resolved", "series-2", resolved)],
        ["Week of", "Opened", "Resolved"],
        [Row(f"{w.start:%Y-%m-%d}", [w.opened, w.resolved]) for w in reversed(weeks)],
        f"In {len(weeks)} weeks",
    )


def action_ages_chart(buckets: list[Bucket]) -> Chart:
    groups = [
        (b.label, [BarSpec(b.value, 1, b.url, f"{b.label}: {b.value} open actions")])
        for b in buckets
    ]
    description = "Open partner actions by age: " + ", ".join(
        f"{b.label} {b.value}" for b in buckets
    )
    return Chart(
        "actions-ages",
        "bars",
        "Open partner actions by age (first seen)",
        description,
        bar_chart(groups),
        [Entry(b.label, "series-1", b.value, b.url) for b in buckets],
        ["First seen", "Open actions"],
        [Row(b.label, [b.value], b.url) for b in buckets],
        "Open now",
    )


def _run_title(run: Run, what: str) -> str:
    return f"Run #{run.pk} ({run.stream} {run.mode}, {run.status}): {what}"


def _run_colour(run: Run) -> int:
    return RUN_COLOURS.get(run.status, RUNNING_COLOUR)


def run_charts(runs: list[Run]) -> list[Chart]:
    def spec(run: Run, value: float | None, what: str) -> BarSpec:
        url = reverse("sync_run_detail", args=[run.pk])
        return BarSpec(value or 0, _run_colour(run), url, _run_title(run, what))

    durations = bar_chart(
        [(f"#{r.pk}", [spec(r, r.seconds, f"{r.seconds or 0:.1f} s")]) for r in runs], ticks=5
    )
    rates = bar_chart(
        [(f"#{r.pk}", [spec(r, r.rate, f"{r.rate or 0:.0f} meters/s")]) for r in runs], ticks=5
    )
    failed = sum(r.status == RunStatus.FAILED for r in runs)
    warned = sum(r.warnings > 0 for r in runs)
    summary = (
        f"The last {len(runs)} sync runs: {failed} failed, {warned} with warnings."
        if runs
        else "No sync run yet."
    )
    sync_list = reverse("sync_run_list")
    legend = [
        Entry(label, f"series-{RUN_COLOURS.get(status, RUNNING_COLOUR)}", count, sync_list)
        for status, label in RunStatus.choices
        if (count := sum(r.status == status for r in runs))
    ]
    rows = [
        Row(
            f"#{r.pk}",
            [
                f"{timezone.localtime(r.started_at):%Y-%m-%d %H:%M}",
                f"{r.stream} {r.mode}",
                r.status,
                "" if r.seconds is None else f"{r.seconds:.1f}",
                r.meters,
                "" if r.rate is None else f"{r.rate:.0f}",
                r.warnings,
                r.quarantined,
            ],
            reverse("sync_run_detail", args=[r.pk]),
        )
        for r in reversed(runs)
    ]
    columns = [
        "Run",
        "Started",
        "Stream, mode",
        "Status",
        "Seconds",
        "Meters",
        "Meters/s",
        "Warnings",
        "Quarantined",
    ]
    return [
        Chart(
            "runs-duration",
            "bars",
            "Duration per run (seconds)",
            summary,
            durations,
            legend,
            columns,
            rows,
            "Runs",
        ),
        Chart(
            "runs-rate",
            "bars",
            "Meters per second per run",
            summary,
            rates,
            legend,
            legend_title="Runs",
        ),
    ]


def deadlines_chart(timeline: Timeline, now: datetime) -> Chart:
    def local(at: datetime) -> str:
        return f"{timezone.localtime(at):%Y-%m-%d %H:%M}"

    def until(at: datetime | None) -> str:
        return local(at) if at else "open-ended"

    lanes = []
    rows = []
    for program in timeline.programs:
        spans = []
        for p in program.periods:
            title = f"{p.name}: {local(p.start)} to {until(p.end)}, {p.meters} meters"
            spans.append((p.start, p.end, title, p.url))
            rows.append(
                Row(
                    program.program,
                    [p.name, "delivery period", local(p.start), until(p.end), p.meters],
                    p.url,
                )
            )
        marks = []
        for d in program.deadlines:
            title = f"{d.period}: enrollment deadline {local(d.deadline)}, {d.meters} meters"
            marks.append((d.deadline, "mark-deadline", title, d.url))
            activation = d.activation
            if activation and timeline.start <= activation < timeline.end:
                title = f"{d.period}: activation {local(activation)}"
                marks.append((activation, "mark-activation", title, d.url))
            rows.append(
                Row(
                    program.program,
                    [
                        d.period,
                        "enrollment deadline",
                        local(d.deadline),
                        f"activation {local(activation)}" if activation else "",
                        d.meters,
                    ],
                    d.url,
                )
            )
        lanes.append((program.program, spans, marks))
    chart = timeline_chart(timeline.start, timeline.end, now, lanes)
    deadlines = sum(len(p.deadlines) for p in timeline.programs)
    description = (
        f"Delivery periods and enrollment deadlines of {len(timeline.programs)} programs from "
        f"{timeline.start:%Y-%m-%d} to {timeline.end:%Y-%m-%d}: {deadlines} deadlines."
    )
    legend = [
        Entry("Delivery period", "span-period"),
        Entry("Enrollment deadline", "mark-deadline"),
        Entry("Activation", "mark-activation"),
        Entry("Today", "mark-now"),
    ]
    columns = ["Program", "Delivery period", "What", "From / at", "Until / activation", "Meters"]
    return Chart(
        "deadlines-timeline",
        "timeline",
        "Delivery periods and deadlines",
        description,
        chart,
        legend,
        columns,
        rows,
    )


def page_charts(figures: dict, program: str | None, now: datetime) -> dict[str, Chart]:
    """Every chart of the page, by name; the per-program one for `program`."""
    daily: DailyTrends = figures["daily"]
    charts = {
        "status": daily_chart("status", "Meters by global status", daily, daily.global_status),
        "mapping": daily_chart("mapping", "Site mapping", daily, daily.mapping),
        "weekly": weekly_actions_chart(figures["weekly_actions"]),
        "ages": action_ages_chart(figures["action_ages"]),
        "deadlines": deadlines_chart(figures["timeline"], now),
    }
    if program is not None:
        charts["program"] = daily_chart(
            "program", f"Meters by status in {program}", daily, daily.programs[program]
        )
    charts["duration"], charts["rate"] = run_charts(figures["runs"])
    return charts
