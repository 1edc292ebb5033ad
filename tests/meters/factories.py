"""factory_boy factories for meters and the enrollment rows the meter pages show."""

from __future__ import annotations

import uuid
from datetime import timedelta

import factory
from django.utils import timezone

from actions.models import ActionOwner, RequiredAction
from enrollments.models import (
    EnrollmentDeadline,
    MeterEnrollment,
    ParticipationPeriod,
    ProgramEnrollment,
)
from meters.models import EventKind, Meter, MeterEvent, Site


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site

    external_id = factory.Sequence(lambda n: f"SITE-{n:05d}")
    name = factory.Sequence(lambda n: f"Site {n}")


class MeterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Meter
        skip_postgeneration_save = True

    meter_id = factory.LazyFunction(uuid.uuid4)
    partner_reference = factory.Sequence(lambda n: f"ref-{n:05d}")
    transmission_region = "CAISO"
    customer_classification = "RESIDENTIAL"
    meter_type = "UTILITY_METER"
    load_types = factory.LazyFunction(lambda: ["HVAC"])
    tags = factory.LazyFunction(list)
    end_customer_name = factory.Sequence(lambda n: f"Customer {n}")
    street_1 = factory.Sequence(lambda n: f"{n} Main St")
    city = "Fresno"
    state_or_province_code = "CA"
    electric_service_account_number = factory.Sequence(lambda n: f"ACC-{n:06d}")
    leap_updated_at = factory.LazyFunction(timezone.now)
    details_raw = factory.LazyAttribute(
        lambda m: {
            "meter_id": str(m.meter_id),
            "customer": {"end_customer_name": m.end_customer_name, "street_1": m.street_1},
            "utility": {"utility_name": "PGE"},
        }
    )
    details_hash = "x"

    @factory.post_generation
    def status(meter, create, value, **kwargs):
        """`status="ACTIVE"` gives the meter an enrollment row with that global status."""
        if value:
            MeterEnrollmentFactory(meter=meter, global_enrollment_status=value)

    @factory.post_generation
    def open_actions(meter, create, value, **kwargs):
        for _ in range(value or 0):
            RequiredActionFactory(meter=meter)


class MeterEnrollmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MeterEnrollment

    meter = factory.SubFactory(MeterFactory)
    global_enrollment_status = "ACTIVE"
    enrollment_raw = factory.LazyAttribute(
        lambda e: {"meter_id": str(e.meter.meter_id), "global_enrollment_status": "ACTIVE"}
    )
    enrollment_hash = "x"
    synced_at = factory.LazyFunction(timezone.now)


class ProgramEnrollmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProgramEnrollment

    meter = factory.SubFactory(MeterFactory)
    program_identifier = "PJM-CAPACITY"
    delivery_period = factory.Sequence(lambda n: f"PERIOD_{n}")
    delivery_period_start_date_time = factory.Sequence(
        lambda n: timezone.now() - timedelta(days=10) + timedelta(days=30 * n)
    )
    delivery_period_end_date_time = factory.LazyAttribute(
        lambda p: p.delivery_period_start_date_time + timedelta(days=30)
    )
    enrollment_status = "ACTIVE"
    market_group_name = "GROUP_A"


class EnrollmentDeadlineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EnrollmentDeadline

    program_enrollment = factory.SubFactory(ProgramEnrollmentFactory)
    enrollment_deadline_date_time = factory.LazyFunction(lambda: timezone.now() + timedelta(days=3))
    program_identifier = factory.LazyAttribute(lambda o: o.program_enrollment.program_identifier)


class ParticipationPeriodFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ParticipationPeriod

    meter = factory.SubFactory(MeterFactory)
    participation_preference = "PARTICIPATE"
    start_time = factory.Sequence(lambda n: timezone.now() - timedelta(days=100 - n))
    end_time = None
    is_open_ended = True


class RequiredActionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RequiredAction

    meter = factory.SubFactory(MeterFactory)
    owner = ActionOwner.PARTNER
    program_identifier = "PJM-CAPACITY"
    action_type = "IS_AUTHORIZED"
    action_code = factory.Sequence(lambda n: f"AUTH_{n:04d}")
    action_description = "End customer must re-authorize meter."
    enrollment_deadline_date_time = factory.LazyFunction(lambda: timezone.now() + timedelta(days=3))
    first_seen_at = factory.LazyFunction(timezone.now)
    last_seen_at = factory.LazyFunction(timezone.now)


class MeterEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MeterEvent

    meter = factory.SubFactory(MeterFactory)
    kind = EventKind.GLOBAL_STATUS
    field = "global_enrollment_status"
    old = "ELIGIBLE"
    new = "ACTIVE"
    observed_at = factory.LazyFunction(timezone.now)
