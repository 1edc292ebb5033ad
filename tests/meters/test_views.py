"""Meter pages: access, page vs fragment, query budgets, escaping, CSV export, search, sync."""

from __future__ import annotations

import csv
import io
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from pytest_django.asserts import assertTemplateNotUsed, assertTemplateUsed

from leapsync.models import SyncRun
from leapsync.sync import sync_full, sync_refresh
from meters.models import EventKind, Meter, MeterEvent
from meters.tables import MeterTable
from tests.helpers import count_get_queries
from tests.meters.factories import (
    EnrollmentDeadlineFactory,
    MeterEventFactory,
    MeterFactory,
    ParticipationPeriodFactory,
    ProgramEnrollmentFactory,
    RequiredActionFactory,
    SiteFactory,
)

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}
SCRIPT = "<script>alert(1)</script>"


def list_url(**params) -> str:
    from urllib.parse import urlencode

    return f"{reverse('meters:meter_list')}?{urlencode(params, doseq=True)}"


def detail_url(meter: Meter) -> str:
    return reverse("meters:meter_detail", args=[meter.meter_id])


# --- access -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,args",
    [("meters:meter_list", []), ("meters:meter_export", []), ("meters:meter_search", [])],
)
def test_meter_pages_anonymous_redirects_to_login(client, name, args):
    response = client.get(reverse(name, args=args))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_meter_detail_anonymous_redirects_to_login(client):
    meter = MeterFactory()
    response = client.get(detail_url(meter))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    "name", ["meters:meter_list", "meters:meter_export", "meters:meter_search"]
)
def test_meter_pages_outsider_gets_readable_403(outsider_client, name):
    response = outsider_client.get(reverse(name))
    assert response.status_code == 403
    assertTemplateUsed(response, "403.html")
    assert b"not allowed" in response.content


def test_meter_detail_outsider_gets_403(outsider_client):
    assert outsider_client.get(detail_url(MeterFactory())).status_code == 403


def test_meter_sync_needs_change_permission(manager_client):
    meter = MeterFactory()
    response = manager_client.post(reverse("meters:meter_sync", args=[meter.meter_id]))
    assert response.status_code == 403


def test_meter_sync_is_post_only(ops_client):
    meter = MeterFactory()
    assert ops_client.get(reverse("meters:meter_sync", args=[meter.meter_id])).status_code == 405


# --- meters list --------------------------------------------------------------------------


def test_meter_list_full_page(manager_client):
    MeterFactory.create_batch(3, status="ACTIVE")
    response = manager_client.get(reverse("meters:meter_list"))
    assert response.status_code == 200
    assertTemplateUsed(response, "meters/meter_list.html")
    assertTemplateUsed(response, "meters/partials/meter_table.html")
    assert response["Vary"] and "HX-Request" in response["Vary"]
    assert b'id="meter-filters"' in response.content


def test_meter_list_htmx_returns_the_table_fragment(ops_client):
    MeterFactory.create_batch(3)
    response = ops_client.get(reverse("meters:meter_list"), headers=HTMX)
    assertTemplateUsed(response, "meters/partials/meter_table.html")
    assertTemplateNotUsed(response, "meters/meter_list.html")
    assert response.content.strip().startswith(b'<section id="meter-table"')


@pytest.mark.parametrize("extra", [{"HX-Boosted": "true"}, {"HX-History-Restore-Request": "true"}])
def test_meter_list_boosted_or_history_restore_gets_full_page(ops_client, extra):
    response = ops_client.get(reverse("meters:meter_list"), headers={**HTMX, **extra})
    assertTemplateUsed(response, "meters/meter_list.html")


@pytest.mark.parametrize("headers", [{}, HTMX])
def test_meter_list_query_count_is_flat(ops_client, headers):
    url = list_url(global_status="ACTIVE", open_action="true", q="Customer")
    for _ in range(2):
        MeterFactory(status="ACTIVE", open_actions=1, site=SiteFactory())
    few = count_get_queries(ops_client, url, headers)
    for _ in range(30):
        MeterFactory(status="ACTIVE", open_actions=2, site=SiteFactory())
    assert count_get_queries(ops_client, url, headers) == few
    # session, user, user perms, group perms, user groups, the sites matching the search, the
    # total (a COUNT capped at EXACT_UP_TO rows), the page's keys, the page's rows with joins
    # and open-action counts; the person's saved views, their list preference, their groups (to
    # share a view with), and on a full page the navigation's "My actions" count; on
    # PostgreSQL one more, the planner's estimate (EXPLAIN) that picks the total's cap
    assert few <= 13 + (connection.vendor == "postgresql")


def _total_and_pages(response) -> tuple[str, list]:
    page = response.context["table"].page
    return response.context["total"], page.numbers


def test_meter_list_shows_the_total_and_numbers_the_pages(ops_client):
    MeterFactory.create_batch(55)
    response = ops_client.get(list_url(page=2))
    page = response.context["table"].page
    assert page.number == 2 and len(page.object_list) == 5 and not page.has_next()
    assert _total_and_pages(response) == ("55 meters", [1, 2])
    content = response.content.decode()
    assert "55 meters</strong> · page 2 of 2" in content
    assert 'href="?page=1" hx-get="?page=1"' in content and 'aria-label="Page 1">1</a>' in content


def test_meter_list_total_counts_the_filtered_set_capped(ops_client, monkeypatch):
    MeterFactory.create_batch(3, transmission_region="PJM")
    MeterFactory(transmission_region="ERCOT")
    assert ops_client.get(list_url(region="PJM")).context["total"] == "3 meters"
    assert ops_client.get(list_url(region="ERCOT")).context["total"] == "1 meter"
    monkeypatch.setattr("leapsync.ui.counts.EXACT_UP_TO", 2)
    with CaptureQueriesContext(connection) as captured:
        response = ops_client.get(list_url(region="PJM"))
    assert response.context["total"] == "more than 2 meters"
    (count,) = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith("SELECT COUNT(") and "meters_meter" in q["sql"].split("FROM")[1]
    ]
    assert "LIMIT 3" in count  # never reads more than the cap (and one row to know it)


@pytest.mark.postgres
def test_meter_list_total_of_a_large_table_is_postgresqls_estimate(ops_client, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("the estimate is PostgreSQL's (reltuples)")
    MeterFactory.create_batch(30)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE meters_meter")
    assert ops_client.get(list_url()).context["total"] == "30 meters"
    monkeypatch.setattr("leapsync.ui.counts.ESTIMATE_ABOVE", 20)
    with CaptureQueriesContext(connection) as captured:
        response = ops_client.get(list_url())
    assert response.context["total"] == "about 30 meters"
    assert "about 30 meters" in response.content.decode()
    plan = " ".join(q["sql"] for q in captured.captured_queries if "reltuples" in q["sql"])
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF) " + plan.replace("%", "%%"))
        explained = "\n".join(row[0] for row in cursor.fetchall())
    assert "never executed" in explained  # the table was not counted


@pytest.mark.parametrize("headers", [{}, HTMX])
def test_meter_list_last_page_of_a_count_free_list_is_read_from_the_end(
    ops_client, monkeypatch, headers
):
    monkeypatch.setattr("leapsync.ui.counts.EXACT_UP_TO", 2)  # "more than 2": no page count
    MeterFactory.create_batch(55, transmission_region="PJM")
    MeterFactory(transmission_region="ERCOT")
    first = ops_client.get(list_url(region="PJM"), headers=headers).content.decode()
    assert 'href="?region=PJM&amp;page=last"' in first and ">Last page</a>" in first
    with CaptureQueriesContext(connection) as captured:
        response = ops_client.get(list_url(region="PJM", page="last"), headers=headers)
    rows = [row.record.meter_id for row in response.context["table"].page.object_list]
    ordered = Meter.objects.filter(transmission_region="PJM").order_by("meter_id")
    assert rows == list(ordered.values_list("meter_id", flat=True)[5:])
    content = response.content.decode()
    assert "more than 2 meters</strong> · last page" in content
    assert "← First page" in content and ">Next →<" not in content
    assert not any("OFFSET" in q["sql"] for q in captured.captured_queries)


def test_meter_list_last_page_of_a_counted_list_is_its_numbered_last_page(ops_client):
    MeterFactory.create_batch(55)
    response = ops_client.get(list_url(page="last", sort="-leap_updated_at"))
    page = response.context["table"].page
    assert page.number == 2 and len(page.object_list) == 5 and not page.note
    assert "55 meters</strong> · page 2 of 2" in response.content.decode()


@pytest.mark.postgres
def test_meter_list_large_filtered_list_is_counted_only_to_the_quick_cap(ops_client, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("the planner's estimate is PostgreSQL's")
    MeterFactory.create_batch(30, transmission_region="PJM")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE meters_meter")
    assert ops_client.get(list_url(region="PJM")).context["total"] == "30 meters"
    monkeypatch.setattr("leapsync.ui.counts.LARGE_ESTIMATE", 20)
    monkeypatch.setattr("leapsync.ui.counts.QUICK_UP_TO", 5)
    with CaptureQueriesContext(connection) as captured:
        response = ops_client.get(list_url(region="PJM"))
    assert response.context["total"] == "more than 5 meters"
    counts = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT COUNT(")]
    assert any("LIMIT 6" in sql for sql in counts)  # read no more than the quick cap


@pytest.mark.parametrize("headers", [{}, HTMX])
def test_meter_list_page_past_the_end_shows_the_last_page_and_says_so(ops_client, headers):
    MeterFactory.create_batch(55)
    response = ops_client.get(list_url(page=9999), headers=headers)
    page = response.context["table"].page
    assert page.number == 2 and len(page.object_list) == 5
    assert "Page 9,999 is past the end: showing the last page, 2." in response.content.decode()


@pytest.mark.parametrize("value", ["abc", "0", "-3", "9" * 5000])
def test_meter_list_page_that_is_no_number_shows_the_first_page_and_says_so(ops_client, value):
    MeterFactory.create_batch(3)
    response = ops_client.get(list_url(page=value))
    assert response.status_code == 200 and response.context["table"].page.number == 1
    note = response.context["table"].page.note
    assert note.startswith("There is no page “") and note.endswith("”: showing page 1.")


def test_meter_list_page_note_is_escaped(ops_client):
    response = ops_client.get(list_url(page="<b>x"))
    assert "There is no page “&lt;b&gt;x”" in response.content.decode()


def _sortable_meters() -> None:
    for i, (region, kind, status) in enumerate(
        [
            ("CAISO", "DEVICE", "ACTIVE"),
            ("ERCOT", "SUBMETER", "ELIGIBLE"),
            ("PJM", "UTILITY_METER", "PENDING"),
        ]
    ):
        MeterFactory(
            meter_id=uuid.UUID(int=i + 1),
            partner_reference=f"ref-{i}",
            end_customer_name=f"Name {i}",
            city=f"City {i}",
            transmission_region=region,
            meter_type=kind,
            status=status,
            site=SiteFactory(name=f"Site {i}"),
        )


@pytest.mark.parametrize(
    "column", [name for name, col in MeterTable.base_columns.items() if col.orderable is not False]
)
def test_meter_list_every_orderable_column_sorts(ops_client, column):
    _sortable_meters()
    ascending = ops_client.get(list_url(sort=column), headers=HTMX)
    descending = ops_client.get(list_url(sort=f"-{column}"), headers=HTMX)
    assert ascending.status_code == descending.status_code == 200
    up = [row.record.pk for row in ascending.context["table"].paginated_rows]
    down = [row.record.pk for row in descending.context["table"].paginated_rows]
    assert up == list(reversed(down)), column


def test_meter_list_escapes_leap_strings(ops_client):
    MeterFactory(end_customer_name=SCRIPT, partner_reference=SCRIPT, city=SCRIPT)
    content = ops_client.get(reverse("meters:meter_list")).content.decode()
    assert SCRIPT not in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content


def test_meter_list_two_regions_ticked_list_the_meters_of_either(ops_client):
    """The multi-value filters are checkbox lists; their query string is a select's."""
    wanted = {MeterFactory(transmission_region=region).pk for region in ("PJM", "ERCOT", "PJM")}
    MeterFactory(transmission_region="CAISO")
    response = ops_client.get(list_url(region=["PJM", "ERCOT"]))
    assert {row.record.pk for row in response.context["table"].paginated_rows} == wanted
    content = response.content.decode()
    for region in ("PJM", "ERCOT"):
        assert f'type="checkbox" name="region" value="{region}"' in content
    assert 'value="PJM" id="id_region_4" checked' in content
    assert '<select name="region"' not in content and "multiple" not in content
    assert '<summary data-none="Any">ERCOT, PJM</summary>' in content


def test_meter_list_filter_form_pushes_url_through_htmx(ops_client):
    content = ops_client.get(reverse("meters:meter_list")).content.decode()
    assert 'hx-push-url="true"' in content and 'hx-target="#meter-table"' in content


# --- CSV export ---------------------------------------------------------------------------


def _csv(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_meter_export_streams_exactly_the_filtered_set(ops_client):
    wanted = {
        str(MeterFactory(transmission_region="PJM", status="ACTIVE").meter_id) for _ in range(3)
    }
    MeterFactory(transmission_region="PJM", status="PENDING")
    MeterFactory(transmission_region="ERCOT", status="ACTIVE")
    url = reverse("meters:meter_export") + "?region=PJM&global_status=ACTIVE"
    response = ops_client.get(url)
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = _csv(response)
    assert {row["meter_id"] for row in rows} == wanted
    assert all(row["global_enrollment_status"] == "ACTIVE" for row in rows)


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("-end_customer_name", ["Cy", "Bo", "Al"]),
        ("end_customer_name", ["Al", "Bo", "Cy"]),
        ("address", ["Bo", "Cy", "Al"]),
        ("-meter_id", ["Bo", "Al", "Cy"]),
        ("", ["Cy", "Al", "Bo"]),
    ],
)
def test_meter_export_follows_the_lists_sort(ops_client, sort, expected):
    MeterFactory(meter_id=uuid.UUID(int=2), end_customer_name="Al", city="Zurich")
    MeterFactory(meter_id=uuid.UUID(int=3), end_customer_name="Bo", city="Athens")
    MeterFactory(meter_id=uuid.UUID(int=1), end_customer_name="Cy", city="Berlin")
    rows = _csv(ops_client.get(reverse("meters:meter_export"), {"sort": sort}))
    assert [row["end_customer_name"] for row in rows] == expected
    listed = ops_client.get(list_url(sort=sort)).context["table"].paginated_rows
    assert [row.record.end_customer_name for row in listed] == expected


@pytest.mark.parametrize("value", ['=HYPERLINK("x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"])
def test_meter_export_neutralises_formulas(ops_client, value):
    MeterFactory(end_customer_name=value, partner_reference=value)
    row = _csv(ops_client.get(reverse("meters:meter_export")))[0]
    assert row["end_customer_name"] == "'" + value
    assert row["partner_reference"] == "'" + value


def test_meter_export_keeps_plain_values(ops_client):
    MeterFactory(end_customer_name="Ann O'Neil", tags=["vip", "pilot"], load_types=["HVAC"])
    row = _csv(ops_client.get(reverse("meters:meter_export")))[0]
    assert row["end_customer_name"] == "Ann O'Neil"
    assert row["tags"] == "vip;pilot"


# --- global search ------------------------------------------------------------------------


def test_meter_search_exact_meter_id_goes_to_the_meter(ops_client):
    meter = MeterFactory()
    response = ops_client.get(reverse("meters:meter_search"), {"q": str(meter.meter_id)})
    assert response.status_code == 302 and response["Location"] == detail_url(meter)


@pytest.mark.parametrize("field", ["partner_reference", "electric_service_account_number"])
def test_meter_search_unique_exact_identifier_goes_to_the_meter(ops_client, field):
    meter = MeterFactory(**{field: "XYZ-123"})
    response = ops_client.get(reverse("meters:meter_search"), {"q": "XYZ-123"})
    assert response["Location"] == detail_url(meter)


def test_meter_search_otherwise_lists_the_matches(ops_client):
    MeterFactory(partner_reference="shared")
    MeterFactory(partner_reference="shared")
    response = ops_client.get(reverse("meters:meter_search"), {"q": "shared"}, follow=True)
    assert response.redirect_chain[-1][0] == list_url(q="shared")
    assert len(list(response.context["table"].paginated_rows)) == 2


SHORT = "0002d62f"
WHOLE = "0002d62f-1a2b-4c3d-8e4f-001122334455"


@pytest.mark.parametrize("typed", [SHORT, "0002D6", "0002d62f-1a", WHOLE, WHOLE.replace("-", "")])
def test_meter_search_short_or_whole_id_goes_to_the_meter(ops_client, typed):
    meter = MeterFactory(meter_id=WHOLE)
    MeterFactory(meter_id="0002d700-0000-4000-8000-000000000000")
    response = ops_client.get(reverse("meters:meter_search"), {"q": typed})
    assert response.status_code == 302 and response["Location"] == detail_url(meter)


def test_meter_search_htmx_is_told_to_go_to_the_meter(ops_client):
    meter = MeterFactory(meter_id=WHOLE)
    response = ops_client.get(reverse("meters:meter_search"), {"q": SHORT}, headers=HTMX)
    assert response.status_code == 200 and response["HX-Redirect"] == detail_url(meter)


def test_meter_search_ambiguous_short_id_lists_the_meters(ops_client):
    MeterFactory(meter_id=WHOLE)
    MeterFactory(meter_id="0002d62f-ffff-4000-8000-000000000000")
    response = ops_client.get(reverse("meters:meter_search"), {"q": SHORT}, follow=True)
    assert response.redirect_chain[-1][0] == list_url(q=SHORT)
    assert len(list(response.context["table"].paginated_rows)) == 2


@pytest.mark.parametrize("headers", [{}, HTMX])
def test_meter_list_search_for_one_meters_id_goes_to_the_meter(ops_client, headers):
    meter = MeterFactory(meter_id=WHOLE)
    MeterFactory(meter_id="0002d700-0000-4000-8000-000000000000")
    response = ops_client.get(list_url(q="0002d62f-1a"), headers=headers)
    if headers:
        assert response.status_code == 200 and response["HX-Redirect"] == detail_url(meter)
    else:
        assert response.status_code == 302 and response["Location"] == detail_url(meter)


def test_meter_list_search_stays_on_the_list_unless_an_id_is_the_one_match(ops_client):
    MeterFactory(meter_id=WHOLE, end_customer_name="Cafe 0002d6")
    MeterFactory(meter_id="0002d62f-ffff-4000-8000-000000000000")
    assert ops_client.get(list_url(q=SHORT)).status_code == 200  # two meters
    assert ops_client.get(list_url(q="cafe")).status_code == 200  # one, by name
    # One meter, found by its name rather than its id: the list shows it.
    MeterFactory(meter_id="aaaaaaaa-0000-4000-8000-000000000000", end_customer_name="bbbbbb12")
    assert ops_client.get(list_url(q="bbbbbb")).status_code == 200


# --- meter page ---------------------------------------------------------------------------


def _rich_meter(events: int = 3, periods: int = 2) -> Meter:
    meter = MeterFactory(status="ACTIVE", site=SiteFactory(), open_actions=1)
    for _ in range(periods):
        EnrollmentDeadlineFactory(program_enrollment=ProgramEnrollmentFactory(meter=meter))
        ParticipationPeriodFactory(meter=meter, is_open_ended=False, end_time=None)
    RequiredActionFactory(meter=meter, owner="leap")
    MeterEventFactory.create_batch(events, meter=meter)
    return meter


def test_meter_detail_full_page(manager_client):
    meter = _rich_meter()
    response = manager_client.get(detail_url(meter))
    assert response.status_code == 200
    assertTemplateUsed(response, "meters/meter_detail.html")
    content = response.content.decode()
    assert str(meter.meter_id) in content
    assert "Sync this meter" not in content  # managers may not write
    assert "current" in content  # the period around now is marked


def test_meter_detail_shows_sync_button_to_operations(ops_client):
    assert "Sync this meter" in ops_client.get(detail_url(_rich_meter())).content.decode()


@pytest.mark.parametrize("headers", [{}, HTMX])
def test_meter_detail_query_count_is_flat(ops_client, headers):
    few = count_get_queries(ops_client, detail_url(_rich_meter(events=2, periods=1)), headers)
    many = count_get_queries(ops_client, detail_url(_rich_meter(events=40, periods=6)), headers)
    assert many == few
    # session, user, meter (+site, enrollment), events count + page, participation, programs +
    # deadlines, actions, user perms, group perms, user groups; unconfirmed partner_reference
    # changes, candidate sites for the suggestions, the partner_reference change history
    assert few <= 16


def test_meter_detail_events_more_returns_the_next_page_fragment(ops_client):
    meter = _rich_meter(events=45)
    response = ops_client.get(
        detail_url(meter) + "?events_page=2", headers={**HTMX, "HX-Target": "meter-events-more"}
    )
    assertTemplateUsed(response, "meters/partials/meter_events_more.html")
    assertTemplateNotUsed(response, "meters/meter_detail.html")
    assert response.content.decode().count("<li") == 21  # 20 events and the next "more"


def test_meter_detail_escapes_leap_strings(ops_client):
    meter = MeterFactory(
        end_customer_name=SCRIPT,
        details_raw={
            "customer": {"end_customer_name": SCRIPT},
            "site": {"site_devices": [{"model": SCRIPT}]},
        },
    )
    RequiredActionFactory(meter=meter, action_description=SCRIPT)
    MeterEventFactory(meter=meter, new=SCRIPT)
    content = ops_client.get(detail_url(meter)).content.decode()
    assert SCRIPT not in content
    assert content.count("&lt;script&gt;") >= 5


def test_meter_detail_leaves_empty_fields_out(ops_client):
    meter = MeterFactory(
        details_raw={
            "customer": {"end_customer_email": "", "city": "Fresno"},
            "billing": {"x": None},
        }
    )
    content = ops_client.get(detail_url(meter)).content.decode()
    assert "End customer email" not in content
    assert "<h2>Billing</h2>" not in content
    assert "<h2>Customer</h2>" in content


def test_meter_detail_unknown_meter_is_404(ops_client):
    assert ops_client.get(reverse("meters:meter_detail", args=[uuid.uuid4()])).status_code == 404


# --- sync this meter ----------------------------------------------------------------------


@pytest.fixture
def synced(leap, monkeypatch):
    """A synced database; a queued refresh runs as soon as it is queued."""
    sync_full(client=leap)
    queued = []

    def run_now(name, meter_ids, trigger):
        queued.append((name, meter_ids, trigger))
        sync_refresh(meter_ids, client=leap, trigger=trigger)

    monkeypatch.setattr("meters.views.async_task", run_now)
    return queued


def test_meter_sync_queues_a_refresh_and_never_calls_leap_in_the_request(
    ops_client, leap, monkeypatch, django_capture_on_commit_callbacks
):
    sync_full(client=leap)
    queued = []
    monkeypatch.setattr("meters.views.async_task", lambda *args: queued.append(args))
    meter = Meter.objects.first()
    runs_before = SyncRun.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        response = ops_client.post(
            reverse("meters:meter_sync", args=[meter.meter_id]), headers=HTMX
        )
    assert SyncRun.objects.count() == runs_before  # nothing ran inside the request
    ((name, meter_ids, trigger),) = queued
    assert name == "leapsync.tasks.refresh_meters" and meter_ids == [str(meter.meter_id)]
    token = trigger.removeprefix("ui:")
    content = response.content.decode()
    assert "Queued: waiting for a worker" in content
    status_url = reverse("meters:meter_sync_status", args=[meter.meter_id, token])
    assert f'hx-get="{status_url}"' in content and 'hx-trigger="every 1s"' in content


def test_meter_sync_htmx_shows_what_changed(
    ops_client, synced, simulator, django_capture_on_commit_callbacks
):
    meter = Meter.objects.filter(partner_reference__gt="").first()
    MeterEvent.objects.all().delete()
    # As if Leap had changed it since the last sync: our stored value and its digests are old.
    Meter.objects.filter(pk=meter.pk).update(
        partner_reference="stale", details_hash="", identifiers_hash=""
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = ops_client.post(
            reverse("meters:meter_sync", args=[meter.meter_id]), headers=HTMX
        )
    assert response.status_code == 200
    assertTemplateUsed(response, "meters/partials/meter_sync.html")
    ((_, _, trigger),) = synced
    status_url = reverse("meters:meter_sync_status", args=[meter.meter_id, trigger[3:]])
    content = ops_client.get(status_url, headers=HTMX).content.decode()
    assert "change" in content and "stale" in content
    assert "every 1s" not in content  # done: the polling stops
    assert MeterEvent.objects.filter(meter=meter, kind=EventKind.PARTNER_REFERENCE).exists()


def test_meter_sync_status_of_an_unknown_or_malformed_token(ops_client, synced):
    meter = Meter.objects.first()
    url = reverse("meters:meter_sync_status", args=[meter.meter_id, "0" * 16])
    assert "Queued" in ops_client.get(url).content.decode()
    bad = reverse("meters:meter_sync_status", args=[meter.meter_id, "not-a-token"])
    assert ops_client.get(bad).status_code == 404


def test_meter_sync_plain_post_redirects_to_the_meter_with_its_result(
    ops_client, synced, django_capture_on_commit_callbacks
):
    meter = Meter.objects.first()
    with django_capture_on_commit_callbacks(execute=True):
        response = ops_client.post(reverse("meters:meter_sync", args=[meter.meter_id]))
    assert response.status_code == 302
    assert response.url.startswith(detail_url(meter) + "?sync=")
    page = ops_client.get(response.url).content.decode()
    assert "nothing changed" in page


@pytest.mark.postgres
def test_the_admin_meter_list_counts_a_large_table_by_estimate(admin_client, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("the estimate is PostgreSQL's (reltuples)")
    MeterFactory.create_batch(30)
    MeterFactory(transmission_region="ERCOT")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE meters_meter")
    monkeypatch.setattr("leapsync.ui.counts.ESTIMATE_ABOVE", 20)
    url = reverse("admin:meters_meter_changelist")

    with CaptureQueriesContext(connection) as captured:
        response = admin_client.get(url)

    assert response.status_code == 200
    assert response.context["cl"].result_count == 31  # the estimate, after ANALYZE
    counts = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT COUNT(")]
    assert counts == []  # the table itself was not counted
    # Filtered, the admin counts exactly as before.
    filtered = admin_client.get(url, {"transmission_region": "ERCOT"})
    assert filtered.context["cl"].result_count == 1


def test_the_admin_meter_filters_offer_leaps_values_without_scanning_the_table(admin_client):
    MeterFactory(transmission_region="PJM")
    MeterFactory(transmission_region="ERCOT")
    url = reverse("admin:meters_meter_changelist")

    with CaptureQueriesContext(connection) as captured:
        response = admin_client.get(url)
    assert not [q for q in captured.captured_queries if "DISTINCT" in q["sql"]]
    region = next(
        f
        for f in response.context["cl"].filter_specs
        if f.parameter_name.startswith("transmission_region")
    )
    assert ("PJM", "PJM") in region.lookup_choices

    filtered = admin_client.get(url, {"transmission_region__exact": "ERCOT"})
    assert [m.transmission_region for m in filtered.context["cl"].result_list] == ["ERCOT"]
