"""Participation changes: one row per transition, on the page and in the CSV."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from enrollments.models import ParticipationPeriod
from tests.meters.factories import MeterFactory, ParticipationPeriodFactory

pytestmark = pytest.mark.django_db


def _schedule(meter, *periods):
    for preference, start, end in periods:
        ParticipationPeriodFactory(
            meter=meter,
            participation_preference=preference,
            start_time=start,
            end_time=end,
            is_open_ended=end is None,
        )


def _transitions(now):
    rows = ParticipationPeriod.objects.transitions(now, now + timedelta(days=30))
    return sorted((r.meter_id, r.transition_at, r.transition_to) for r in rows)


def test_an_idle_window_ending_where_the_next_period_starts_is_one_transition():
    now = timezone.now()
    t1, t2 = now + timedelta(days=1), now + timedelta(days=2)
    meter = MeterFactory()
    _schedule(meter, ("IDLE", now - timedelta(days=1), t1), ("PARTICIPATE", t1, t2))
    _schedule(meter, ("IDLE", t2, None))
    assert _transitions(now) == [(meter.pk, t1, "PARTICIPATE"), (meter.pk, t2, "IDLE")]


def test_an_idle_window_ending_into_disenroll_is_not_a_return_to_participate():
    now = timezone.now()
    t1 = now + timedelta(days=1)
    meter = MeterFactory()
    _schedule(meter, ("IDLE", now - timedelta(days=1), t1), ("DISENROLL", t1, None))
    assert _transitions(now) == [(meter.pk, t1, "DISENROLL")]


def test_an_idle_window_with_nothing_after_it_ends_in_participate():
    now = timezone.now()
    t1 = now + timedelta(days=1)
    meter = MeterFactory()
    _schedule(meter, ("IDLE", now - timedelta(days=1), t1))
    assert _transitions(now) == [(meter.pk, t1, "PARTICIPATE")]


def test_the_page_and_the_csv_list_each_transition_once(ops_client):
    now = timezone.now()
    t1, t2 = now + timedelta(days=1), now + timedelta(days=2)
    for _ in range(3):
        meter = MeterFactory()
        _schedule(meter, ("IDLE", now - timedelta(days=1), t1), ("PARTICIPATE", t1, t2))
        _schedule(meter, ("IDLE", t2, None))
    response = ops_client.get(reverse("enrollments:transition_list"))
    assert len(response.context["table"].rows) == 6
    export = ops_client.get(reverse("enrollments:transition_export"))
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert len(rows) - 1 == 6


def test_two_preferences_ticked_list_the_transitions_to_either(ops_client):
    now = timezone.now()
    t1, t2, t3 = (now + timedelta(days=d) for d in (1, 2, 3))
    meter = MeterFactory()
    _schedule(meter, ("PARTICIPATE", now - timedelta(days=1), t1), ("IDLE", t1, t2))
    _schedule(meter, ("DISENROLL", t2, t3), ("PARTICIPATE", t3, None))
    url = reverse("enrollments:transition_list")
    response = ops_client.get(url, {"to": ["IDLE", "DISENROLL"]})
    rows = response.context["table"].rows
    assert sorted(row.record.transition_to for row in rows) == ["DISENROLL", "IDLE"]
    assert len(ops_client.get(url).context["table"].rows) == 3
    assert 'type="checkbox" name="to" value="IDLE"' in response.content.decode()


# --- the market group roster's pickers ------------------------------------------------------


def test_choosing_another_program_offers_that_programs_periods(ops_client):
    from tests.meters.factories import ProgramEnrollmentFactory

    ProgramEnrollmentFactory(program_identifier="PJM", delivery_period="PJM-2026")
    ProgramEnrollmentFactory(program_identifier="ERCOT", delivery_period="ERCOT-2026")
    url = reverse("enrollments:market_group_list")
    response = ops_client.get(url, {"program": "ERCOT", "period": ""}, HTTP_HX_REQUEST="true")
    text = response.content.decode()
    periods = re.findall(r'<option value="([^"]+)"', text.split('id="id_period"')[1])
    assert periods == ["ERCOT-2026"]  # the pickers are swapped with the roster
    assert 'id="market-group-roster"' in text


def test_a_period_not_listed_for_the_program_says_so(ops_client):
    from tests.meters.factories import ProgramEnrollmentFactory

    ProgramEnrollmentFactory(program_identifier="PJM", delivery_period="PJM-2026")
    url = reverse("enrollments:market_group_list")
    response = ops_client.get(url, {"program": "PJM", "period": "ERCOT-2026"})
    text = response.content.decode()
    assert "Run a sync first" not in text
    assert "No delivery period “ERCOT-2026” is listed for PJM" in text
