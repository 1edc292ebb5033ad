"""The meter page's participation timeline: overlapping and open-ended periods."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from meters.details import timeline

NOW = datetime(2026, 11, 15, 18, tzinfo=UTC)


def _period(pref: str, start_days: int, end_days: int | None) -> SimpleNamespace:
    end = (
        NOW + timedelta(days=end_days) if end_days is not None else datetime(9000, 1, 1, tzinfo=UTC)
    )
    return SimpleNamespace(
        participation_preference=pref,
        start_time=NOW + timedelta(days=start_days),
        end_time=end,
        is_open_ended=end_days is None,
    )


def test_timeline_marks_participate_overlapped_by_idle():
    bars, now_at, *_ = timeline([_period("IDLE", 10, 20), _period("PARTICIPATE", -100, None)], NOW)
    by_pref = {b.period.participation_preference: b for b in bars}
    assert by_pref["PARTICIPATE"].overridden and not by_pref["IDLE"].overridden
    assert by_pref["PARTICIPATE"].open_ended
    assert by_pref["PARTICIPATE"].left + by_pref["PARTICIPATE"].width == 100
    assert [b.period.participation_preference for b in bars] == ["PARTICIPATE", "IDLE"]
    assert 0 < now_at < 100


def test_timeline_period_ended_long_ago_stays_inside_the_track():
    bars, *_ = timeline([_period("IDLE", -800, -700), _period("PARTICIPATE", -10, None)], NOW)
    old = bars[0]
    assert old.left == 0 and 0 < old.width <= 1
    assert not bars[1].overridden
