"""The typed records parsing produces: frozen, slotted dataclasses.

Every record keeps Leap's field names. Records are immutable, so identical items (the same
deadline on thousands of meters) may be shared between records.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any, TypeVar, cast, dataclass_transform
from uuid import UUID

_T = TypeVar("_T")


@dataclass_transform(frozen_default=True)
def _record(cls: type[_T]) -> type[_T]:
    """A frozen, slotted dataclass whose __init__ stores fields through their slot descriptors.

    The dataclass's own frozen __init__ calls object.__setattr__ once per field, which costs
    about three times as much; parsing builds ~15 records per meter, so it is worth this.
    The class is otherwise the dataclass: same signature, equality, hash, repr and
    FrozenInstanceError on assignment.
    """
    record: Any = dataclass(frozen=True, slots=True)(cls)
    names = [field.name for field in fields(record)]
    namespace: dict[str, Any] = {f"_set_{name}": getattr(record, name).__set__ for name in names}
    lines = [f"def __init__(self, {', '.join(names)}):"]
    lines += [f"    _set_{name}(self, {name})" for name in names]
    exec("\n".join(lines), namespace)  # noqa: S102 - source built from field names
    init = namespace["__init__"]
    init.__qualname__ = f"{record.__qualname__}.__init__"
    init.__module__ = record.__module__
    record.__init__ = init
    return cast(type[_T], record)


@_record
class Audit:
    created_by: str | None
    created_at: datetime | None
    updated_at: datetime | None


@_record
class Customer:
    street_1: str | None
    street_2: str | None
    postal_code: str | None
    city: str | None
    state_or_province_code: str | None
    country_code: str | None
    end_customer_name: str | None
    end_customer_title: str | None
    end_customer_email: str | None
    end_customer_phone_number: str | None
    end_customer_company_name: str | None
    partner_offering_name: str | None
    partner_offering_date: date | None
    is_in_wholesale_capacity_market: bool | None
    dispatch_option: str | None
    billing: dict[str, Any] | None
    partner_customer_reference: str | None


@_record
class Utility:
    utility_name: str | None
    load_serving_entity: str | None
    electric_service_account_number: str | None
    tariff: str | None
    voltage: str | None
    utility_meter_serial_number: str | None
    bill_service_agreement_number: str | None
    bill_customer_account_number: str | None


@_record
class MeterDetails:
    meter_id: UUID
    partner_reference: str | None
    transmission_region: str | None
    customer_classification: str | None
    load_types: tuple[str, ...]
    meter_type: str | None
    connection_references: tuple[str, ...]
    customer_group: str | None
    tags: tuple[str, ...]
    is_archived: bool
    customer: Customer | None
    utility: Utility | None
    device: dict[str, Any] | None
    site: dict[str, Any] | None
    caiso: dict[str, Any] | None
    isone: dict[str, Any] | None
    nyiso: dict[str, Any] | None
    audit: Audit
    warnings: tuple[str, ...]
    raw: dict[str, Any]


@_record
class EnrollmentDeadline:
    enrollment_deadline_date_time: datetime
    activation_date_time: datetime | None


@_record
class ProgramEnrollment:
    program_identifier: str | None
    delivery_period: str | None
    delivery_period_start_date_time: datetime
    delivery_period_end_date_time: datetime | None
    enrollment_status: str | None
    enrollment_deadlines: tuple[EnrollmentDeadline, ...]
    market_group_id: UUID | None
    market_group_name: str | None


@_record
class ParticipationPreference:
    participation_preference: str
    start_time: datetime
    end_time: datetime | None
    reason: str | None


@_record
class RequiredAction:
    owner: str  # "partner" or "leap": the array the action came from, i.e. who has to act
    program_identifier: str | None
    delivery_period: str | None
    enrollment_deadline_date_time: datetime | None
    action_type: str
    action_description: str
    action_code: str


@_record
class MeterEnrollment:
    meter_id: UUID
    partner_reference: str | None
    transmission_region: str | None
    customer_classification: str | None
    load_types: tuple[str, ...]
    meter_type: str | None
    connection_references: tuple[str, ...]
    customer_group: str | None
    tags: tuple[str, ...]
    is_archived: bool
    audit: Audit
    global_enrollment_status: str | None
    participation_preferences: tuple[ParticipationPreference, ...]
    program_enrollment: tuple[ProgramEnrollment, ...]
    required_actions: tuple[RequiredAction, ...]  # partner's first, then Leap's
    warnings: tuple[str, ...]
    raw: dict[str, Any]
