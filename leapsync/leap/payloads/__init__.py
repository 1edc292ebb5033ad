"""Typed, tolerant parsing of Leap Meters V2 JSON (meter details and meter enrollments).

parse_meter_details / parse_meter_enrollment turn one meter's JSON into a frozen record. Unknown
fields, unknown enum values and malformed optional parts become the record's `warnings`;
strict=True turns the first warning into a PayloadError.

Modules: `values` (date-times, dates, UUIDs, the payload hash), `records` (the dataclasses),
`fields` (the tolerant path that words the warnings), `common` (meter_id and the identifier
block), `details` and `enrollment` (the two responses). Leap's enums are in `leapsync.leap.enums`.
"""

from .details import parse_meter_details
from .enrollment import parse_meter_enrollment
from .fields import ESSENTIAL, OPTIONAL, REQUIRED
from .records import (
    Audit,
    Customer,
    EnrollmentDeadline,
    MeterDetails,
    MeterEnrollment,
    ParticipationPreference,
    ProgramEnrollment,
    RequiredAction,
    Utility,
)
from .values import (
    HUGE_STRING,
    OPEN_ENDED_YEAR,
    PayloadError,
    is_open_ended,
    latest_datetime,
    parse_datetime,
    payload_hash,
)

__all__ = [
    "ESSENTIAL",
    "HUGE_STRING",
    "OPEN_ENDED_YEAR",
    "OPTIONAL",
    "REQUIRED",
    "Audit",
    "Customer",
    "EnrollmentDeadline",
    "MeterDetails",
    "MeterEnrollment",
    "ParticipationPreference",
    "PayloadError",
    "ProgramEnrollment",
    "RequiredAction",
    "Utility",
    "is_open_ended",
    "latest_datetime",
    "parse_datetime",
    "parse_meter_details",
    "parse_meter_enrollment",
    "payload_hash",
]
