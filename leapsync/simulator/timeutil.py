"""Time helpers: UTC formatting, local-month arithmetic and cached delivery-period facts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

from .catalog import MONTHS, REGION_TZ

DEFAULT_START = datetime(2026, 11, 15, 18, 0, tzinfo=UTC)
_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)


def fmt_s(dt: datetime) -> str:
    """Second precision, as Leap writes period boundaries: 2026-11-01T07:00:00Z."""
    return dt.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def fmt_us(dt: datetime) -> str:
    """Microsecond precision, as Leap writes audit stamps: 2024-07-12T16:40:56.401422Z."""
    return dt.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_rfc3339(value: str) -> datetime | None:
    """Parse an RFC 3339 date-time (any fraction length); None when malformed."""
    match = _RFC3339.match(value)
    if not match:
        return None
    frac = (match.group(7) or ".0")[1:7].ljust(6, "0")
    zone = match.group(8)
    text = f"{value[:19]}.{frac}{'+00:00' if zone in 'Zz' else zone}"
    try:
        return datetime.fromisoformat(text.replace("t", "T", 1)).astimezone(UTC)
    except ValueError:
        return None


@lru_cache(maxsize=16)
def zone(name: str) -> ZoneInfo:
    """Cached ZoneInfo lookup."""
    return ZoneInfo(name)


def month_index(now: datetime, tz: str) -> int:
    """Months since year 0 of the local month containing `now` in zone `tz`."""
    local = now.astimezone(zone(tz))
    return local.year * 12 + local.month - 1


def local_midnight(tz: str, mi: int, day: int = 1) -> datetime:
    """UTC instant of local midnight on `day` of month index `mi` in zone `tz` (DST-aware)."""
    year, month0 = divmod(mi, 12)
    return datetime(year, month0 + 1, day, tzinfo=zone(tz)).astimezone(UTC)


def region_month(now: datetime, region: str) -> int:
    """Current local month index of a transmission region."""
    return month_index(now, REGION_TZ[region])


def next_month_start_everywhere(now: datetime) -> datetime:
    """The first instant at which every region has entered the month after Pacific's current one."""
    target = month_index(now, "America/Los_Angeles") + 1
    return max(local_midnight(tz, target) for tz in set(REGION_TZ.values()))


class Period(NamedTuple):
    """One monthly delivery period of a program, pre-formatted for rendering."""

    name: str
    start: str
    end: str
    deadlines: tuple[tuple[datetime, str, str], ...]  # (deadline, deadline str, activation str)
    end_dt: datetime


@lru_cache(maxsize=8192)
def period(prefix: str, tz: str, mi: int, mid_month: bool) -> Period:
    """Delivery period `mi` of a program: local-midnight bounds and its enrollment deadlines."""
    start = local_midnight(tz, mi)
    end = local_midnight(tz, mi + 1)
    year, month0 = divmod(mi, 12)
    first_deadline = (start.astimezone(zone(tz)) - timedelta(days=2)).replace(tzinfo=None)
    deadline = datetime(*first_deadline.timetuple()[:3], tzinfo=zone(tz)).astimezone(UTC)
    deadlines = [(deadline, fmt_s(deadline), fmt_s(start))]
    if mid_month:
        mid_deadline, mid_activation = local_midnight(tz, mi, 13), local_midnight(tz, mi, 15)
        deadlines.append((mid_deadline, fmt_s(mid_deadline), fmt_s(mid_activation)))
    name = f"{prefix}_{year}_{MONTHS[month0]}"
    return Period(name, fmt_s(start), fmt_s(end), tuple(deadlines), end)
