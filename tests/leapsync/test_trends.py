"""The Trends page: daily counts recorded and rebuilt from history, the charts drawn from them,
each linked to the list whose count it shows."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from html import unescape
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from enrollments.models import ProgramEnrollment
from leapsync.dashboard import history, store
from leapsync.dashboard.models import DailyCount
from leapsync.dashboard.tasks import record_daily_counts
from leapsync.dashboard.trends import DailyTrends
from leapsync.models import RunStatus, SyncRun
from leapsync.trendspage import daily_chart
from leapsync.ui.charts import bar_chart, line_chart
from meters.models import EventKind
from tests.helpers import count_get_queries
from tests.meters.factories import (
    MeterEventFactory,
    MeterFactory,
    ProgramEnrollmentFactory,
    RequiredActionFactory,
    SiteFactory,
)

pytestmark = pytest.mark.django_db
LOCAL = ZoneInfo("America/Los_Angeles")
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=LOCAL)


@pytest.fixture
def at_noon():
    with time_machine.travel(NOW, tick=False):
        yield


def at(days_ago: int, hour: int = 12) -> datetime:
    """Local `hour` o'clock `days_ago` days before NOW's day."""
    return timezone.make_aware(datetime.combine(NOW.date() - timedelta(days=days_ago), time(hour)))


def event(meter, kind: str, days_ago: int, **fields) -> None:
    MeterEventFactory(
        meter=meter, kind=kind, observed_at=at(days_ago, fields.pop("hour", 12)), **fields
    )


@pytest.fixture
def scripted(at_noon):
    """Four meters over four days (see each line); returns them by name."""
    site = SiteFactory()
    a = MeterFactory(status="ACTIVE", partner_reference="R1")
    b = MeterFactory(status="PENDING", partner_reference="R1", site=site)
    c = MeterFactory(status="ACTIVE", partner_reference="RC", missing_from_leap=True)
    d = MeterFactory(status="INELIGIBLE", partner_reference="RD")
    for meter in (a, c, d):
        event(meter, EventKind.FIRST_SEEN, 3)
    event(b, EventKind.FIRST_SEEN, 2)
    # a: ELIGIBLE until yesterday; its program period PENDING until yesterday
    event(a, EventKind.GLOBAL_STATUS, 1, old="ELIGIBLE", new="ACTIVE")
    ProgramEnrollmentFactory(
        meter=a, program_identifier="P1", delivery_period="X", enrollment_status="ACTIVE"
    )
    event(
        a,
        EventKind.PROGRAM_STATUS,
        1,
        old="PENDING",
        new="ACTIVE",
        program_identifier="P1",
        delivery_period="X",
    )
    # b: mapped yesterday; its reference R2 until yesterday, then R1 (shared with a)
    event(b, EventKind.SITE_MAPPED, 1, old="", new=site.external_id)
    event(b, EventKind.PARTNER_REFERENCE, 1, old="R2", new="R1", hour=13)
    # c: missing from Leap since yesterday
    event(c, EventKind.MISSING, 1, old="", new="")
    # d: ACTIVE until this morning
    event(d, EventKind.GLOBAL_STATUS, 0, old="ACTIVE", new="INELIGIBLE", hour=9)
    return {"a": a, "b": b, "c": c, "d": d}


def day_counts(days_ago: int) -> dict[tuple[str, str], int]:
    day = NOW.date() - timedelta(days=days_ago)
    rows = DailyCount.objects.filter(day=day).values_list("series", "key", "count")
    return {(series, key): n for series, key, n in rows if n}


def test_backfill_counts_each_day_as_history_implies(scripted):
    written = history.fill(timezone.now())
    assert written == [NOW.date() - timedelta(days=n) for n in (3, 2, 1, 0)]
    g, m, p = history.GLOBAL, history.MAPPING, "program:P1"
    assert day_counts(3) == {
        ("inventory", "in_leap"): 3,
        (g, "ELIGIBLE"): 1,
        (g, "ACTIVE"): 2,
        (m, "unmapped"): 3,
        (p, "PENDING"): 1,
    }
    assert day_counts(2) == {
        ("inventory", "in_leap"): 4,
        (g, "ELIGIBLE"): 1,
        (g, "ACTIVE"): 2,
        (g, "PENDING"): 1,
        (m, "unmapped"): 4,
        (p, "PENDING"): 1,
    }
    assert day_counts(1) == {
        ("inventory", "in_leap"): 3,
        (g, "ACTIVE"): 2,
        (g, "PENDING"): 1,
        (m, "mapped"): 1,
        (m, "unmapped"): 2,
        (m, "shared"): 2,
        (p, "ACTIVE"): 1,
    }
    assert day_counts(0) == {
        ("inventory", "in_leap"): 3,
        (g, "ACTIVE"): 1,
        (g, "PENDING"): 1,
        (g, "INELIGIBLE"): 1,
        (m, "mapped"): 1,
        (m, "unmapped"): 2,
        (m, "shared"): 2,
        (p, "ACTIVE"): 1,
    }
    rebuilt = dict(DailyCount.objects.filter(series="inventory").values_list("day", "rebuilt"))
    # Days before today are rebuilt; today's is counted from the live tables.
    assert [rebuilt[NOW.date() - timedelta(days=n)] for n in (3, 2, 1, 0)] == [
        True,
        True,
        True,
        False,
    ]


def test_todays_sql_counts_equal_the_state_history_is_undone_from(scripted):
    today = NOW.date()
    rebuilt = history.rebuild([today], timezone.now())[today]
    assert +history.live_counts() == +rebuilt
    assert history.live_counts()[("mapping", "shared")] == 2


def test_the_daily_task_keeps_days_counted_on_the_day(scripted):
    history.fill(timezone.now())
    inventory = ("inventory", "in_leap")
    day = {n: NOW.date() - timedelta(days=n) for n in range(4)}
    # Say the two days before today were counted on the day (99 meters then, by that count).
    DailyCount.objects.filter(day__in=[day[2], day[1]], series="inventory").update(
        count=99, rebuilt=False
    )
    assert record_daily_counts() == "daily counts written for 2 day(s)"  # yesterday, today
    assert day_counts(2)[inventory] == 99  # kept
    assert day_counts(1)[inventory] == 3  # yesterday's final count, at its end
    assert not DailyCount.objects.get(day=day[1], series="inventory").rebuilt
    # A day rebuilt before is left alone too, unless asked again (the command's --again).
    DailyCount.objects.filter(day=day[3], series="inventory").update(count=77)
    record_daily_counts()
    assert day_counts(3)[inventory] == 77
    history.fill(timezone.now(), rebuild_again=True)
    assert day_counts(3)[inventory] == 3
    assert day_counts(2)[inventory] == 99


def test_the_backfill_command_says_what_it_wrote(scripted):
    out = StringIO()
    call_command("trends_backfill", "--days", "3", stdout=out)
    assert (
        "3 day(s) written (2026-11-18 to 2026-11-20); history starts 2026-11-17" in out.getvalue()
    )
    with pytest.raises(CommandError):
        call_command("trends_backfill", "--days", "0")


def test_no_day_before_history_starts_is_written(scripted):
    history.fill(timezone.now())
    assert history.history_start() == NOW.date() - timedelta(days=3)
    assert not DailyCount.objects.filter(day__lt=NOW.date() - timedelta(days=3)).exists()


def list_count(client, url: str) -> int:
    response = client.get(url)
    assert response.status_code == 200
    if "type_counts" in response.context:  # the actions inbox: its counts per type
        return sum(row["n"] for row in response.context["type_counts"])
    return response.context["table"].page.paginator.count


def legend_links(content: str) -> dict[str, int]:
    """{href: value} of every legend entry that links and shows a value."""
    found = re.findall(
        r'<a href="([^"]+)"><span class="swatch[^"]*" aria-hidden="true"></span>[^<]*'
        r'<strong class="legend-value">(\d+)</strong>',
        content,
    )
    return {unescape(href): int(value) for href, value in found}


def test_todays_counts_under_the_charts_equal_the_lists_behind_them(scripted, ops_client):
    RequiredActionFactory(meter=scripted["a"], first_seen_at=timezone.now() - timedelta(days=10))
    RequiredActionFactory(meter=scripted["b"])
    response = ops_client.get(reverse("trends"))
    content = response.content.decode()
    links = legend_links(content)
    expected = {
        "/meters/?global_status=ACTIVE&missing=false": 1,
        "/meters/?global_status=PENDING&missing=false": 1,
        "/meters/?global_status=INELIGIBLE&missing=false": 1,
        "/meters/?mapping=mapped&missing=false": 1,
        "/meters/?mapping=unmapped&missing=false": 2,
        "/meters/?reference=shared&missing=false": 2,
        "/meters/?program=P1&program_status=ACTIVE&missing=false": 1,
        "/actions/?age=7d": 1,
        "/actions/?age=30d": 1,
        "/actions/?age=90d": 0,
    }
    assert expected.items() <= links.items()
    for url, value in links.items():
        if url.startswith(("/meters/", "/actions/")):
            assert list_count(ops_client, url) == value, url
    assert "History starts 2026-11-17." in content
    assert "Days up to 2026-11-19 were rebuilt" in content


def test_a_run_bar_links_to_its_run(scripted, ops_client):
    run = SyncRun.objects.create(
        stream="details", mode="full", status=RunStatus.FAILED, meters_seen=100
    )
    SyncRun.objects.filter(pk=run.pk).update(
        started_at=timezone.now() - timedelta(seconds=20), finished_at=timezone.now()
    )
    content = ops_client.get(reverse("trends")).content.decode()
    url = reverse("sync_run_detail", args=[run.pk])
    assert re.search(
        f'<a href="{url}" aria-label="Run #{run.pk} [^"]*"><rect class="bar series-3"', content
    )
    assert "20.0 s" in content and "5 meters/s" in content


def test_the_deadlines_timeline_links_periods_and_deadlines(at_noon, ops_client):
    from tests.meters.factories import EnrollmentDeadlineFactory

    # Dates of its own: the factory's default start moves 30 days per period made before, in
    # any test of this process, and would soon leave the timeline's window.
    period = ProgramEnrollmentFactory(
        program_identifier="P2",
        delivery_period="NOV",
        delivery_period_start_date_time=NOW - timedelta(days=10),
        delivery_period_end_date_time=NOW + timedelta(days=20),
    )
    EnrollmentDeadlineFactory(program_enrollment=period)
    content = ops_client.get(reverse("trends")).content.decode()
    assert 'class="span-period"' in content and 'class="mark-deadline"' in content
    period_url = "/meters/?program=P2&amp;delivery_period=NOV&amp;missing=false"
    assert re.search(
        f'<a href="{re.escape(period_url)}" aria-label="NOV: [^"]*"><rect class="span-', content
    )
    assert list_count(ops_client, unescape(period_url)) == 1


def test_empty_history_renders_every_chart(ops_client):
    response = ops_client.get(reverse("trends"))
    assert response.status_code == 200
    content = response.content.decode()
    assert "No history recorded yet" in content
    assert content.count('<figure class="chart') == 7
    assert "No sync run yet." in content
    empty = DailyTrends([], [], [], [], {})
    html = render_to_string("ui/charts/chart.html", {"c": daily_chart("x", "X", empty, [])})
    assert "No daily counts recorded yet" in html and "No data yet." in html


def test_a_single_day_draws_points_without_lines(at_noon, ops_client):
    MeterFactory(status="ACTIVE")
    content = ops_client.get(reverse("trends")).content.decode()
    status = content.split('id="status-caption"')[1].split("</figure>")[0]
    assert '<circle class="point"' in status and '<path class="line"' not in status
    assert legend_links(content)["/meters/?global_status=ACTIVE&missing=false"] == 1


def test_charts_take_their_geometry_from_numbers_only():
    one = line_chart(["Nov 20"], [("A", "A", [3], "/x")])
    assert one.lines[0].points[0].x == (one.frame.left + one.frame.right) / 2
    assert line_chart([], [("A", "A", [], "/x")]).empty
    bars = bar_chart([("a", []), ("b", [])])
    assert bars.empty and bars.frame.y_ticks[-1].label == "1"


def test_the_page_query_count_does_not_grow_with_data(at_noon, ops_client):
    url = reverse("trends")
    ops_client.get(url)  # computes and stores the figures
    few = count_get_queries(ops_client, url)
    for n in range(30):
        meter = MeterFactory(status="ACTIVE")
        event(meter, EventKind.FIRST_SEEN, n % 20)
        ProgramEnrollmentFactory(meter=meter, program_identifier=f"P{n % 5}")
        RequiredActionFactory(meter=meter)
        SyncRun.objects.create(stream="details", mode="incremental", status="succeeded")
    history.fill(timezone.now())
    ops_client.get(url)  # out of date: recomputed once
    assert count_get_queries(ops_client, url) == few
    # session, user, user and group permissions, the stored figures, the state (running
    # run, finished run, latest event), the user menu's groups, the "My actions" count
    assert few <= 10


def test_the_page_reads_stored_figures_only(at_noon, ops_client, monkeypatch):
    ops_client.get(reverse("trends"))
    monkeypatch.setattr(store, "REFRESH_INLINE", False)
    queued = []
    monkeypatch.setattr(store, "async_task", lambda *args, **kwargs: queued.append(args))
    MeterEventFactory()  # figures out of date
    response = ops_client.get(reverse("trends"))
    assert response.status_code == 200 and queued  # shown as they were, recompute queued


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get(reverse("trends"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_signed_in_without_permission_is_refused(outsider_client):
    assert outsider_client.get(reverse("trends")).status_code == 403


def test_the_nav_has_trends(ops_client):
    content = ops_client.get(reverse("dashboard")).content.decode()
    assert '<a href="/trends/">Trends</a>' in content


def test_leap_strings_never_become_markup(at_noon, ops_client):
    hostile = '<script>alert("x")</script>'
    meter = MeterFactory(status="ACTIVE")
    ProgramEnrollment.objects.create(
        meter=meter,
        program_identifier=hostile,
        delivery_period='<img src=x onerror="alert(1)">',
        delivery_period_start_date_time=timezone.now() - timedelta(days=1),
        delivery_period_end_date_time=timezone.now() + timedelta(days=20),
        enrollment_status="<b>ODD</b>",
    )
    event(meter, EventKind.GLOBAL_STATUS, 1, old="<i>OLD</i>", new="ACTIVE")
    content = ops_client.get(reverse("trends"), {"program": hostile}).content.decode()
    assert "<script>alert" not in content and "<img src=x" not in content
    assert "<b>ODD" not in content and "<i>OLD" not in content
    assert "&lt;script&gt;" in content and "&lt;b&gt;ODD&lt;/b&gt;" in content


def test_ninety_days_of_scripted_history_rebuild_to_what_a_replay_counts(at_noon, ops_client):
    """40 meters, each first seen on some day of the last 90 and changing global status a few
    times since: every rebuilt day equals an independent day-by-day replay of the script, and
    today's counts under the chart equal the lists they link to."""
    import random

    statuses = ["ELIGIBLE", "PENDING", "ACTIVE", "INELIGIBLE", "NOT_PARTICIPATING"]
    rng = random.Random(90)
    scripts = []
    for _ in range(40):
        born = rng.randint(0, 89)
        days = sorted(rng.sample(range(born), min(born, rng.randint(0, 4))), reverse=True)
        values = [rng.choice(statuses)]
        for _day in days:
            values.append(rng.choice([s for s in statuses if s != values[-1]]))
        scripts.append((born, days, values))
    for born, days, values in scripts:
        meter = MeterFactory(status=values[-1])
        event(meter, EventKind.FIRST_SEEN, born)
        for day, old, new in zip(days, values[:-1], values[1:], strict=True):
            event(meter, EventKind.GLOBAL_STATUS, day, old=old, new=new)

    def replay(days_ago: int) -> dict[str, int]:
        counts: dict[str, int] = {}
        for born, days, values in scripts:
            if born < days_ago:
                continue
            changes = sum(1 for day in days if day >= days_ago)
            counts[values[changes]] = counts.get(values[changes], 0) + 1
        return counts

    history.fill(timezone.now())
    oldest = max(born for born, _days, _values in scripts)
    for days_ago in range(oldest + 1):
        rows = DailyCount.objects.filter(
            day=NOW.date() - timedelta(days=days_ago), series=history.GLOBAL
        ).values_list("key", "count")
        assert {key: n for key, n in rows if n} == replay(days_ago), f"{days_ago} days ago"

    store.refresh()
    content = ops_client.get(reverse("trends")).content.decode()
    links = legend_links(content)
    assert links
    for url, shown in links.items():
        if "global_status=" in url:
            assert list_count(ops_client, url) == shown, url
