"""The change feed: every event once, in order, across pages, while events are written, and
(on PostgreSQL) while a transaction holding a lower id is still open."""

from __future__ import annotations

import random
import threading
import time
from datetime import datetime

import psycopg
import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from leapsync.sync import sync_full
from meters.models import EventKind, Meter, MeterEvent, Site
from meters.services import map_meter, unmap_meter

FEED = "/api/v1/changes/"
# Committed for real: on PostgreSQL the feed serves only events of finished transactions, and a
# test's own transaction would hold every event back.
committed_db = pytest.mark.django_db(transaction=True)


def _read_to_end(client, after: str, limit: int = 7) -> tuple[list[dict], str]:
    events = []
    while True:
        body = client.get(f"{FEED}?after={after}&limit={limit}").json()
        events += body["results"]
        after = body["next"]
        if not body["has_more"]:
            return events, after


def _in_feed_order() -> list[int]:
    return list(MeterEvent.objects.order_by("txid", "id").values_list("id", flat=True))


@committed_db
def test_feed_serves_every_event_once_in_order(api, leap):
    sync_full(client=leap)
    events, cursor = _read_to_end(api, "")
    assert [e["id"] for e in events] == _in_feed_order()
    # Caught up: an empty page that keeps the cursor.
    body = api.get(f"{FEED}?after={cursor}").json()
    assert body == {"results": [], "next": cursor, "has_more": False}
    assert api.get(reverse("api:change_feed_head")).json() == {"cursor": cursor}


@committed_db
def test_events_written_while_a_client_pages_are_served_once(api, leap, django_user_model):
    sync_full(client=leap)
    person = django_user_model.objects.create(username="pat")
    site = Site.objects.create(external_id="S-1")
    meters = iter(Meter.objects.order_by("pk"))
    seen, after = [], ""
    while True:
        body = api.get(f"{FEED}?after={after}&limit=50").json()
        seen += [e["id"] for e in body["results"]]
        after = body["next"]
        meter = next(meters, None)
        if meter is not None and len(seen) < 400:  # a write between every two pages
            map_meter(meter, site, actor=person, source="manual")
            continue
        if not body["has_more"]:
            break
    assert len(seen) == len(set(seen))
    assert seen == _in_feed_order()


@committed_db
def test_feed_filters_as_the_change_log(api, leap, django_user_model):
    sync_full(client=leap)
    meter = Meter.objects.first()
    person = django_user_model.objects.create(username="pat")
    map_meter(meter, Site.objects.create(external_id="S-1"), actor=person, source="manual")
    unmap_meter(meter, actor=person)
    response = api.get(f"{FEED}?kind=site_mapped&user=pat")
    assert [e["new"] for e in response.json()["results"]] == ["S-1", ""]
    assert all(e["user"] == "pat" for e in response.json()["results"])


@pytest.mark.django_db
@pytest.mark.parametrize("cursor", ["abc", "1-", "-1", "1-2-3", "9" * 30 + "-1"])
def test_a_cursor_the_feed_never_gave_is_a_400_problem(api, cursor):
    response = api.get(f"{FEED}?after={cursor}")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "after"


def _insert_event_sql() -> str:
    return (
        "INSERT INTO meters_meterevent (meter_id, kind, field, program_identifier, "
        "delivery_period, owner, action_type, action_code, old, new, observed_at, token_name) "
        "VALUES (%s, %s, '', '', '', '', '', '', '', %s, %s, '') RETURNING id"
    )


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite has one writer at a time: ids are taken in commit order, nothing to hold back",
)
@pytest.mark.django_db(transaction=True)
def test_an_event_committed_late_with_a_lower_id_is_never_skipped(api):
    meter = Meter.objects.create(meter_id="00000000-0000-0000-0000-000000000001")
    now: datetime = timezone.now()
    MeterEvent.objects.create(meter=meter, kind=EventKind.FIRST_SEEN, observed_at=now)
    slow = psycopg.connect(**connection.get_connection_params())  # its own transaction
    try:
        low = slow.execute(_insert_event_sql(), [meter.pk, "site_mapped", "LOW", now]).fetchone()
        # A later transaction takes a higher id and commits first.
        high = MeterEvent.objects.create(
            meter=meter, kind=EventKind.SITE_MAPPED, new="HIGH", observed_at=now
        )
        assert high.pk > low[0]
        events, cursor = _read_to_end(api, "")
        # Neither is served while the older transaction runs: HIGH is held back behind it.
        assert [e["new"] for e in events] == [""]
        slow.commit()
    finally:
        slow.close()
    more, _ = _read_to_end(api, cursor)
    assert [e["new"] for e in more] == ["LOW", "HIGH"]


@committed_db
def test_every_writer_leaves_the_transaction_id_to_the_database(leap, django_user_model):
    """The sync's COPY writer, bulk_create and save() all omit txid: the column default fills
    it (the writing transaction's id on PostgreSQL, 0 on SQLite)."""
    sync_full(client=leap)
    meter = Meter.objects.first()
    map_meter(
        meter,
        Site.objects.create(external_id="S-1"),
        actor=django_user_model.objects.create(username="p"),
        source="manual",
    )
    txids = set(MeterEvent.objects.values_list("txid", flat=True))
    if connection.vendor == "postgresql":
        assert len(txids) > 2 and 0 not in txids  # one per sync page, one for the mapping
    else:
        assert txids == {0}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's snapshots only")
@pytest.mark.django_db(transaction=True)
def test_a_write_transaction_in_another_database_holds_nothing_back(api):
    """The server's snapshot xmin counts every database's transactions; the feed's watermark
    leaves out those pg_stat_activity places elsewhere."""
    elsewhere = psycopg.connect(**{**connection.get_connection_params(), "dbname": "postgres"})
    try:
        elsewhere.execute("SELECT pg_current_xact_id()")  # takes an id, stays open
        meter = Meter.objects.create(meter_id="00000000-0000-0000-0000-000000000002")
        MeterEvent.objects.create(
            meter=meter, kind=EventKind.FIRST_SEEN, observed_at=timezone.now()
        )
        events, _ = _read_to_end(api, "")
        assert len(events) == 1
    finally:
        elsewhere.close()


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite has one writer at a time: ids are taken in commit order, nothing to hold back",
)
@pytest.mark.django_db(transaction=True)
def test_a_reader_paging_while_writers_commit_out_of_order_sees_each_event_once(api):
    """Four writers insert events in transactions that take their ids, wait a random while and
    commit (one in five rolls back) while the feed is read page after page: at the end the
    reader has every committed event exactly once and none of the rolled-back ones."""
    meter = Meter.objects.create(meter_id="00000000-0000-0000-0000-000000000003")
    params = connection.get_connection_params()
    sql, now = _insert_event_sql(), timezone.now()
    committed_ids: list[int] = []
    lock = threading.Lock()

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        with psycopg.connect(**params, autocommit=True) as conn:
            for n in range(40):
                rolled_back = rng.random() < 0.2
                with conn.transaction():
                    ids = [
                        conn.execute(sql, [meter.pk, "site_mapped", f"{seed}-{n}", now]).fetchone()[
                            0
                        ]
                        for _ in range(rng.randint(1, 3))
                    ]
                    time.sleep(rng.random() / 30)
                    if rolled_back:
                        raise psycopg.Rollback()
                if not rolled_back:
                    with lock:
                        committed_ids.extend(ids)

    api.get(FEED)  # the first answer builds the schema the client checks against: not timed
    threads = [threading.Thread(target=writer, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    seen, cursor = [], ""
    live = 0
    while any(thread.is_alive() for thread in threads):
        body = api.get(f"{FEED}?after={cursor}&limit=3").json()
        seen += [event["id"] for event in body["results"]]
        cursor = body["next"]
        live += 1
    assert live > 10 and seen  # the reader did page while the writers wrote
    for thread in threads:
        thread.join()
    more, _ = _read_to_end(api, cursor)
    seen += [event["id"] for event in more]
    assert len(seen) == len(set(seen))
    assert sorted(seen) == sorted(committed_ids)


@pytest.mark.django_db
def test_the_feeds_hand_built_events_are_drfs(leap, django_user_model):
    """EventSerializer builds its dict by hand for speed: it must equal what its declared
    fields (the schema) give through DRF's own path."""
    from rest_framework import serializers

    from leapsync.api.serializers import EventSerializer
    from leapsync.api.views import _events

    sync_full(client=leap)
    person = django_user_model.objects.create(username="u")
    first, second = Meter.objects.order_by("pk")[:2]
    map_meter(first, Site.objects.create(external_id="S-1"), actor=person, source="manual")
    MeterEvent.objects.create(  # as a partner_reference push for an API token records it
        meter=second,
        kind=EventKind.PARTNER_REFERENCE,
        field="partner_reference",
        new="NEW-REF",
        observed_at=timezone.now(),
        token_name="erp",
    )
    events = list(_events().order_by("-id")[:40])
    assert any(e.user_id for e in events) and any(e.token_name for e in events)
    assert any(e.sync_run_id for e in events)
    for event in events:
        fast = EventSerializer(event).data
        slow = serializers.Serializer.to_representation(EventSerializer(), event)
        assert fast == dict(slow)
        assert list(fast) == list(slow)
