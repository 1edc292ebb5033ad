"""Fixtures for the actions tests: the in-process simulator, and users who work actions."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from tests.leapsync.conftest import leap, simulator  # noqa: F401
from tests.meters.factories import MeterFactory, RequiredActionFactory


@pytest.fixture
def ops_user(groups):
    user = get_user_model().objects.create_user(
        "otto", email="otto@example.com", password="x-x-x-1"
    )
    user.groups.add(Group.objects.get(name="Operations"))
    return user


@pytest.fixture
def customer_action(db):
    """An open customer-fixable partner action whose customer has an email address."""
    meter = MeterFactory(
        end_customer_name="Ada <b>Lovelace</b>",
        end_customer_email="ada@example.com",
        partner_reference="REF-42",
        transmission_region="CAISO",
    )
    return RequiredActionFactory(
        meter=meter,
        action_type="IS_AUTHORIZED",
        action_code="AUTH_0001",
        program_identifier="CCA",
        delivery_period="CAISO-CCA_2024_NOV",
    )
