"""Two people saving the same meter's partner_reference at the same moment (PostgreSQL)."""

from __future__ import annotations

import threading
import time

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from meters import services
from meters.models import PartnerReferenceChange
from meters.services import ReferenceRefused, Seen, set_partner_reference
from tests.meters.factories import MeterFactory


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_saves_from_the_same_page_one_wins_one_sees_the_conflict(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (two connections writing at once)")
    monkeypatch.setattr(services, "async_task", lambda *args: None)
    users = [get_user_model().objects.create_user(f"user{i}") for i in (1, 2)]
    meter = MeterFactory(partner_reference="value-a")
    page = Seen("value-a", None)  # what both pages showed
    check = services._seen_problem

    def slow_check(current, seen, other):
        problem = check(current, seen, other)
        time.sleep(0.3)  # wide open, were the meter's row not locked first
        return problem

    monkeypatch.setattr(services, "_seen_problem", slow_check)
    start = threading.Barrier(2, timeout=30)
    outcomes: list[str] = []

    def save(user, value: str) -> None:
        try:
            start.wait()
            set_partner_reference(meter, value, actor=user, seen=page)
            outcomes.append("saved")
        except ReferenceRefused as refused:
            outcomes.append(str(refused))
        finally:
            connection.close()

    threads = [
        threading.Thread(target=save, args=(user, value))
        for user, value in zip(users, ["value-b", "value-c"], strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    refused, saved = sorted(outcomes)  # "Another change …" sorts before "saved"
    assert saved == "saved" and refused.startswith("Another change (")
    assert PartnerReferenceChange.objects.filter(meter=meter).count() == 1
