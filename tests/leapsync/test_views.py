"""Dashboard, sync pages and sign-in pages: access, fragments, figures and their links."""

from __future__ import annotations

import uuid
from datetime import timedelta
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone
from django_q.models import Task
from pytest_django.asserts import assertTemplateNotUsed, assertTemplateUsed

from leapsync.dashboard import store
from leapsync.models import QuarantinedPayload, RunStatus, SyncCursor, SyncRun
from leapsync.sync import sync_full, sync_incremental
from meters.models import EventKind, MeterEvent
from tests.helpers import count_figure_queries, count_get_queries
from tests.meters.factories import (
    MeterEventFactory,
    MeterFactory,
    RequiredActionFactory,
    SiteFactory,
)

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}
SCRIPT = "<script>alert(1)</script>"


def make_run(**kwargs) -> SyncRun:
    defaults = {"stream": "details", "mode": "full", "status": RunStatus.SUCCEEDED}
    run = SyncRun.objects.create(**{**defaults, **kwargs})
    if run.status != RunStatus.RUNNING:
        SyncRun.objects.filter(pk=run.pk).update(finished_at=run.started_at + timedelta(seconds=3))
        run.refresh_from_db()
    return run


@pytest.mark.parametrize("name", ["dashboard", "sync_run_list"])
def test_pages_anonymous_redirect_to_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_run_page_anonymous_redirects_to_login(client):
    response = client.get(reverse("sync_run_detail", args=[make_run().pk]))
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name", ["dashboard", "sync_run_list"])
def test_pages_outsider_gets_403(outsider_client, name):
    response = outsider_client.get(reverse(name))
    assert response.status_code == 403
    assertTemplateUsed(response, "403.html")


def test_login_page_renders_with_labels(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    content = response.content.decode()
    assert '<label for="id_username">' in content and '<label for="id_password">' in content


def test_sign_in_lands_on_the_dashboard(client, groups):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user("pat", password="a-long-pass-42")
    response = client.post(reverse("login"), {"username": "pat", "password": "a-long-pass-42"})
    assert response["Location"] == "/"


def test_password_change_page_renders(ops_client):
    response = ops_client.get(reverse("password_change"))
    assert response.status_code == 200
    assertTemplateUsed(response, "registration/password_change_form.html")


def test_sign_out_is_a_post_in_the_user_menu(ops_client):
    content = ops_client.get(reverse("dashboard")).content.decode()
    assert f'action="{reverse("logout")}"' in content


def test_only_admins_get_the_django_admin_link_in_the_user_menu(
    admin_client, ops_client, manager_client
):
    link = f'<a href="{reverse("admin:index")}">Django admin</a>'
    assert link in admin_client.get(reverse("dashboard")).content.decode()
    for client in (ops_client, manager_client):
        assert link not in client.get(reverse("dashboard")).content.decode()


# --- dashboard ----------------------------------------------------------------------------


def test_dashboard_full_page(manager_client):
    response = manager_client.get(reverse("dashboard"))
    assert response.status_code == 200
    assertTemplateUsed(response, "leapsync/dashboard.html")


def test_dashboard_figures_match_the_lists_they_link_to(ops_client):
    MeterFactory.create_batch(2, status="ACTIVE")
    MeterFactory(status="ACTIVE", site=SiteFactory())
    MeterFactory(status="PENDING", open_actions=1)
    MeterFactory(status="ACTIVE", missing_from_leap=True)
    response = ops_client.get(reverse("dashboard"))
    context = response.context
    figures = [*context["statuses"], *context["readiness"], *context["action_buckets"]]
    for figure in figures:
        listed = ops_client.get(figure.url, headers=HTMX).context["table"].paginated_rows
        assert len(list(listed)) == figure.value, figure.label
        assert f'href="{figure.url.replace("&", "&amp;")}"' in response.content.decode()
    active = next(f for f in context["statuses"] if f.status == "ACTIVE")
    assert active.value == 3
    unmapped = context["readiness"][0]
    assert unmapped.value == 2


def test_dashboard_status_change_since_yesterday(ops_client):
    meter = MeterFactory(status="ACTIVE")
    MeterEventFactory(meter=meter, kind=EventKind.GLOBAL_STATUS, old="ELIGIBLE", new="ACTIVE")
    MeterEventFactory(
        meter=meter, old="PENDING", new="ELIGIBLE", observed_at=timezone.now() - timedelta(days=2)
    )
    statuses = {f.status: f for f in ops_client.get(reverse("dashboard")).context["statuses"]}
    assert statuses["ACTIVE"].delta == 1
    assert statuses["ELIGIBLE"].delta == -1
    assert statuses["PENDING"].delta == 0


def test_dashboard_sync_health_warns_when_stale(ops_client, settings):
    settings.SYNC_FRESHNESS_MINUTES = 60
    old = make_run()
    SyncRun.objects.filter(pk=old.pk).update(finished_at=timezone.now() - timedelta(hours=3))
    SyncCursor.objects.create(stream="details", last_success=old)
    fresh = make_run(stream="enrollments")
    SyncRun.objects.filter(pk=fresh.pk).update(finished_at=timezone.now())
    SyncCursor.objects.create(stream="enrollments", last_success=fresh)
    make_run(status=RunStatus.FAILED, error="LeapServerError: 503 " + SCRIPT)
    response = ops_client.get(reverse("dashboard"))
    health = {h.stream: h for h in response.context["health"]}
    assert health["details"].stale and not health["enrollments"].stale
    content = response.content.decode()
    # ops read a sentence; the recorded text is for admins (test_ops_read_a_failure_...)
    assert "older than 60 min" in content and "Something unexpected went wrong" in content
    assert SCRIPT not in content


def test_dashboard_with_synced_data_and_escaped_feed(ops_client, leap):
    sync_full(client=leap)
    MeterEventFactory(meter=MeterFactory(end_customer_name=SCRIPT), new=SCRIPT)
    response = ops_client.get(reverse("dashboard"))
    assert response.status_code == 200
    assert sum(f.value for f in response.context["statuses"]) > 0
    assert response.context["deadlines"]
    assert SCRIPT not in response.content.decode()


def test_dashboard_alerts_market_group_moves_with_a_link_to_the_roster(ops_client, leap, simulator):
    sync_full(client=leap)
    simulator.mutate(0.5, seed=21)
    sync_incremental(client=leap, now=simulator.now)
    moves = MeterEvent.objects.filter(kind="market_group")
    assert moves.exists()
    response = ops_client.get(reverse("dashboard"))
    alerts = response.context["group_alerts"]
    assert alerts
    for alert in alerts:
        in_period = moves.filter(program_identifier=alert.program, delivery_period=alert.period)
        assert alert.moves == in_period.count()
    program, period = moves.first().program_identifier, moves.first().delivery_period
    assert any(a.program == program and a.period == period for a in alerts)
    assert reverse("enrollments:market_group_list") in alerts[0].url
    assert "Market group changes" in response.content.decode()


def test_dashboard_query_count_is_flat(ops_client):
    """The view reads stored figures; the task computes them: neither grows with the data."""
    for _ in range(2):
        MeterEventFactory(meter=MeterFactory(status="ACTIVE", open_actions=1))
    store.refresh()
    MeterEventFactory()
    few_task = count_figure_queries(store.DASHBOARD)
    few = count_get_queries(ops_client, reverse("dashboard"))
    for _ in range(20):
        meter = MeterFactory(status="PENDING", open_actions=2)
        MeterEventFactory.create_batch(2, meter=meter)
        RequiredActionFactory(meter=meter, owner="leap")
    make_run()
    make_run(stream="enrollments", status=RunStatus.FAILED)
    assert count_figure_queries(store.DASHBOARD) == few_task
    assert count_get_queries(ops_client, reverse("dashboard")) == few
    # session, user, perms (2), figures' state (3) and the stored set, the sync health,
    # recent events, the navigation's "My actions" count: nothing is aggregated in the request
    assert few <= 16


# --- sync pages ---------------------------------------------------------------------------


def test_sync_run_list_full_page_and_fragment(manager_client):
    make_run()
    page = manager_client.get(reverse("sync_run_list"))
    assertTemplateUsed(page, "leapsync/syncrun_list.html")
    assert "Run full now" not in page.content.decode()  # managers may not start runs
    fragment = manager_client.get(reverse("sync_run_list"), headers=HTMX)
    assertTemplateUsed(fragment, "leapsync/partials/sync_runs.html")
    assertTemplateNotUsed(fragment, "leapsync/syncrun_list.html")


def test_sync_run_list_polls_only_while_a_run_is_going(ops_client):
    make_run()
    assert "every 2s" not in ops_client.get(reverse("sync_run_list")).content.decode()
    make_run(status=RunStatus.RUNNING)
    assert "every 2s" in ops_client.get(reverse("sync_run_list")).content.decode()


@pytest.mark.parametrize("headers", [{}, HTMX])
def test_sync_run_list_query_count_is_flat(ops_client, headers):
    make_run()
    few = count_get_queries(ops_client, reverse("sync_run_list"), headers)
    for _ in range(40):
        make_run(stream="enrollments")
    assert count_get_queries(ops_client, reverse("sync_run_list"), headers) == few


@pytest.mark.parametrize(
    "column", ["id", "started_at", "stream", "mode", "status", "pages", "created"]
)
def test_sync_run_list_columns_sort(ops_client, column):
    make_run(pages=1, created=5)
    make_run(stream="enrollments", mode="incremental", status=RunStatus.FAILED, pages=2, created=1)
    for sort in (column, f"-{column}"):
        response = ops_client.get(reverse("sync_run_list"), {"sort": sort}, headers=HTMX)
        assert response.status_code == 200
        assert len(list(response.context["table"].paginated_rows)) == 2


def test_sync_run_detail_shows_counts_warnings_and_quarantine(manager_client):
    run = make_run(quarantined=1, warnings_count=2, warnings={"unknown field: " + SCRIPT: 2})
    QuarantinedPayload.objects.create(
        run=run, stream="details", meter_id="m-1", error="bad " + SCRIPT, raw_text=SCRIPT
    )
    response = manager_client.get(reverse("sync_run_detail", args=[run.pk]))
    assertTemplateUsed(response, "leapsync/syncrun_detail.html")
    content = response.content.decode()
    assert "m-1" in content and "Fields Leap sent that this version does not use yet" in content
    assert SCRIPT not in content


def test_sync_run_detail_running_fragment_polls(ops_client):
    run = make_run(status=RunStatus.RUNNING, pages=3, pages_expected=12)
    response = ops_client.get(reverse("sync_run_detail", args=[run.pk]), headers=HTMX)
    assertTemplateUsed(response, "leapsync/partials/sync_run.html")
    assertTemplateNotUsed(response, "leapsync/syncrun_detail.html")
    content = response.content.decode()
    assert "every 2s" in content
    assert '<progress max="100" value="25"' in content and "3 of about 12 pages" in content
    done = make_run(pages=12, pages_expected=12)
    assert (
        "<progress"
        not in ops_client.get(reverse("sync_run_detail", args=[done.pk])).content.decode()
    )


def test_sync_run_detail_query_count_is_flat(ops_client):
    run = make_run()
    few = count_get_queries(ops_client, reverse("sync_run_detail", args=[run.pk]))
    for n in range(30):
        QuarantinedPayload.objects.create(run=run, stream="details", meter_id=f"m{n}", error="x")
    assert count_get_queries(ops_client, reverse("sync_run_detail", args=[run.pk])) == few


@pytest.mark.parametrize("mode,task", [("incremental", "run_incremental"), ("full", "run_full")])
def test_sync_run_start_queues_for_admins(
    admin_client, mode, task, django_capture_on_commit_callbacks
):
    assert "Run full now" in admin_client.get(reverse("sync_run_list")).content.decode()
    with (
        mock.patch("leapsync.views.async_task") as queued,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = admin_client.post(reverse("sync_run_start"), {"mode": mode})
    queued.assert_called_once()
    assert queued.call_args.args[0] == f"leapsync.tasks.{task}"
    token = response["Location"].split("queued=")[1]
    assert queued.call_args.kwargs["trigger"] == f"ui:{token}"
    assert queued.call_args.kwargs["task_name"].endswith(f"({token})")


def test_operations_start_an_incremental_sync_but_not_a_full_one(
    ops_client, django_capture_on_commit_callbacks
):
    page = ops_client.get(reverse("sync_run_list")).content.decode()
    assert "Run incremental now" in page and "Run full now" not in page
    with (
        mock.patch("leapsync.views.async_task") as queued,
        django_capture_on_commit_callbacks(execute=True),
    ):
        full = ops_client.post(reverse("sync_run_start"), {"mode": "full"})
        assert full.status_code == 403
        assertTemplateUsed(full, "403.html")
        queued.assert_not_called()
        response = ops_client.post(reverse("sync_run_start"), {"mode": "incremental"})
    assert response.status_code == 302 and "?queued=" in response["Location"]
    assert queued.call_args.args[0] == "leapsync.tasks.run_incremental"


def test_starting_a_sync_takes_the_permission_not_a_group(
    groups, django_capture_on_commit_callbacks
):
    from django.contrib.auth.models import Permission
    from django.test import Client

    user = get_user_model().objects.create_user("perm-only", password="unused-pass-1")
    client = Client()
    client.force_login(user)
    assert client.post(reverse("sync_run_start"), {"mode": "incremental"}).status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="start_sync"))
    with (
        mock.patch("leapsync.views.async_task") as queued,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client.post(reverse("sync_run_start"), {"mode": "incremental"})
    assert response.status_code == 302
    queued.assert_called_once()


def test_managers_may_start_nothing(manager_client):
    page = manager_client.get(reverse("sync_run_list")).content.decode()
    assert "Run incremental now" not in page and "sync/refresh/" not in page
    with mock.patch("leapsync.views.async_task") as queued:
        for name, data in (("sync_run_start", {"mode": "incremental"}), ("sync_refresh_start", {})):
            assert manager_client.post(reverse(name), data).status_code == 403
    queued.assert_not_called()


def test_sync_run_start_rejects_unknown_modes(admin_client):
    with mock.patch("leapsync.views.async_task") as queued:
        admin_client.post(reverse("sync_run_start"), {"mode": "everything"})
    queued.assert_not_called()


def test_operations_queue_a_targeted_refresh_without_calling_leap(
    ops_client, django_capture_on_commit_callbacks
):
    one, two = "7c9e6679-7425-40de-944b-e07fc1f90ae7", "0b1e6a4c-2f4e-4a39-9d0e-3f5c2f6f0a11"
    with (
        mock.patch("leapsync.views.async_task") as queued,
        mock.patch("leapsync.leap.client.LeapClient._request", side_effect=AssertionError),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = ops_client.post(
            reverse("sync_refresh_start"), {"meter_ids": f"{one.upper()},\n{two} {one}"}
        )
    assert response.status_code == 302
    token = response["Location"].split("queued=")[1]
    queued.assert_called_once()
    assert queued.call_args.args == ("leapsync.tasks.refresh_meters", sorted([one, two]))
    assert queued.call_args.kwargs["trigger"] == f"ui:{token}"


@pytest.mark.parametrize("given", ["not-a-meter " + SCRIPT, "", ", ,"])
def test_targeted_refresh_refuses_what_is_not_a_meter_id(ops_client, given):
    with mock.patch("leapsync.views.async_task") as queued:
        response = ops_client.post(reverse("sync_refresh_start"), {"meter_ids": given})
    assert response.status_code == 200
    assertTemplateUsed(response, "leapsync/syncrun_list.html")
    assert response.context["refresh_form"].errors
    assert SCRIPT not in response.content.decode()
    queued.assert_not_called()


def test_targeted_refresh_takes_at_most_one_batch(ops_client):
    ids = " ".join(str(uuid.uuid4()) for _ in range(1001))
    with mock.patch("leapsync.views.async_task") as queued:
        response = ops_client.post(reverse("sync_refresh_start"), {"meter_ids": ids})
    assert "at most 1000" in response.content.decode()
    queued.assert_not_called()


def _finished(run: SyncRun, ago: timedelta = timedelta(seconds=1)) -> None:
    SyncRun.objects.filter(pk=run.pk).update(
        status=RunStatus.SUCCEEDED, finished_at=timezone.now() - ago
    )


def test_sync_page_shows_live_progress_against_the_estimate(ops_client):
    run = make_run(status=RunStatus.RUNNING, pages=4, pages_expected=10, meters_seen=2000)
    SyncRun.objects.filter(pk=run.pk).update(started_at=timezone.now() - timedelta(seconds=20))
    make_run(stream="enrollments", mode="incremental", status=RunStatus.RUNNING, pages=2)
    content = ops_client.get(reverse("sync_run_list"), headers=HTMX).content.decode()
    assert '<progress max="100" value="40"' in content
    assert "4 of about 10 pages" in content and "estimated" in content
    assert "100 meters/s" in content  # 2000 meters in 20 s
    assert "elapsed 20 s" in content and "ETA 30 s" in content  # 6 pages to go at 5 s a page
    assert "no estimate" in content  # the incremental run
    assert 'hx-trigger="every 2s"' in content


def test_sync_page_follows_a_queued_run_to_its_outcome_then_stops_polling(ops_client):
    url = f"{reverse('sync_run_list')}?queued=0123456789abcdef"
    content = ops_client.get(url, headers=HTMX).content.decode()
    assert "Queued: waiting for a worker" in content and 'hx-trigger="every 5s"' in content

    details = make_run(status=RunStatus.RUNNING, trigger="ui:0123456789abcdef", pages=1)
    content = ops_client.get(url, headers=HTMX).content.decode()
    assert "Queued" not in content and "is running" in content
    assert 'hx-trigger="every 2s"' in content

    _finished(details)
    enrollments = make_run(
        stream="enrollments", status=RunStatus.FAILED, trigger="ui:0123456789abcdef"
    )
    SyncRun.objects.filter(pk=enrollments.pk).update(error="LeapError: " + SCRIPT)
    Task.objects.create(
        id="f" * 32,
        name="leapsync: full sync from the Sync page (0123456789abcdef)",
        func="leapsync.tasks.run_full",
        started=timezone.now(),
        stopped=timezone.now(),
        success=False,
    )
    content = ops_client.get(url, headers=HTMX).content.decode()
    assert "Queued" not in content and "did not complete" in content
    assert f"#{details.pk}" in content and f"#{enrollments.pk}" in content
    assert SCRIPT not in content and "Leap answered with an error" in content
    assert "hx-trigger" not in content  # nothing runs: the page stops asking


def test_sync_page_says_when_the_queued_task_failed_before_any_run(ops_client):
    Task.objects.create(
        id="e" * 32,
        name="leapsync: incremental sync from the Sync page (00000000000000aa)",
        func="leapsync.tasks.run_incremental",
        started=timezone.now(),
        stopped=timezone.now(),
        success=False,
        result="Traceback ...\nImproperlyConfigured: " + SCRIPT,
    )
    url = f"{reverse('sync_run_list')}?queued=00000000000000aa"
    content = ops_client.get(url, headers=HTMX).content.decode()
    assert "did not complete" in content and "ImproperlyConfigured" in content
    assert SCRIPT not in content and "hx-trigger" not in content


def test_sync_page_ignores_a_token_it_did_not_make(ops_client):
    content = ops_client.get(f"{reverse('sync_run_list')}?queued=1", headers=HTMX).content
    assert b"Queued" not in content and b"hx-trigger" not in content


def test_sync_page_shows_schedules_and_each_streams_freshness(ops_client, settings):
    settings.SYNC_FRESHNESS_MINUTES = 60
    fresh = make_run()
    SyncCursor.objects.create(stream="details", last_success=fresh)
    old = make_run(stream="enrollments")
    SyncRun.objects.filter(pk=old.pk).update(finished_at=timezone.now() - timedelta(hours=2))
    SyncCursor.objects.create(stream="enrollments", last_success=old)
    response = ops_client.get(reverse("sync_run_list"))
    freshness = {f.stream: f.stale for f in response.context["freshness"]}
    assert freshness == {"details": False, "enrollments": True}
    content = response.content.decode()
    assert "older than 60 min" in content
    names = [row.schedule.name for row in response.context["schedules"]]
    assert "leapsync: incremental sync" in names and "leapsync: full sync" in names
    incremental = next(r for r in response.context["schedules"] if "incremental" in r.schedule.name)
    assert incremental.timing == "every 60 min" and not incremental.overdue
    assert "every 60 min" in content and incremental.schedule.func in content


def test_runs_store_their_progress_page_by_page(leap):
    seen = []

    def progress(run, stats):
        seen.append(SyncRun.objects.get(pk=run.pk).pages)

    sync_full(client=leap, progress=progress)
    assert seen[:3] == [1, 2, 3]


@pytest.mark.parametrize(
    "name",
    [
        "meters:mapping_bulk_accept",
        "meters:reference_bulk_from_site",
        "actions:action_bulk_preview",
    ],
)
def test_bulk_post_over_the_field_limit_answers_with_a_clear_message(ops_client, settings, name):
    """More fields than DATA_UPLOAD_MAX_NUMBER_FIELDS: a page saying what to do, not a crash."""
    fields = {f"f{i}": "x" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)}
    response = ops_client.post(reverse(name), fields)
    assert response.status_code == 400
    assertTemplateUsed(response, "too_many_fields.html")
    assert "Too many items selected" in response.content.decode()


def test_get_over_the_field_limit_answers_with_the_same_message(ops_client, settings):
    query = "&".join(f"f{i}=x" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    response = ops_client.get(f"{reverse('meters:meter_list')}?{query}")
    assert response.status_code == 400
    assert "Too many items selected" in response.content.decode()


def test_ops_read_a_failure_as_a_sentence_and_admins_get_the_details(ops_client, admin_client):
    raw = "LeapUnavailableError: 500 Internal <b>error</b>: {'method': 'PATCH', 'attempts': 5}"
    run = make_run(status=RunStatus.FAILED, error=raw)
    for client in (ops_client, admin_client):
        for url in (reverse("dashboard"), reverse("sync_run_detail", args=[run.pk])):
            page = client.get(url).content.decode()
            assert "Leap did not answer properly, even after several tries" in page
            assert "<b>error</b>" not in page
            assert ("&#x27;method&#x27;" in page) is (client is admin_client), url


def test_an_unknown_exception_is_not_shown_to_ops_and_our_own_sentences_are():
    from leapsync.leap.errors import UNEXPECTED, explain

    assert explain("OperationalError: server closed the connection") == UNEXPECTED
    own = "Abandoned: the process stopped without finishing (its lock died with it)."
    assert explain(own) == own


def test_fields_leap_added_read_as_news_grouped_with_their_counts(ops_client):
    warnings = {
        "unknown field: meter.colour": 3000,
        "unknown field: meter.site.floor": 2990,
        "wrong type for meter.city: expected string, got int": 2,
    }
    run = make_run(warnings=warnings, warnings_count=len(warnings))
    groups = run.warning_groups()
    assert [g.news for g in groups] == [False, True]  # problems first
    assert groups[1].items == [("meter.colour", 3000), ("meter.site.floor", 2990)]
    page = ops_client.get(reverse("sync_run_detail", args=[run.pk])).content.decode()
    assert "Warnings (3)" in page  # each once, with its times
    assert "a field Leap added counts once, with the meters that carried it" in page
    assert "Fields Leap sent that this version does not use yet" in page
    assert "2 kinds, 5990 times" in page
