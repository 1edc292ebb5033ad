"""Shaping details_raw and the participation schedule for the meter page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from meters.details import detail_sections, timeline

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def test_detail_sections_follow_leap_blocks_and_drop_empty_fields():
    raw = {
        "meter_id": "x",
        "utility": {"utility_name": "PGE", "tariff": ""},
        "customer": {"end_customer_name": "Ann", "end_customer_email": None},
        "billing": {"account": ""},
        "site": {"load_zone": "Z", "site_devices": [{"device_type": "BATTERY", "model": ""}]},
        "new_region": {"flag": True},
        "meter_nickname": "kitchen",
    }
    sections = {s.title: s for s in detail_sections(raw)}
    assert list(sections) == ["Customer", "Site", "Utility", "New region", "Other fields"]
    assert sections["Customer"].fields == [("End customer name", "Ann")]
    assert sections["Utility"].fields == [("Utility name", "PGE")]
    devices = sections["Site"].tables[0]
    assert devices.columns == ["Device type"] and devices.rows == [["BATTERY"]]
    assert sections["New region"].fields == [("Flag", "Yes")]
    assert sections["Other fields"].fields == [("Meter nickname", "kitchen")]


def test_detail_sections_tolerate_missing_details():
    assert detail_sections(None) == []


def period(pref, start_days, end_days=None):
    return SimpleNamespace(
        participation_preference=pref,
        start_time=NOW + timedelta(days=start_days),
        end_time=NOW + timedelta(days=end_days) if end_days is not None else None,
        is_open_ended=end_days is None,
    )


def test_timeline_places_bars_and_runs_open_ended_periods_to_the_end():
    bars, now_at, start, end = timeline([period("PARTICIPATE", -30, 10), period("IDLE", 10)], NOW)
    assert start == NOW - timedelta(days=30)
    assert end == NOW + timedelta(days=90)
    first, second = bars
    assert first.left == 0 and 0 < first.width < 50
    assert second.open_ended and round(second.left + second.width) == 100
    assert 0 < now_at < 50


def test_timeline_empty_schedule():
    assert timeline([], NOW)[0] == []
