"""The read replica: list pages read from it; writes, transactions, other pages and other apps'
rows stay on the primary; a replica that cannot be reached costs a page nothing but a log line.

Django's TEST MIRROR makes the replica's connection read the primary's test database (there
is no replication in a test run). Two tests copy that database into a real second one on the
same server, so a page is seen reading a replica that lags: without the rows the primary got
since. Run them with `DATABASE_REPLICA_URL` set (to the same server; .ci/run does).
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, router, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from leapsync import replica
from leapsync.api.models import ApiToken, Scope
from leapsync.replica import PIN_COOKIE, PIN_SECONDS, REPLICA, ReplicaRouter, replica_window
from meters.models import Meter
from tests.api.conftest import bearer, make_token
from tests.meters.factories import (
    MeterEventFactory,
    MeterFactory,
    ProgramEnrollmentFactory,
    RequiredActionFactory,
    SiteFactory,
)

ROOT = Path(__file__).resolve().parents[1]
with_replica = pytest.mark.skipif(
    REPLICA not in settings.DATABASES,
    reason="needs PostgreSQL with a read replica: set DATABASE_URL and DATABASE_REPLICA_URL "
    "(.ci/run sets both)",
)
# The replica's connection is used: tests that read from it commit (a mirror cannot see the
# rows of a test's open transaction) and name both aliases.
on_both = pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPLICA])
LOGGER = "leapsync.replica"


@pytest.fixture(autouse=True)
def _healthy_replica(monkeypatch):
    """Each test starts with the replica not known to be down."""
    monkeypatch.setattr(replica, "health", replica._Health())


@pytest.fixture
def api_writer() -> Client:
    _, secret = make_token("erp", *Scope.values)
    return Client(headers=bearer(secret))


def _replica_tables() -> set[str]:
    return {
        model._meta.db_table
        for label in replica.REPLICA_APPS
        for model in apps.get_app_config(label).get_models()
    }


def _tables(queries: CaptureQueriesContext) -> set[str]:
    return {
        table
        for query in queries.captured_queries
        for table in re.findall(r'(?:FROM|JOIN|UPDATE|INTO) "(\w+)"', query["sql"])
    }


def _get(client, url: str, **headers: str):
    with (
        CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as primary,
        CaptureQueriesContext(connections[REPLICA]) as copy,
    ):
        response = client.get(url, headers=headers)
    assert response.status_code == 200, response.content[:500]
    return response, primary, copy


# --- the list pages ------------------------------------------------------------------------


LIST_PAGES = [
    "meters:meter_list",
    "meters:site_list",
    "meters:change_log",
    "actions:action_list",
    "enrollments:deadline_list",
    "enrollments:market_group_list",
    "enrollments:transition_list",
]


@with_replica
@on_both
@pytest.mark.parametrize("name", LIST_PAGES)
def test_list_page_reads_its_rows_from_the_replica(ops_client, name):
    meter = MeterFactory(open_actions=1, site=SiteFactory())
    ProgramEnrollmentFactory(meter=meter)
    MeterEventFactory(meter=meter)
    # A first visit may compute the page's stored figures: a write, after which that request
    # reads the primary. Later visits write nothing.
    ops_client.get(reverse(name))
    for headers in ({}, {"HX-Request": "true"}):
        _, primary, copy = _get(ops_client, reverse(name), **headers)
        # The session, the user, the permissions and the person's list preferences are read
        # where they are written; every row the list shows comes from the replica.
        assert not _tables(primary) & _replica_tables(), primary.captured_queries
        assert _tables(copy) & _replica_tables()


@with_replica
@on_both
def test_meters_list_shows_the_replica_and_a_mapping_is_written_on_the_primary(ops_client):
    meter, site = MeterFactory(), SiteFactory(name="Warehouse 7")
    response, _, copy = _get(ops_client, reverse("meters:meter_list"))
    assert str(meter.meter_id)[:8] in response.content.decode()
    assert "meters_meter" in _tables(copy)

    url = reverse("meters:meter_map", args=[meter.meter_id])
    with (
        CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as primary,
        CaptureQueriesContext(connections[REPLICA]) as copy,
    ):
        response = ops_client.post(url, {"site": site.pk})
    assert response.status_code in (200, 302)
    assert copy.captured_queries == []  # a form POST reads and writes the primary only
    writes = [q["sql"] for q in primary.captured_queries if q["sql"].startswith("UPDATE")]
    assert any('"meters_meter"' in sql for sql in writes)
    assert Meter.objects.get(pk=meter.pk).site == site


@with_replica
@on_both
def test_api_lists_read_from_the_replica_and_the_token_from_the_primary():
    meter = MeterFactory(site=SiteFactory())
    RequiredActionFactory(meter=meter)
    enrollment = ProgramEnrollmentFactory(meter=meter)
    _, secret = make_token("bi", Scope.READ)
    client = Client(headers=bearer(secret))
    # The first request writes the token's last use (at most once a minute): a write, after
    # which that request reads the primary.
    _, primary, copy = _get(client, reverse("api:meter_list"))
    assert "meters_meter" in _tables(primary) and copy.captured_queries == []
    roster = (
        f"{reverse('api:roster')}?program={enrollment.program_identifier}"
        f"&delivery_period={enrollment.delivery_period}"
    )
    lists = [reverse(f"api:{name}") for name in ("meter_list", "site_list", "action_list")]
    for url in [*lists, roster, reverse("api:deadlines")]:
        client.get(url)  # the deadlines' first request computes their figures: a write
        _, primary, copy = _get(client, url)
        assert not _tables(primary) & _replica_tables(), primary.captured_queries
        assert ApiToken._meta.db_table in _tables(primary)
        assert _tables(copy) & _replica_tables()


@with_replica
@on_both
def test_a_page_that_is_no_list_reads_the_primary(ops_client):
    meter = MeterFactory()
    url = reverse("meters:meter_detail", args=[meter.meter_id])
    _, primary, copy = _get(ops_client, url)
    assert copy.captured_queries == []
    assert "meters_meter" in _tables(primary)


# --- the rule ------------------------------------------------------------------------------


@with_replica
@on_both
def test_a_read_after_a_write_in_the_same_request_goes_to_the_primary():
    meter = MeterFactory()
    route = router.db_for_read
    with replica_window("GET"):
        assert route(Meter) == REPLICA
        Meter.objects.filter(pk=meter.pk).update(partner_reference="changed")
        assert route(Meter) == DEFAULT_DB_ALIAS
        assert Meter.objects.get(pk=meter.pk).partner_reference == "changed"
    with replica_window("GET"):  # the next request reads the replica again
        assert route(Meter) == REPLICA


@with_replica
@on_both
def test_reads_inside_a_transaction_go_to_the_primary():
    with replica_window("GET"):
        with transaction.atomic():
            assert router.db_for_read(Meter) == DEFAULT_DB_ALIAS
        assert router.db_for_read(Meter) == REPLICA


@with_replica
@on_both
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_only_safe_requests_open_a_window(method):
    with replica_window(method):
        assert router.db_for_read(Meter) == DEFAULT_DB_ALIAS


@with_replica
@on_both
@pytest.mark.parametrize("label", ["auth", "sessions", "contenttypes", "api", "preferences"])
def test_other_apps_rows_are_read_from_the_primary_even_in_a_window(label):
    model = next(iter(apps.get_app_config(label).get_models()))
    with replica_window("GET"):
        assert router.db_for_read(model) == DEFAULT_DB_ALIAS
        assert router.db_for_read(Meter) == REPLICA


@with_replica
def test_outside_a_window_everything_goes_to_the_primary():
    """The sync, django-q2, the admin and every other page: no window, no replica."""
    assert router.db_for_read(Meter) == DEFAULT_DB_ALIAS
    assert router.db_for_write(Meter) == DEFAULT_DB_ALIAS


@with_replica
def test_migrations_run_on_the_primary_only():
    routing = ReplicaRouter()
    assert routing.allow_migrate(REPLICA, "meters") is False
    assert routing.allow_migrate(DEFAULT_DB_ALIAS, "meters") is True
    assert settings.DATABASES[REPLICA]["TEST"]["MIRROR"] == DEFAULT_DB_ALIAS


# --- a real second database: what a lagging replica shows ---------------------------------


@pytest.fixture
def lagging_replica():
    """Takes a copy of the test database and points the replica's connection at it: rows the
    primary gets later are missing from it, as from a replica that has not caught up."""
    replica_settings = connections[REPLICA].settings_dict
    source = connections[DEFAULT_DB_ALIAS].settings_dict["NAME"]
    name, copy = replica_settings["NAME"], f"{source}_lagging"

    def take_copy() -> None:
        connections.close_all()  # PostgreSQL copies a database nobody is connected to
        with connections[DEFAULT_DB_ALIAS]._nodb_cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{copy}"')
            cursor.execute(f'CREATE DATABASE "{copy}" TEMPLATE "{source}"')
        replica_settings["NAME"] = copy

    yield take_copy
    connections[REPLICA].close()
    replica_settings["NAME"] = name
    with connections[DEFAULT_DB_ALIAS]._nodb_cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')


@with_replica
@on_both
def test_a_list_reads_another_database_and_shows_a_new_row_once_the_replica_has_it(
    ops_client, lagging_replica
):
    early = MeterFactory()
    lagging_replica()
    late = MeterFactory()  # written on the primary after the replica's copy was taken
    response, _, copy = _get(ops_client, reverse("meters:meter_list"))
    page = response.content.decode()
    assert "meters_meter" in _tables(copy)
    assert str(early.meter_id)[:8] in page
    assert str(late.meter_id)[:8] not in page
    # The primary has it: outside a window, and in a window once the request has written.
    assert Meter.objects.filter(pk=late.pk).exists()
    with replica_window("GET"):
        assert not Meter.objects.filter(pk=late.pk).exists()
        Meter.objects.filter(pk=early.pk).update(partner_reference="edited")
        assert Meter.objects.filter(pk=late.pk).exists()


@with_replica
@on_both
def test_a_mapping_shows_at_once_to_who_saved_it_and_to_others_once_the_replica_has_it(
    ops_client, manager_client, lagging_replica
):
    meter, site = MeterFactory(), SiteFactory(name="Warehouse 7")
    url = reverse("meters:meter_list")
    manager_client.get(url)  # the colleague's session exists before the copy
    lagging_replica()
    response = ops_client.post(
        reverse("meters:meter_map", args=[meter.meter_id]), {"site": site.pk}
    )
    assert response.status_code in (200, 302)
    assert response.cookies[PIN_COOKIE]["max-age"] == PIN_SECONDS

    mine, _, copy = _get(ops_client, url)  # pinned to the primary for a few seconds
    assert "Warehouse 7" in mine.content.decode()
    assert not _tables(copy) & _replica_tables()
    theirs, _, copy = _get(manager_client, url)  # the replica has not caught up yet
    assert "Warehouse 7" not in theirs.content.decode()
    assert "meters_meter" in _tables(copy)
    del ops_client.cookies[PIN_COOKIE]  # the pin's seconds are over
    mine, _, copy = _get(ops_client, url)
    assert "Warehouse 7" not in mine.content.decode()


@with_replica
@on_both
def test_api_writes_set_no_pin(api_writer):
    response = api_writer.put(
        reverse("api:meter_reference", args=[MeterFactory().meter_id]),
        {"partner_reference": "REF-1"},
        content_type="application/json",
    )
    assert response.status_code == 202
    assert PIN_COOKIE not in response.cookies


# --- a replica that is down ----------------------------------------------------------------


@pytest.fixture
def missing_replica():
    """The replica pointed at a database that does not exist."""
    replica_settings = connections[REPLICA].settings_dict
    name = replica_settings["NAME"]
    connections[REPLICA].close()
    replica_settings["NAME"] = "replica_does_not_exist"
    yield
    connections[REPLICA].close()
    replica_settings["NAME"] = name


@with_replica
@on_both
def test_a_list_reads_the_primary_when_the_replica_is_down(ops_client, missing_replica, caplog):
    meter = MeterFactory()
    url = reverse("meters:meter_list")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        for _ in range(3):
            response = ops_client.get(url)
            assert response.status_code == 200
            assert str(meter.meter_id)[:8] in response.content.decode()
    down = [r for r in caplog.records if r.name == LOGGER]
    assert len(down) == 1  # logged once, not once per request
    assert "read replica failed" in down[0].getMessage()
    assert "replica_does_not_exist" in down[0].getMessage()


@with_replica
@on_both
def test_a_replica_failing_under_a_page_is_read_again_from_the_primary(
    ops_client, missing_replica, monkeypatch, caplog
):
    """The replica passed the request's check, then failed at the page's first query."""
    meter = MeterFactory()
    monkeypatch.setattr(replica.health, "reachable", lambda: True)
    with (
        caplog.at_level(logging.WARNING, logger=LOGGER),
        CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as primary,
    ):
        response = ops_client.get(reverse("meters:meter_list"))
    assert response.status_code == 200
    assert str(meter.meter_id)[:8] in response.content.decode()
    assert "meters_meter" in _tables(primary)
    assert [r.getMessage()[:25] for r in caplog.records if r.name == LOGGER] == [
        "The read replica failed ("
    ]


@with_replica
@on_both
def test_the_replica_is_tried_again_and_used_once_it_is_back(ops_client, caplog):
    meter = MeterFactory()
    replica_settings = connections[REPLICA].settings_dict
    name = replica_settings["NAME"]
    url = reverse("meters:meter_list")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        replica_settings["NAME"] = "replica_does_not_exist"
        try:
            with CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as primary:
                assert ops_client.get(url).status_code == 200
        finally:
            connections[REPLICA].close()
            replica_settings["NAME"] = name
        assert "meters_meter" in _tables(primary)
        _, primary, copy = _get(ops_client, url)  # within the retry interval: primary still
        assert "meters_meter" in _tables(primary)
        replica.health.retry_at = 0.0  # the interval has passed
        response, primary, copy = _get(ops_client, url)
    assert "meters_meter" in _tables(copy) and "meters_meter" not in _tables(primary)
    assert str(meter.meter_id)[:8] in response.content.decode()
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert len(messages) == 2 and "reachable again" in messages[1]


# --- settings ------------------------------------------------------------------------------


def _settings(**env: str) -> subprocess.CompletedProcess:
    show = (
        "from django.conf import settings; "
        "print(sorted(settings.DATABASES), settings.DATABASE_ROUTERS, "
        "[m for m in settings.MIDDLEWARE if 'replica' in m])"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", show],
        check=False,
        cwd=ROOT,
        env={**clean, "DEBUG": "1", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_without_a_replica_url_there_is_one_database_and_no_router():
    result = _settings(DATABASE_URL="sqlite:///:memory:")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[-2] == "['default'] [] []"


def test_a_replica_url_adds_the_alias_and_the_router():
    result = _settings(
        DATABASE_URL="postgres://u@db.example:5432/leapsync",
        DATABASE_REPLICA_URL="postgres://u@replica.example:5432/leapsync",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[-2] == (
        "['default', 'replica'] ['leapsync.replica.ReplicaRouter'] "
        "['leapsync.replica.PinAfterWriteMiddleware']"
    )


def test_a_replica_needs_postgresql_on_both_sides():
    result = _settings(
        DATABASE_URL="sqlite:///:memory:",
        DATABASE_REPLICA_URL="postgres://u@replica.example:5432/leapsync",
    )
    assert result.returncode != 0
    assert "DATABASE_REPLICA_URL" in result.stderr
