"""Every filter of the meters list narrows the set to exactly the meters it names."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.http import QueryDict
from django.utils import timezone

from meters.filters import MeterFilterSet
from meters.models import Meter
from tests.meters.factories import (
    EnrollmentDeadlineFactory,
    MeterFactory,
    ParticipationPeriodFactory,
    ProgramEnrollmentFactory,
    RequiredActionFactory,
    SiteFactory,
)

pytestmark = pytest.mark.django_db


def matching(**params) -> set[str]:
    data = QueryDict(urlencode(params, doseq=True))
    filterset = MeterFilterSet(data, queryset=Meter.objects.for_list())
    assert filterset.is_valid(), filterset.errors
    return {m.partner_reference for m in filterset.qs}


@pytest.fixture
def plain():
    """A meter no filter below should select (besides the negated ones)."""
    return MeterFactory(partner_reference="plain", status="PENDING", end_customer_name="Bob")


def test_q_searches_identifiers_names_addresses_and_accounts(plain):
    MeterFactory(partner_reference="hit-name", end_customer_name="Zoë Dubois")
    MeterFactory(partner_reference="hit-street", street_1="1 Cañada Blvd")
    MeterFactory(partner_reference="hit-account", electric_service_account_number="99-887")
    MeterFactory(partner_reference="hit-site", site=SiteFactory(utility_account_number="UA-7"))
    target = MeterFactory(partner_reference="hit-id")
    assert matching(q="zoë") == {"hit-name"}
    assert matching(q="cañada") == {"hit-street"}
    assert matching(q="99-887") == {"hit-account"}
    assert matching(q="UA-7") == {"hit-site"}
    assert matching(q=str(target.meter_id)) == {"hit-id"}
    assert matching(q="hit-s") == {"hit-street", "hit-site"}
    assert "plain" in matching(q="  ")


ACCENTED = [
    ("end_customer_name", "Nguyễn Văn An", "NGUYEN van"),
    ("end_customer_company_name", "Société Générale", "societe generale"),
    ("street_1", "12 Calle San José", "san jose"),
    ("city", "Łódź", "Lodz"),
    ("electric_service_account_number", "ÅB-Ø1", "ab-o1"),
    ("partner_reference", "Łukasz-7", "lukasz-7"),
]


@pytest.mark.parametrize(("field", "stored", "typed"), ACCENTED)
def test_q_ignores_accents_and_case(plain, field, stored, typed):
    MeterFactory(**({"partner_reference": "hit"} | {field: stored}))
    assert matching(q=typed) == ({stored} if field == "partner_reference" else {"hit"})
    # And the other way round: accents typed, none stored.
    MeterFactory(partner_reference="plain-twin", end_customer_name="Francois Nguyen")
    assert matching(q="François NGUYỄN") == {"plain-twin"}


@pytest.mark.parametrize(
    ("site", "typed"),
    [({"name": "Dépôt Łukasz"}, "depot lukasz"), ({"external_id": "SITE-ÉTÉ-9"}, "site-ete")],
)
def test_q_finds_meters_by_their_sites_ignoring_accents(plain, site, typed):
    MeterFactory(partner_reference="hit", site=SiteFactory(**site))
    assert matching(q=typed) == {"hit"}


@pytest.mark.parametrize("typed", ["0002d62f", "0002D6", "0002d62f-1a", "0002d62f1a2b"])
def test_q_finds_a_meter_by_a_short_id(plain, typed):
    MeterFactory(partner_reference="hit", meter_id="0002d62f-1a2b-4c3d-8e4f-001122334455")
    MeterFactory(partner_reference="next", meter_id="0002d700-0000-4000-8000-000000000000")
    assert matching(q=typed) == {"hit"}


def test_q_short_ids_need_six_hex_digits(plain):
    MeterFactory(partner_reference="hit", meter_id="0002d62f-1a2b-4c3d-8e4f-001122334455")
    assert matching(q="0002d") == set()


@pytest.mark.parametrize("inlined", [1000, 1])
def test_q_finds_meters_by_their_sites_with_few_or_many_matching_sites(plain, monkeypatch, inlined):
    # Few matching sites are inlined as ids (indexable); past the limit, a subquery.
    monkeypatch.setattr("meters.filters.SITE_IDS_INLINED", inlined)
    MeterFactory(partner_reference="north", site=SiteFactory(name="Depot North", external_id="S-1"))
    MeterFactory(partner_reference="south", site=SiteFactory(name="Depot South", external_id="S-2"))
    SiteFactory(name="Depot East")
    assert matching(q="depot") == {"north", "south"}
    assert matching(q="s-2") == {"south"}
    assert matching(q="no such site") == set()


def test_global_status_narrows(plain):
    MeterFactory(partner_reference="a", status="ACTIVE")
    MeterFactory(partner_reference="i", status="INELIGIBLE")
    assert matching(global_status="ACTIVE") == {"a"}
    assert matching(global_status=["ACTIVE", "INELIGIBLE"]) == {"a", "i"}


def test_program_row_filters_narrow_and_combine_on_one_row(plain):
    both = MeterFactory(partner_reference="both")
    ProgramEnrollmentFactory(
        meter=both,
        program_identifier="DRAM",
        enrollment_status="ACTIVE",
        delivery_period="DRAM_NOV",
        market_group_name="MG1",
    )
    split = MeterFactory(partner_reference="split")
    ProgramEnrollmentFactory(meter=split, program_identifier="DRAM", enrollment_status="PENDING")
    ProgramEnrollmentFactory(meter=split, program_identifier="ELRP", enrollment_status="ACTIVE")
    ProgramEnrollmentFactory(meter=plain, program_identifier="DRAM", listed=False)
    assert matching(program="DRAM") == {"both", "split"}
    assert matching(program="dram", program_status="ACTIVE") == {"both"}
    assert matching(delivery_period="DRAM_NOV") == {"both"}
    assert matching(program_status="ACTIVE") == {"both", "split"}
    assert matching(market_group="MG1") == {"both"}


def test_market_group_by_id(plain):
    meter = MeterFactory(partner_reference="mg")
    row = ProgramEnrollmentFactory(
        meter=meter, market_group_id="33f66162-bd6a-4fa2-a405-cfda125c3054"
    )
    assert matching(market_group=str(row.market_group_id)) == {"mg"}


def test_deadline_filter_matches_the_local_day(plain):
    meter = MeterFactory(partner_reference="due")
    deadline = timezone.now() + timedelta(days=5)
    EnrollmentDeadlineFactory(
        program_enrollment=ProgramEnrollmentFactory(meter=meter, program_identifier="DRAM"),
        enrollment_deadline_date_time=deadline,
    )
    day = timezone.localdate(deadline).isoformat()
    assert matching(program="DRAM", deadline=day) == {"due"}
    assert (
        matching(deadline=(timezone.localdate(deadline) + timedelta(days=1)).isoformat()) == set()
    )


@pytest.mark.parametrize(
    "param,value,attrs",
    [
        ("meter_type", "DEVICE", {"meter_type": "DEVICE"}),
        ("region", "PJM", {"transmission_region": "PJM"}),
        ("classification", "COMMERCIAL", {"customer_classification": "COMMERCIAL"}),
        ("load_type", "EV_CHARGING", {"load_types": ["HVAC", "EV_CHARGING"]}),
        ("tag", "vip", {"tags": ["vip"]}),
        ("tag", "Zoë's pilot", {"tags": ["x", "Zoë's pilot"]}),
        ("tag", "solar|storage", {"tags": ["solar|storage"]}),
        ("archived", "true", {"is_archived": True}),
        ("missing", "true", {"missing_from_leap": True}),
    ],
)
def test_simple_filters_narrow(plain, param, value, attrs):
    MeterFactory(partner_reference="hit", **attrs)
    MeterFactory(partner_reference="near", tags=["vipx", "pilot"], load_types=["EV"])
    assert matching(**{param: value}) == {"hit"}


def test_flags_false_exclude(plain):
    MeterFactory(partner_reference="arch", is_archived=True)
    assert "arch" not in matching(archived="false")
    assert "plain" in matching(archived="false")


def test_mapping_filter(plain):
    MeterFactory(partner_reference="mapped", site=SiteFactory())
    assert matching(mapping="mapped") == {"mapped"}
    assert matching(mapping="unmapped") == {"plain"}


def test_reference_filter_set_empty_shared(plain):
    MeterFactory(partner_reference="")
    MeterFactory(partner_reference="twin")
    MeterFactory(partner_reference="twin")
    assert matching(reference="empty") == {""}
    assert matching(reference="shared") == {"twin"}
    assert matching(reference="set") == {"plain", "twin"}


def test_open_action_filters(plain):
    MeterFactory(partner_reference="open", open_actions=1)
    resolved = MeterFactory(partner_reference="resolved")
    RequiredActionFactory(meter=resolved, resolved_at=timezone.now())
    leap_owned = MeterFactory(partner_reference="leap")
    RequiredActionFactory(meter=leap_owned, owner="leap")
    docs = MeterFactory(partner_reference="docs")
    RequiredActionFactory(meter=docs, action_type="DOCUMENTS_SIGNED")
    assert matching(open_action="true") == {"open", "docs"}
    assert matching(open_action="false") == {"plain", "resolved", "leap"}
    assert matching(action_type="DOCUMENTS_SIGNED") == {"docs"}


@pytest.mark.parametrize("bucket,days", [("past", -1), ("7d", 3), ("30d", 20), ("later", 90)])
def test_action_deadline_buckets(plain, bucket, days):
    for other in (-1, 3, 20, 90):
        meter = MeterFactory(partner_reference=f"d{other}")
        RequiredActionFactory(
            meter=meter, enrollment_deadline_date_time=timezone.now() + timedelta(days=other)
        )
    assert matching(action_deadline=bucket) == {f"d{days}"}


def test_turns_idle_within(plain):
    soon = MeterFactory(partner_reference="soon")
    ParticipationPeriodFactory(
        meter=soon, participation_preference="IDLE", start_time=timezone.now() + timedelta(days=2)
    )
    late = MeterFactory(partner_reference="late")
    ParticipationPeriodFactory(
        meter=late,
        participation_preference="DISENROLL",
        start_time=timezone.now() + timedelta(days=20),
    )
    stays = MeterFactory(partner_reference="stays")
    ParticipationPeriodFactory(meter=stays, start_time=timezone.now() + timedelta(days=1))
    assert matching(turns_idle_within=7) == {"soon"}
    assert matching(turns_idle_within=30) == {"soon", "late"}


def test_filters_never_duplicate_rows(plain):
    meter = MeterFactory(partner_reference="many", open_actions=3)
    for _ in range(3):
        ProgramEnrollmentFactory(meter=meter, program_identifier="DRAM")
    data = QueryDict("program=DRAM&open_action=true&action_deadline=7d")
    assert MeterFilterSet(data, queryset=Meter.objects.for_list()).qs.count() == 1
