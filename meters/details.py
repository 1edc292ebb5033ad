"""Shape Leap's raw meter details and participation schedule for the meter page (no HTML here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

# Sections in reading order; any other block Leap sends (a new region, say) follows them.
SECTION_TITLES = {
    "customer": "Customer",
    "billing": "Billing",
    "site": "Site",
    "device": "Device",
    "utility": "Utility",
    "caiso": "CAISO",
    "ercot": "ERCOT",
    "isone": "ISO-NE",
    "nyiso": "NYISO",
    "pjm": "PJM",
}
# Shown at the top of the page already, or bookkeeping.
TOP_LEVEL_SHOWN = {
    "meter_id",
    "partner_reference",
    "transmission_region",
    "customer_classification",
    "load_types",
    "meter_type",
    "connection_references",
    "customer_group",
    "tags",
    "is_archived",
    "audit",
}


@dataclass
class SubTable:
    title: str
    columns: list[str]
    rows: list[list[str]]


@dataclass
class Section:
    title: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    tables: list[SubTable] = field(default_factory=list)


def detail_sections(raw: dict[str, Any] | None) -> list[Section]:
    """One section per block of `details_raw`, leaving out empty fields and empty sections."""
    if not isinstance(raw, dict):
        return []
    keys = [k for k in SECTION_TITLES if k in raw]
    keys += sorted(k for k, v in raw.items() if k not in SECTION_TITLES and isinstance(v, dict))
    sections = []
    for key in keys:
        if key in TOP_LEVEL_SHOWN or not isinstance(raw[key], dict):
            continue
        section = _section(SECTION_TITLES.get(key, label(key)), raw[key])
        if section.fields or section.tables:
            sections.append(section)
    extra = [
        (label(k), text(v))
        for k, v in raw.items()
        if k not in TOP_LEVEL_SHOWN and not isinstance(v, dict) and not is_empty(v)
    ]
    if extra:
        sections.append(Section("Other fields", fields=extra))
    return sections


def _section(title: str, block: dict[str, Any]) -> Section:
    section = Section(title)
    for key, value in block.items():
        if is_empty(value):
            continue
        if isinstance(value, list) and any(isinstance(item, dict) for item in value):
            section.tables.append(_sub_table(label(key), value))
        elif isinstance(value, dict):
            section.fields += [
                (f"{label(key)}: {label(k)}", text(v)) for k, v in value.items() if not is_empty(v)
            ]
        else:
            section.fields.append((label(key), text(value)))
    return section


def _sub_table(title: str, items: list) -> SubTable:
    dicts = [item for item in items if isinstance(item, dict)]
    columns: list[str] = []
    for item in dicts:
        columns += [k for k, v in item.items() if k not in columns and not is_empty(v)]
    rows = [
        [text(item.get(c)) if not is_empty(item.get(c)) else "" for c in columns] for item in dicts
    ]
    return SubTable(title, [label(c) for c in columns], rows)


def label(key: str) -> str:
    return key.replace("_", " ").strip().capitalize()


def text(value: Any) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        return ", ".join(text(v) for v in value if not is_empty(v))
    if isinstance(value, dict):
        return "; ".join(f"{label(k)}: {text(v)}" for k, v in value.items() if not is_empty(v))
    return str(value)


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


@dataclass
class Bar:
    period: Any
    left: float
    width: float
    open_ended: bool
    overridden: bool = False  # a PARTICIPATE period an IDLE or DISENROLL one overlaps (and wins)


def timeline(periods: list, now: datetime) -> tuple[list[Bar], float | None, datetime, datetime]:
    """Bars (percent offsets) for a participation schedule, plus where "now" falls.

    The window runs from the earliest start (at most a year back) to the latest finite end
    (at least 90 days ahead); open-ended periods run to the window's end.
    """
    if not periods:
        return [], None, now, now
    start = max(min(p.start_time for p in periods), now - timedelta(days=365))
    finite = [p.end_time for p in periods if p.end_time and not p.is_open_ended]
    end = max(
        [now + timedelta(days=90), *finite, *(p.start_time + timedelta(days=30) for p in periods)]
    )
    span = (end - start).total_seconds()
    bars = []
    for p in sorted(periods, key=lambda p: (p.start_time, p.participation_preference)):
        bar_end = end if p.is_open_ended or p.end_time is None else min(p.end_time, end)
        bar_start = max(p.start_time, start)
        bar_end = max(bar_end, bar_start)  # ended before the window: a sliver at its start
        left = (bar_start - start).total_seconds() / span * 100
        width = max((bar_end - bar_start).total_seconds() / span * 100, 0.8)
        bar = Bar(p, round(left, 2), round(min(width, 100 - left), 2), p.is_open_ended)
        bar.overridden = _overridden(p, periods)
        bars.append(bar)
    now_at = (now - start).total_seconds() / span * 100
    return bars, round(now_at, 2) if 0 <= now_at <= 100 else None, start, end


def _overridden(period: Any, periods: list) -> bool:
    """Leap: IDLE and DISENROLL periods win where they overlap a PARTICIPATE period."""
    if period.participation_preference != "PARTICIPATE":
        return False
    end = None if period.is_open_ended else period.end_time
    return any(
        other.participation_preference in ("IDLE", "DISENROLL")
        and (end is None or other.start_time < end)
        and (other.is_open_ended or other.end_time is None or other.end_time > period.start_time)
        for other in periods
    )
