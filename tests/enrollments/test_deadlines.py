"""The deadlines page and roster agree with the simulator's truth; the links agree with counts."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from urllib.parse import urlsplit

import msgspec
from django.urls import reverse
from django.utils import timezone

from enrollments.deadlines import current_and_next, listed_periods, program_deadlines
from leapsync.dashboard import store
from leapsync.dashboard.deadlines import deadlines_page
from leapsync.models import Stream, SyncMode, SyncRun
from leapsync.sync import sync_incremental, sync_refresh
from tests.helpers import count_figure_queries, count_get_queries


def _truth_periods(simulator) -> dict:
    """{(program, period): Counter(status)} and each period's groups, from Leap's own answer."""
    statuses: dict = {}
    groups: dict = {}
    for meter_id, payloads in simulator.truth().items():
        for p in payloads["enrollment"].get("program_enrollment") or []:
            key = (p["program_identifier"], p["delivery_period"])
            statuses.setdefault(key, Counter())[p["enrollment_status"]] += 1
            if p.get("market_group_id"):
                groups.setdefault(key, {})[meter_id] = p["market_group_id"]
    return {"statuses": statuses, "groups": groups}


def _busiest_current_period():
    now = timezone.now()
    programs = deadlines_page(now)
    item = max(programs, key=lambda p: p.current.meters if p.current else 0)
    return item, now


def test_deadline_counts_agree_with_simulator_truth(synced, simulator):
    item, _ = _busiest_current_period()
    truth = _truth_periods(simulator)["statuses"]
    for deadline in item.deadlines:
        expected = truth[(item.program, deadline.period.name)]
        got = {f.label: f.value for f in deadline.statuses}
        assert got == {s: expected.get(s, 0) for s in got}, deadline.period.name
    assert item.current is not None and item.current.contains(timezone.now())


def test_deadline_links_list_exactly_the_counted_meters(synced, ops_client):
    item, _ = _busiest_current_period()
    for deadline in item.deadlines:
        for figure in [*deadline.statuses, deadline.blocked]:
            url = urlsplit(figure.url)
            response = ops_client.get(reverse("meters:meter_export") + "?" + url.query)
            rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
            assert len(rows) - 1 == figure.value, (figure.label, figure.url)


def test_current_period_comes_from_dates_not_order(synced):
    now = timezone.now()
    periods = sorted(listed_periods(), key=lambda p: p.start, reverse=True)
    program = periods[0].program
    current, upcoming = current_and_next([p for p in periods if p.program == program], now)
    assert current.start <= now < current.end
    assert upcoming.start >= current.end


def test_roster_shows_moved_meters_after_mutate_and_sync(synced, simulator, ops_client):
    before = _truth_periods(simulator)["groups"]
    report = simulator.mutate(0.4, seed=5)
    assert report["changes"].get("market_group")
    sync_incremental(client=synced)
    after = _truth_periods(simulator)["groups"]
    seen_moves = 0
    for item in program_deadlines(timezone.now()):
        for period in filter(None, (item.current, item.next)):
            key = (period.program, period.name)
            old, new = before.get(key, {}), after.get(key, {})
            moved = {m for m in set(old) & set(new) if old[m] != new[m]}
            response = ops_client.get(
                reverse("enrollments:market_group_list"),
                {"program": period.program, "period": period.name},
            )
            roster = response.context["roster"]
            shown = {str(r.meter_id): str(g.group_id) for g in roster.groups for r in g.rows}
            assert shown == new, key
            assert {str(c.meter_id) for c in roster.since_sync if c.kind == "moved"} == moved, key
            seen_moves += len(moved)
    assert seen_moves > 0


def test_roster_since_sync_counts_from_the_last_full_or_incremental_run(
    synced, simulator, ops_client
):
    """A small refresh after the incremental run must not hide what the incremental run saw."""
    before = _truth_periods(simulator)["groups"]
    simulator.mutate(0.4, seed=5)
    sync_incremental(client=synced, refresh_stale=False)
    incremental = SyncRun.objects.get(stream=Stream.ENROLLMENTS, mode=SyncMode.INCREMENTAL)
    after = _truth_periods(simulator)["groups"]
    moves = {
        key: {m for m in set(before.get(key, {})) & set(new) if before[key][m] != new[m]}
        for key, new in after.items()
    }
    (program, period), moved = max(moves.items(), key=lambda item: len(item[1]))
    assert moved
    unmoved = next(m for m in after[(program, period)] if m not in moved)
    sync_refresh([unmoved], client=synced)  # now the latest enrollments run; it moved nothing
    sync_refresh([unmoved], client=synced, mode=SyncMode.STALE)
    roster = ops_client.get(
        reverse("enrollments:market_group_list"), {"program": program, "period": period}
    ).context["roster"]
    assert roster.sync_baseline == incremental
    assert {str(c.meter_id) for c in roster.since_sync if c.kind == "moved"} == moved


def test_roster_exports_match_the_roster(synced, simulator, ops_client):
    item, _ = _busiest_current_period()
    params = {"program": item.program, "period": item.current.name}
    truth = _truth_periods(simulator)["groups"][(item.program, item.current.name)]
    response = ops_client.get(reverse("enrollments:market_group_export", args=["csv"]), params)
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert {r["meter_id"]: r["market_group_id"] for r in rows} == truth
    assert rows[0]["delivery_period_start"].endswith("Z")
    response = ops_client.get(reverse("enrollments:market_group_export", args=["json"]), params)
    doc = msgspec.json.decode(b"".join(response.streaming_content))
    assert doc["format"] == "leapsync.market_group_roster.v1"
    assert {m["meter_id"]: m["market_group_id"] for m in doc["meters"]} == truth
    assert set(doc["meters"][0]) == set(rows[0])


def test_roster_csv_neutralises_formulas(synced, ops_client):
    from enrollments.models import ProgramEnrollment

    row = ProgramEnrollment.objects.exclude(market_group_id=None).select_related("meter").first()
    row.meter.partner_reference = "=HYPERLINK(1)"
    row.meter.save()
    params = {"program": row.program_identifier, "period": row.delivery_period}
    response = ops_client.get(reverse("enrollments:market_group_export", args=["csv"]), params)
    assert "'=HYPERLINK(1)" in b"".join(response.streaming_content).decode()


def test_deadline_and_roster_query_counts_are_flat(synced, simulator, ops_client):
    item, _ = _busiest_current_period()
    roster_url = reverse("enrollments:market_group_list") + f"?program={item.program}"
    urls = [
        reverse("enrollments:deadline_list"),
        reverse("enrollments:deadline_calendar"),
        roster_url,
        reverse("enrollments:transition_list") + "?days=120",
    ]
    few = [count_get_queries(ops_client, url) for url in urls]  # computes and stores them
    few = [count_get_queries(ops_client, url) for url in urls]  # reads them
    few.append(count_get_queries(ops_client, roster_url, {"HX-Request": "true"}))
    names = [store.DEADLINES, store.CALENDAR, store.PERIODS, store.roster_name(item.current)]
    simulator.mutate(0.1, seed=3)
    sync_incremental(client=synced)
    few_task = count_figure_queries(*names)
    for _ in range(3):
        simulator.add_meter()
    simulator.mutate(0.5, seed=9)
    sync_incremental(client=synced)
    assert count_figure_queries(*names) == few_task
    more = [count_get_queries(ops_client, url) for url in urls]
    more.append(count_get_queries(ops_client, roster_url, {"HX-Request": "true"}))
    assert more == few
    # session, user, perms (2), groups (navigation) + the figures' state (3) + the stored set,
    # and the navigation's "My actions" count: nothing is aggregated in the request
    assert few[0] <= 10


def test_roster_shows_a_few_meters_per_group_and_links_to_all_of_them(
    synced, ops_client, monkeypatch
):
    monkeypatch.setattr("enrollments.roster.SHOWN_PER_GROUP", 2)
    item, _ = _busiest_current_period()
    url = reverse("enrollments:market_group_list") + f"?program={item.program}"
    response = ops_client.get(url)
    roster = response.context["roster"]
    big = [g for g in roster.groups if g.count > 2]
    assert big and all(len(g.rows) == 2 for g in big)
    links = re.findall(
        r'href="(/meters/\?[^"]*market_group=[^"]*)">all (\d+) in the meters list',
        response.content.decode(),
    )
    assert len(links) == len(big)
    for link, count in links:
        query = urlsplit(link.replace("&amp;", "&")).query
        export = ops_client.get(reverse("meters:meter_export") + "?" + query)
        rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))
        assert len(rows) - 1 == int(count), link
