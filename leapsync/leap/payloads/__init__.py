"""Typed, tolerant parsing of Leap Meters V2 JSON (meter details and meter enrollments).

parse_meter_details / parse_meter_enrollment turn one meter's JSON into a frozen record. Unknown
fields, unknown enum values and malformed optional parts become the record's `warnings`;
strict=True turns the first warning into a PayloadError.

Modules: `enums` (Leap's published values), `values` (date-times, dates, UUIDs, the payload
hash), `records` (the dataclasses), `fields` (the tolerant path that words the warnings),
`common` (meter_id and the identifier block), `details` and `enrollment` (the two responses).
"""

from .details import parse_meter_details
from .enrollment import parse_meter_enrollment
from .enums import (
    ACTION_TYPES,
    CBL_METHODS,
    COMPANY_TYPES,
    CREATED_BY,
    CUSTOMER_CLASSIFICATIONS,
    DEVICE_TYPES,
    DISPATCH_OPTIONS,
    ENROLLMENT_STATUSES,
    FUEL_TYPES,
    LOAD_TYPES,
    METER_TYPES,
    NEM_TYPES,
    PARTICIPATION_PREFERENCES,
    PROGRAM_IDENTIFIERS,
    TRANSMISSION_REGIONS,
    UTILITIES,
    VOLTAGE_LEVELS,
)
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
    parse_datetime,
    payload_hash,
)

__all__ = [
    "ACTION_TYPES",
    "CBL_METHODS",
    "COMPANY_TYPES",
    "CREATED_BY",
    "CUSTOMER_CLASSIFICATIONS",
    "DEVICE_TYPES",
    "DISPATCH_OPTIONS",
    "ENROLLMENT_STATUSES",
    "ESSENTIAL",
    "FUEL_TYPES",
    "HUGE_STRING",
    "LOAD_TYPES",
    "METER_TYPES",
    "NEM_TYPES",
    "OPEN_ENDED_YEAR",
    "OPTIONAL",
    "PARTICIPATION_PREFERENCES",
    "PROGRAM_IDENTIFIERS",
    "REQUIRED",
    "TRANSMISSION_REGIONS",
    "UTILITIES",
    "VOLTAGE_LEVELS",
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
    "parse_datetime",
    "parse_meter_details",
    "parse_meter_enrollment",
    "payload_hash",
]
