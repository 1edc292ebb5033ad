"""A small, realistic dataset for the security tests: a synced simulator plus one of each object."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from actions.models import RequiredAction
from leapsync.models import SyncRun
from leapsync.simulator import LeapSimulator
from leapsync.sync import sync_full
from leapsync.webhooks.models import WebhookEvent, WebhookState
from meters.models import Meter, PartnerReferenceChange, ReferenceImport, Site
from tests.helpers import API_KEY, at_the_simulators_clock, simulator_client


@pytest.fixture(autouse=True)
def _our_clock_at_the_simulators():
    with at_the_simulators_clock():
        yield


@pytest.fixture
def simulator() -> LeapSimulator:
    return LeapSimulator(meters=30, seed=11, api_key=API_KEY)


@pytest.fixture
def leap(simulator: LeapSimulator):
    client = simulator_client(simulator, page_size=10, max_retries=2)
    yield client
    client.close()


@dataclass
class Samples:
    """Real primary keys for the URL patterns' arguments."""

    meter: Meter
    site: Site
    action: RequiredAction
    run: SyncRun
    event: WebhookEvent
    change: PartnerReferenceChange
    reference_import: ReferenceImport


@pytest.fixture
def samples(groups, leap) -> Samples:
    sync_full(client=leap)
    meter = Meter.objects.order_by("pk").first()
    return Samples(
        meter=meter,
        site=Site.objects.create(external_id="SITE-1", name="Main street plant"),
        action=RequiredAction.objects.order_by("pk").first(),
        run=SyncRun.objects.order_by("pk").first(),
        event=WebhookEvent.objects.create(
            webhook_event_id="evt-1",
            webhook_event_type="METER_UPDATED",
            meter_ids=[str(meter.meter_id)],
            body="{}",
            state=WebhookState.STORED,
        ),
        change=PartnerReferenceChange.objects.create(meter=meter, old="", new="REF-1"),
        reference_import=ReferenceImport.objects.create(token="t", name="refs.csv", sha256="0"),
    )
