"""Chart geometry for server-rendered SVG: numbers in, coordinates out.

No markup here: templates (`templates/ui/charts/`) draw the shapes, so every label a chart
shows is escaped by the template engine like any other value. No script, no inline style
(the Content-Security-Policy allows neither): colours come from CSS classes (`series-N`).
Charts take a fixed viewBox and scale to their container's width.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

WIDTH = 640
HEIGHT = 220
LEFT, RIGHT, TOP, BOTTOM = 58, 24, 12, 30
PALETTE = 8


@dataclass(frozen=True)
class Tick:
    pos: float
    label: str


@dataclass
class Frame:
    """The drawing area inside the axes, and the axes' ticks."""

    width: int = WIDTH
    height: int = HEIGHT
    left: float = LEFT
    right: float = WIDTH - RIGHT
    top: float = TOP
    bottom: float = HEIGHT - BOTTOM
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)

    @property
    def view_box(self) -> str:
        return f"0 0 {self.width} {self.height}"

    @property
    def y_label_x(self) -> float:
        return self.left - 6

    @property
    def x_label_y(self) -> float:
        return self.bottom + 18

    @property
    def mid_x(self) -> float:
        return round((self.left + self.right) / 2, 1)

    @property
    def mid_y(self) -> float:
        return round((self.top + self.bottom) / 2, 1)


def nice_scale(value: float, most: int = 4) -> tuple[float, int]:
    """(step, ticks): a round step (1, 2 or 5 times a power of ten; at least 1) and how many
    steps (at most `most`) reach `value`, for an axis from zero."""
    if value <= 1:
        return 1, 1
    rough = value / most
    power = 10 ** math.floor(math.log10(rough))
    step = next(s * power for s in (1, 2, 5, 10) if s * power >= rough)
    return max(step, 1), math.ceil(value / max(step, 1))


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def _y_axis(frame: Frame, values: Sequence[float]) -> float:
    """Set the frame's y ticks for `values`; returns the value at the top of the axis."""
    step, count = nice_scale(max(values, default=0))
    top_value = step * count
    frame.y_ticks = [
        Tick(_y(frame, step * n, top_value), _number(step * n)) for n in range(count + 1)
    ]
    return top_value


def _y(frame: Frame, value: float, top_value: float) -> float:
    return round(frame.bottom - (frame.bottom - frame.top) * value / top_value, 1)


def _spaced(count: int, most: int) -> list[int]:
    """At most `most` indexes spread over range(count), the first and the last included."""
    if count <= most:
        return list(range(count))
    step = (count - 1) / (most - 1)
    return sorted({round(n * step) for n in range(most)})


# --- lines ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    value: int | float
    label: str


@dataclass
class Line:
    key: str
    label: str
    url: str
    css: str
    points: list[Point]

    @property
    def path(self) -> str:
        return " ".join(f"{'M' if n == 0 else 'L'}{p.x},{p.y}" for n, p in enumerate(self.points))

    @property
    def last(self) -> Point | None:
        return self.points[-1] if self.points else None


@dataclass
class LineChart:
    frame: Frame
    lines: list[Line]
    labels: list[str]

    @property
    def empty(self) -> bool:
        return not self.labels


def line_chart(
    labels: Sequence[str], series: Sequence[tuple[str, str, Sequence[int | float], str]]
) -> LineChart:
    """One line per (key, label, values, url) over the x `labels` (one value per label).

    One label puts its points mid-chart; none draws the axes alone.
    """
    frame = Frame()
    top_value = _y_axis(frame, [v for _, _, values, _ in series for v in values])
    span = frame.right - frame.left

    def x(n: int) -> float:
        if len(labels) == 1:
            return round(frame.left + span / 2, 1)
        return round(frame.left + span * n / (len(labels) - 1), 1)

    frame.x_ticks = [Tick(x(n), labels[n]) for n in _spaced(len(labels), 5)]
    lines = [
        Line(
            key,
            label,
            url,
            f"series-{n % PALETTE}",
            [Point(x(i), _y(frame, v, top_value), v, labels[i]) for i, v in enumerate(values)],
        )
        for n, (key, label, values, url) in enumerate(series)
    ]
    return LineChart(frame, lines, list(labels))


# --- bars -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BarSpec:
    """One bar to draw: its value, its series' index (colour), its link and its title."""

    value: int | float
    series: int = 0
    url: str = ""
    title: str = ""


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: int | float
    css: str
    url: str
    title: str


@dataclass
class BarChart:
    frame: Frame
    bars: list[Bar]

    @property
    def empty(self) -> bool:
        return not self.bars


def bar_chart(groups: Sequence[tuple[str, Sequence[BarSpec]]], *, ticks: int = 6) -> BarChart:
    """Bars side by side in groups (one group per x label), from a zero baseline."""
    frame = Frame()
    top_value = _y_axis(frame, [b.value for _, bars in groups for b in bars])
    slot = (frame.right - frame.left) / max(len(groups), 1)
    gap = min(slot * 0.2, 12)
    bars = []
    for n, (_, specs) in enumerate(groups):
        width = (slot - gap) / max(len(specs), 1)
        for i, spec in enumerate(specs):
            y = _y(frame, spec.value, top_value)
            bars.append(
                Bar(
                    round(frame.left + n * slot + gap / 2 + i * width, 1),
                    y,
                    round(max(width, 1), 1),
                    round(frame.bottom - y, 1),
                    spec.value,
                    f"series-{spec.series % PALETTE}",
                    spec.url,
                    spec.title,
                )
            )
    frame.x_ticks = [
        Tick(round(frame.left + (n + 0.5) * slot, 1), groups[n][0])
        for n in _spaced(len(groups), ticks)
    ]
    return BarChart(frame, bars)


# --- timeline ---------------------------------------------------------------------------------

LANE = 34
# Wider than the other charts: it takes a panel's whole width.
TIMELINE_WIDTH = 960


@dataclass(frozen=True)
class Span:
    x: float
    width: float
    title: str
    url: str


@dataclass(frozen=True)
class Mark:
    x: float
    css: str
    title: str
    url: str

    @property
    def left(self) -> float:
        return round(self.x - 2, 1)


@dataclass
class Lane:
    label: str
    y: float
    spans: list[Span]
    marks: list[Mark]

    # `y` is the lane's top: its label, then its bar with the marks across it.
    @property
    def label_y(self) -> float:
        return self.y + 11

    @property
    def bar_y(self) -> float:
        return self.y + 16

    @property
    def mark_y(self) -> float:
        return self.y + 21

    @property
    def mark_top(self) -> float:
        return self.y + 12


@dataclass
class TimelineChart:
    frame: Frame
    lanes: list[Lane]
    now_x: float

    @property
    def empty(self) -> bool:
        return not self.lanes


def timeline_chart(
    start: datetime,
    end: datetime,
    now: datetime,
    lanes: Sequence[
        tuple[
            str,
            Sequence[tuple[datetime, datetime | None, str, str]],
            Sequence[tuple[datetime, str, str, str]],
        ]
    ],
) -> TimelineChart:
    """One lane per (label, spans, marks) between `start` and `end`: spans are (from, to or
    None for open-ended, title, url), marks (at, css class, title, url)."""
    frame = Frame(width=TIMELINE_WIDTH, left=12, right=TIMELINE_WIDTH - 12)
    frame.height = int(frame.top + LANE * max(len(lanes), 1) + BOTTOM)
    frame.bottom = frame.height - BOTTOM
    total = (end - start).total_seconds()
    width = frame.right - frame.left

    def x(at: datetime) -> float:
        seconds = min(max((at - start).total_seconds(), 0), total)
        return round(frame.left + width * seconds / total, 1)

    result = []
    for n, (label, spans, marks) in enumerate(lanes):
        result.append(
            Lane(
                label,
                frame.top + LANE * n,
                [
                    # 2 units short: back-to-back periods show where one ends
                    Span(x(a), max(round(x(b or end) - x(a) - 2, 1), 2), title, url)
                    for a, b, title, url in spans
                ],
                [Mark(x(at), css, title, url) for at, css, title, url in marks],
            )
        )
    months = []
    month = datetime(start.year, start.month, 1, tzinfo=start.tzinfo)
    while month < end:
        if month >= start:
            months.append(Tick(x(month), f"{month:%b %Y}"))
        month = datetime(
            month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=start.tzinfo
        )
    frame.x_ticks = months
    return TimelineChart(frame, result, x(now))
