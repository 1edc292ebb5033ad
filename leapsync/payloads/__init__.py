"""Typed, tolerant parsing of Leap Meters V2 JSON (meter details and meter enrollments)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import orjson

# --- Leap's enums, as published in the Meters V2 specs. Values outside them are kept, not fatal:
# Leap adds programs and utilities over time without a version bump.
ENROLLMENT_STATUSES = frozenset(
    {"ACTIVE", "ELIGIBLE", "INELIGIBLE", "NOT_PARTICIPATING", "PENDING"}
)
PARTICIPATION_PREFERENCES = frozenset({"PARTICIPATE", "IDLE", "DISENROLL"})
METER_TYPES = frozenset({"UTILITY_METER", "SUBMETER", "DEVICE"})
LOAD_TYPES = frozenset(
    {"HVAC", "EV_CHARGING", "BATTERY_STORAGE", "COLD_STORAGE", "PUMPING", "WATER_HEATING"}
    | {"BUILDING_AUTOMATION", "GENERATION", "MANUFACTURING", "LIGHTING", "OTHER"}
)
TRANSMISSION_REGIONS = frozenset(
    {"CAISO", "ERCOT", "NYISO", "ISONE", "PJM", "SERC", "WECC_SW", "WECC_PC"}
)
CUSTOMER_CLASSIFICATIONS = frozenset({"RESIDENTIAL", "COMMERCIAL"})
ACTION_TYPES = frozenset(
    {"IS_AUTHORIZED", "DOCUMENTS_SIGNED", "HAS_AMI", "NOT_ENROLLED_IN_CONFLICTING_PROGRAM"}
    | {"PARTICIPATING", "HAS_MARKET_REGISTRATION", "NO_MISSING_FIELDS", "GENERATOR", "ADDRESS"}
    | {"HAS_NOMINATIONS", "HAS_BIDDING_STRATEGY", "IS_ELIGIBLE", "IS_ASSIGNED_TO_A_RESOURCE"}
    | {"MEETS_EXTRA_PROGRAM_REQUIREMENTS"}
)
PROGRAM_IDENTIFIERS = frozenset(
    {"CAISO-CCA-SC_ONLY", "CCA", "CEC-DSGS-OPTION4", "CEC-DSGS", "CONED-CSRP", "CONED-DLRP"}
    | {"DRAM", "ELRP", "ENERGY-ONLY", "ERCOT-ERS", "EVERSOURCE-CS", "MA_DOER-CPS", "NATGRID-CS"}
    | {"NRG-REALTIME", "NRG-RED", "NYISO-SCR", "ONCOR-CLM", "PGE-ART", "PGE-CBP", "PJM-CAPACITY"}
    | {"PSEGLI-CSRP", "PSEGLI-DLRP", "RIE-CS", "UNITIL-CS", "PSE-RPO", "SRP-RPO", "TVA-RPO"}
    | {"CAISO-ELRP-A4", "CEC-DSGS-OPTION2", "ENERGYHUB-CS", "CT_GB-ESS"}
)
UTILITIES = frozenset(
    {"PGE", "SCE", "SDGE", "SMUD", "LADWP", "SVP", "CECONY", "ORU", "PSEGLI", "NYS", "RIE"}
    | {"EVERSOURCE", "NATGRID", "UNITIL", "PPL", "CAPELIGHT", "UPLIGHT", "UNITED_ILLUMINATED"}
    | {"SMT", "AEP_CENTRAL", "AEP_NORTH", "NUECES_ELECTRIC", "ONCOR", "CENTERPOINT", "ENTERGY_GULF"}
    | {"SWEPCO", "TNMP", "DEMO", "DEMO2", "LEAP_TEST_CAISO", "LEAP_TEST_NYISO", "COMED", "BGE"}
    | {"PECO", "METED", "PENELEC", "PSEG", "DOMINION", "WESTPENN", "PENNPOWER", "PEPCO"}
    | {"PJM_DEMO", "OTHER", "NES", "MLGW", "KUB", "NPU", "MTEMC", "PRECC", "HSVU", "SRP", "PSE"}
    | {"TVA"}
)
CREATED_BY = frozenset({"PARTNER", "LEAP", "UTILITY"})
DISPATCH_OPTIONS = frozenset({"DAILY", "TARGETED"})
DEVICE_TYPES = frozenset(
    {"BATTERY", "GENERATOR", "EV", "EV_CHARGER", "BIDIRECTIONAL_EV_CHARGER", "SMART_THERMOSTAT"}
    | {"AIR_CONDITIONER", "HEAT_PUMP"}
)
FUEL_TYPES = frozenset({"DIESEL", "NATURAL_GAS", "DUAL_FUEL", "CO_GEN", "ENERGY_STORAGE", "OTHER"})
VOLTAGE_LEVELS = frozenset({"EVSE_LEVEL_1", "EVSE_LEVEL_2"})
NEM_TYPES = frozenset({"NEM2", "NEM3"})
CBL_METHODS = frozenset({"AVERAGE_DAY", "WEATHER_ADJUSTED"})
COMPANY_TYPES = frozenset(
    {"INDIVIDUAL_OR_SOLE_PROPRIETOR", "LIMITED_LIABILITY_COMPANY", "PARTNERSHIP", "CORPORATION"}
    | {"OTHER", "EXEMPT_PAYEE"}
)

# Leap spells "no end" as a far-future instant (9000-01-01, 9000-12-31T23:59:59.999999999, 2099-...).
OPEN_ENDED_YEAR = 2099
# Long strings are kept whole (the database stores text) but reported: no Leap field is this long.
HUGE_STRING = 65_536


class PayloadError(ValueError):
    """The meter cannot be used: not an object, no valid meter_id, or a required field unusable."""


class _Invalid(Exception):
    """An item or sub-object cannot be used; its parent drops it (or, at the top, rejects the meter)."""


# Field levels. REQUIRED follows the spec's `required` lists: missing is only a warning, because
# Leap's guide says many fields may be empty. ESSENTIAL fields are those a record cannot exist
# without (e.g. an action without its code); missing them drops the item.
OPTIONAL, REQUIRED, ESSENTIAL = 0, 1, 2

_DATETIME_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?"
)
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


# The same deadlines and period bounds repeat across thousands of meters: parse each string once.
_DATETIME_CACHE: dict[str, datetime] = {}
_DATETIME_CACHE_SIZE = 16_384


def _parse_datetime_str(value: str) -> datetime:
    cached = _DATETIME_CACHE.get(value)
    if cached is not None:
        return cached
    if len(_DATETIME_CACHE) >= _DATETIME_CACHE_SIZE:
        _DATETIME_CACHE.clear()
    _DATETIME_CACHE[value] = parsed = _parse_datetime_text(value)
    return parsed


def _parse_datetime_text(value: str) -> datetime:
    text = value.strip().upper()
    if not _DATETIME_RE.fullmatch(text):
        raise PayloadError(f"not an ISO-8601 date-time: {value[:64]!r}")
    try:
        parsed = datetime.fromisoformat(text)  # 3.11: "Z", and fractions past 6 digits truncated
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise PayloadError(f"not a valid date-time: {value[:64]!r}") from None


def parse_datetime(value: Any) -> datetime | None:
    """An aware UTC datetime from Leap's ISO-8601 text; None for None; PayloadError otherwise.

    Accepts "Z" or numeric offsets and 0-9 fractional digits (nanoseconds truncated to
    microseconds); a value without an offset is taken as UTC, which is what Leap documents.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if not isinstance(value, str):
        raise PayloadError(f"expected a date-time string, got {type(value).__name__}")
    return _parse_datetime_str(value)


def _parse_date(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _DATE_RE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise PayloadError(f"not an ISO-8601 date: {str(value)[:64]!r}")


def is_open_ended(dt: datetime | None) -> bool:
    """True for None or a year >= 2099: Leap's spellings of "no end"."""
    return dt is None or dt.year >= OPEN_ENDED_YEAR


def payload_hash(raw: Mapping) -> str:
    """Stable hex digest of the canonical JSON (sorted keys): equal payloads, equal hashes."""
    canonical = orjson.dumps(dict(raw), option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(canonical, digest_size=16).hexdigest()


# --- records --------------------------------------------------------------------------------------
_record = dataclass(frozen=True, slots=True)


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
    billing: dict | None
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
    device: dict | None
    site: dict | None
    caiso: dict | None
    isone: dict | None
    nyiso: dict | None
    audit: Audit
    warnings: tuple[str, ...]
    raw: dict


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
    raw: dict


# --- field access ---------------------------------------------------------------------------------


class _Ctx:
    """Collects a record's warnings (deduplicated, in order); in strict mode the first one raises."""

    __slots__ = ("strict", "warnings")

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.warnings: dict[str, None] = {}

    def warn(self, message: str) -> None:
        if self.strict:
            raise PayloadError(message)
        self.warnings[message] = None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path and key else path or key


# A kind turns the non-null JSON value at path.key into its Python value or raises PayloadError;
# it may warn. The path is passed in pieces so that it is only joined when there is a warning.
_Kind = Callable[[_Ctx, Any, str, str], Any]


def _text(ctx: _Ctx, value: Any, path: str, key: str) -> str:
    if isinstance(value, str):
        if len(value) > HUGE_STRING:
            ctx.warn(f"very long value for {_join(path, key)}: {len(value)} characters")
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        ctx.warn(f"wrong type for {_join(path, key)}: expected string, got {type(value).__name__}")
        return str(value)
    raise PayloadError(f"expected string, got {type(value).__name__}")


def _bool(ctx: _Ctx, value: Any, path: str, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        coerced = value.lower() == "true"
    elif isinstance(value, int) and value in (0, 1):
        coerced = bool(value)
    else:
        raise PayloadError(f"expected boolean, got {type(value).__name__}")
    ctx.warn(f"wrong type for {_join(path, key)}: expected boolean, got {type(value).__name__}")
    return coerced


def _uuid(ctx: _Ctx, value: Any, path: str, key: str) -> UUID:
    if isinstance(value, UUID):
        return value
    if isinstance(value, str):
        try:
            return UUID(value)
        except ValueError:
            pass
    raise PayloadError(f"not a UUID: {str(value)[:64]!r}")


def _datetime(ctx: _Ctx, value: Any, path: str, key: str) -> datetime:
    return _parse_datetime_str(value) if value.__class__ is str else parse_datetime(value)


def _date(ctx: _Ctx, value: Any, path: str, key: str) -> date:
    return _parse_date(value)


def _enum_value(ctx: _Ctx, value: Any, path: str, key: str, known: frozenset[str]) -> str:
    text = _text(ctx, value, path, key)
    if text not in known:
        ctx.warn(f"unknown value for {_join(path, key)}: {text[:128]}")
    return text


def _field(
    ctx: _Ctx, obj: dict, key: str, path: str, kind: _Kind | frozenset, level: int = OPTIONAL
) -> Any:
    """obj[key] converted by `kind` (a frozenset kind is an enum; unknown values are kept).

    Null, absent and (except for free text) "" all count as absent. The fast paths up front
    carry the common case: 1,000 meters must parse in well under 100 ms.
    """
    value = obj.get(key)
    if value.__class__ is str and value:
        if kind is _text and len(value) <= HUGE_STRING:
            return value
        if kind is _datetime and value in _DATETIME_CACHE:
            return _DATETIME_CACHE[value]
        if kind.__class__ is frozenset and value in kind:
            return value
    if value is None or (value == "" and kind is not _text):
        if level == ESSENTIAL:
            raise _Invalid(f"missing required field: {_join(path, key)}")
        if level == REQUIRED:
            ctx.warn(f"missing required field: {_join(path, key)}")
        return None
    try:
        if isinstance(kind, frozenset):
            return _enum_value(ctx, value, path, key, kind)
        return kind(ctx, value, path, key)
    except PayloadError as exc:
        if level != OPTIONAL:
            raise _Invalid(f"bad value for {_join(path, key)}: {exc}") from None
        ctx.warn(f"bad value for {_join(path, key)} (ignored): {exc}")
        return None


def _list(ctx: _Ctx, obj: dict, key: str, path: str, level: int = OPTIONAL) -> list:
    """obj[key] as a list; absent or null is an empty one."""
    value = obj.get(key)
    if value is None:
        if level != OPTIONAL:
            ctx.warn(f"missing required field: {_join(path, key)}")
        return []
    if isinstance(value, list):
        return value
    if level != OPTIONAL:
        raise _Invalid(f"bad value for {_join(path, key)}: expected array")
    ctx.warn(f"bad value for {_join(path, key)} (ignored): expected array")
    return []


def _items(ctx: _Ctx, values: list, where: str, parse: Callable[[_Ctx, Any, str], Any]) -> tuple:
    """Parse each item; an unusable one is dropped with a warning instead of failing the meter."""
    out = []
    for value in values:
        try:
            out.append(parse(ctx, value, where))
        except _Invalid as exc:
            ctx.warn(f"dropped {where} item: {exc}")
    return tuple(out)


def _object(ctx: _Ctx, value: Any, known: frozenset[str], path: str) -> dict:
    """`value` as a JSON object, each key outside `known` reported (and kept in raw)."""
    if not isinstance(value, dict):
        raise _Invalid(f"expected object, got {type(value).__name__}")
    if not known.issuperset(value):
        for key in sorted(value.keys() - known):
            ctx.warn(f"unknown field: {_join(path, key)}")
    return value


def _string_item(ctx: _Ctx, value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"expected string, got {type(value).__name__}")
    return _text(ctx, value, where, "")


def _strings(ctx: _Ctx, obj: dict, key: str, level: int, known: frozenset | None = None) -> tuple:
    values = _items(ctx, _list(ctx, obj, key, "", level), f"{key}[]", _string_item)
    for value in values:
        if known is not None and value not in known:
            ctx.warn(f"unknown value for {key}[]: {value[:128]}")
    return values


def _number(ctx: _Ctx, value: Any, path: str, key: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    raise PayloadError(f"expected number, got {type(value).__name__}")


def _integer(ctx: _Ctx, value: Any, path: str, key: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise PayloadError(f"expected integer, got {type(value).__name__}")


_TRANSMISSION_REGION = TRANSMISSION_REGIONS
_CLASSIFICATION = CUSTOMER_CLASSIFICATIONS
_METER_TYPE = METER_TYPES
_ENROLLMENT_STATUS = ENROLLMENT_STATUSES
_PREFERENCE = PARTICIPATION_PREFERENCES
_PROGRAM = PROGRAM_IDENTIFIERS
_ACTION_TYPE = ACTION_TYPES
_UTILITY = UTILITIES
_CREATED_BY = CREATED_BY
_DISPATCH_OPTION = DISPATCH_OPTIONS
_DEVICE_TYPE = DEVICE_TYPES
_FUEL_TYPE = FUEL_TYPES


# --- schemaless blobs: device, site, region blocks, billing ---------------------------------------
# Kept as dicts (their shape drifts between spec versions), but checked so that strict mode and
# the warnings still catch drift. A value that fails its check is left out of the returned dict.


@dataclass(frozen=True)
class _Blob:
    kinds: Mapping[str, _Kind | _Blob]
    required: frozenset[str] = frozenset()


def _blob(ctx: _Ctx, value: Any, path: str, spec: _Blob) -> dict:
    obj = _object(ctx, value, frozenset(spec.kinds), path)
    clean = dict(obj)
    for key, kind in spec.kinds.items():
        if isinstance(kind, _Blob):
            if key not in obj:
                continue
            items = _list(ctx, obj, key, path)
            clean[key] = list(_items(ctx, items, f"{path}.{key}[]", _blob_item(kind)))
            continue
        level = REQUIRED if key in spec.required else OPTIONAL
        try:
            if _field(ctx, obj, key, path, kind, level) is None and obj.get(key) is not None:
                del clean[key]
        except _Invalid as exc:
            ctx.warn(str(exc))
            clean.pop(key, None)
    return clean


def _blob_item(spec: _Blob) -> Callable[[_Ctx, Any, str], dict]:
    return lambda ctx, value, where: _blob(ctx, value, where, spec)


_BATTERY: dict[str, _Kind] = {
    "battery_max_discharge_rate_kw": _number,
    "battery_max_charge_rate_kw": _number,
    "battery_max_state_of_charge_percentage": _number,
    "battery_min_state_of_charge_percentage": _number,
    "installer": _text,
    "is_connected_to_solar": _bool,
}
_DEVICE = _Blob(
    {
        "device_type": _DEVICE_TYPE,
        "device_serial_number": _text,
        "device_model": _text,
        "device_manufacturer": _text,
        "install_date": _date,
        "battery_power_capacity_kw": _number,
        "battery_energy_capacity_kwh": _number,
        "battery_duration_hours": _integer,
        "permission_to_operate_date": _date,
        **_BATTERY,
    }
)
_SITE_DEVICE = _Blob(
    {
        "device_type": _DEVICE_TYPE,
        "model": _text,
        "manufacturer": _text,
        "serial_number": _text,
        "energy_capacity_kwh": _number,
        "power_capacity_kw": _number,
        "energy_capacity_duration_hours": _integer,
        "voltage_level": VOLTAGE_LEVELS,
        "model_year": _integer,
        "fuel_type": _FUEL_TYPE,
        **_BATTERY,
    },
    frozenset({"device_type"}),
)
_SITE = _Blob(
    {
        "load_zone": _text,
        "number_of_devices": _integer,
        "on_site_fossil_generator": _bool,
        "renewable_generator": _bool,
        "generator_capacity_kw": _number,
        "generator_model_year": _integer,
        "generator_manufacturer": _text,
        "generator_fuel_type": _FUEL_TYPE,
        "generator_serial_number": _text,
        "site_devices": _SITE_DEVICE,
    }
)
_CAISO = _Blob({"is_receiving_sgip_funding": _bool, "nem_type": NEM_TYPES})
_ISONE = _Blob({"in_connected_solutions": _bool})
_NYISO = _Blob(
    {
        "cbl_method": CBL_METHODS,
        "company_type": COMPANY_TYPES,
        "existing_nyiso_resource_id": _text,
        "partner_nyiso_resource_name": _text,
    }
)
_ADDRESS_REQUIRED = frozenset(
    {"street_1", "city", "postal_code", "state_or_province_code", "country_code"}
)
_BILLING = _Blob(
    {key: _text for key in ("street_1", "street_2", *_ADDRESS_REQUIRED - {"street_1"})},
    _ADDRESS_REQUIRED,
)


# --- typed sub-objects ----------------------------------------------------------------------------


def _sub(
    ctx: _Ctx, raw: dict, key: str, parse: Callable, level: int = OPTIONAL, path: str = ""
) -> Any:
    """A nested object: a malformed one is dropped with a warning (absent if REQUIRED: warned)."""
    where = _join(path, key)
    value = raw.get(key)
    if value is None:
        if level == REQUIRED:
            ctx.warn(f"missing required field: {where}")
        return None
    if not isinstance(value, dict) and level == REQUIRED:
        raise _Invalid(f"bad value for {where}: expected object, got {type(value).__name__}")
    try:
        return parse(ctx, value, where)
    except _Invalid as exc:
        ctx.warn(f"dropped {where}: {exc}")
        return None


def _audit(ctx: _Ctx, value: Any, path: str) -> Audit:
    obj = _object(ctx, value, frozenset({"created_by", "created_at", "updated_at"}), path)
    return Audit(
        created_by=_field(ctx, obj, "created_by", path, _CREATED_BY),
        created_at=_field(ctx, obj, "created_at", path, _datetime),
        updated_at=_field(ctx, obj, "updated_at", path, _datetime),
    )


_CUSTOMER_TEXT = (
    "street_1",
    "street_2",
    "postal_code",
    "city",
    "state_or_province_code",
    "country_code",
    "end_customer_name",
    "end_customer_title",
    "end_customer_email",
    "end_customer_phone_number",
    "end_customer_company_name",
    "partner_offering_name",
    "partner_customer_reference",
)
_CUSTOMER_KEYS = frozenset(_CUSTOMER_TEXT) | {
    "partner_offering_date",
    "is_in_wholesale_capacity_market",
    "dispatch_option",
    "billing",
}


def _customer(ctx: _Ctx, value: Any, path: str) -> Customer:
    obj = _object(ctx, value, _CUSTOMER_KEYS, path)
    text = {
        key: _field(ctx, obj, key, path, _text, REQUIRED if key in _ADDRESS_REQUIRED else OPTIONAL)
        for key in _CUSTOMER_TEXT
    }
    return Customer(
        **text,
        partner_offering_date=_field(ctx, obj, "partner_offering_date", path, _date),
        is_in_wholesale_capacity_market=_field(
            ctx, obj, "is_in_wholesale_capacity_market", path, _bool
        ),
        dispatch_option=_field(ctx, obj, "dispatch_option", path, _DISPATCH_OPTION),
        billing=_sub(ctx, obj, "billing", lambda c, v, p: _blob(c, v, p, _BILLING), path=path),
    )


_UTILITY_TEXT = (
    "load_serving_entity",
    "electric_service_account_number",
    "tariff",
    "voltage",
    "utility_meter_serial_number",
    "bill_service_agreement_number",
    "bill_customer_account_number",
)


def _utility(ctx: _Ctx, value: Any, path: str) -> Utility:
    obj = _object(ctx, value, frozenset(_UTILITY_TEXT) | {"utility_name"}, path)
    return Utility(
        utility_name=_field(ctx, obj, "utility_name", path, _UTILITY),
        **{key: _field(ctx, obj, key, path, _text) for key in _UTILITY_TEXT},
    )


# --- enrollment items -----------------------------------------------------------------------------

_DEADLINE_KEYS = frozenset({"enrollment_deadline_date_time", "activation_date_time"})
_PROGRAM_KEYS = frozenset(
    {"program_identifier", "delivery_period", "delivery_period_start_date_time"}
    | {"delivery_period_end_date_time", "enrollment_status", "enrollment_deadlines"}
    | {"market_group_id", "market_group_name"}
)
_PREFERENCE_KEYS = frozenset({"participation_preference", "start_time", "end_time", "reason"})
_ACTION_KEYS = frozenset(
    {"program_identifier", "delivery_period", "enrollment_deadline_date_time"}
    | {"action_type", "action_description", "action_code"}
)


# Deadlines are the most numerous item and repeat across meters (same program calendars); the
# records are immutable, so a well-formed one is built once and shared.
_DEADLINE_CACHE: dict[tuple[str, str], EnrollmentDeadline] = {}


def _deadline(ctx: _Ctx, value: Any, path: str) -> EnrollmentDeadline:
    key = None
    if value.__class__ is dict and len(value) == 2:
        key = (value.get("enrollment_deadline_date_time"), value.get("activation_date_time"))
        if key in _DEADLINE_CACHE:
            return _DEADLINE_CACHE[key]
    obj = _object(ctx, value, _DEADLINE_KEYS, path)
    deadline = EnrollmentDeadline(
        enrollment_deadline_date_time=_field(
            ctx, obj, "enrollment_deadline_date_time", path, _datetime, ESSENTIAL
        ),
        activation_date_time=_field(ctx, obj, "activation_date_time", path, _datetime, REQUIRED),
    )
    if key and key[0].__class__ is str and key[1].__class__ is str:
        if len(_DEADLINE_CACHE) >= _DATETIME_CACHE_SIZE:
            _DEADLINE_CACHE.clear()
        _DEADLINE_CACHE[key] = deadline
    return deadline


def _program(ctx: _Ctx, value: Any, path: str) -> ProgramEnrollment:
    obj = _object(ctx, value, _PROGRAM_KEYS, path)
    start = _field(ctx, obj, "delivery_period_start_date_time", path, _datetime, ESSENTIAL)
    end = _field(ctx, obj, "delivery_period_end_date_time", path, _datetime, REQUIRED)
    deadlines = _list(ctx, obj, "enrollment_deadlines", path, REQUIRED)
    return ProgramEnrollment(
        program_identifier=_field(ctx, obj, "program_identifier", path, _PROGRAM),
        delivery_period=_field(ctx, obj, "delivery_period", path, _text),
        delivery_period_start_date_time=start,
        delivery_period_end_date_time=end,
        enrollment_status=_field(ctx, obj, "enrollment_status", path, _ENROLLMENT_STATUS, REQUIRED),
        enrollment_deadlines=_items(ctx, deadlines, f"{path}.enrollment_deadlines[]", _deadline),
        market_group_id=_field(ctx, obj, "market_group_id", path, _uuid),
        market_group_name=_field(ctx, obj, "market_group_name", path, _text),
    )


def _preference(ctx: _Ctx, value: Any, path: str) -> ParticipationPreference:
    obj = _object(ctx, value, _PREFERENCE_KEYS, path)
    return ParticipationPreference(
        participation_preference=_field(
            ctx, obj, "participation_preference", path, _PREFERENCE, ESSENTIAL
        ),
        start_time=_field(ctx, obj, "start_time", path, _datetime, ESSENTIAL),
        end_time=_field(ctx, obj, "end_time", path, _datetime),
        reason=_field(ctx, obj, "reason", path, _text),
    )


def _action(ctx: _Ctx, value: Any, path: str, owner: str) -> RequiredAction:
    obj = _object(ctx, value, _ACTION_KEYS, path)
    return RequiredAction(
        owner=owner,
        program_identifier=_field(ctx, obj, "program_identifier", path, _PROGRAM, REQUIRED),
        delivery_period=_field(ctx, obj, "delivery_period", path, _text, REQUIRED),
        enrollment_deadline_date_time=_field(
            ctx, obj, "enrollment_deadline_date_time", path, _datetime, REQUIRED
        ),
        action_type=_field(ctx, obj, "action_type", path, _ACTION_TYPE, ESSENTIAL),
        action_description=_field(ctx, obj, "action_description", path, _text, ESSENTIAL),
        action_code=_field(ctx, obj, "action_code", path, _text, ESSENTIAL),
    )


def _required_actions(ctx: _Ctx, value: Any, path: str) -> tuple[RequiredAction, ...]:
    obj = _object(ctx, value, frozenset({"partner", "leap"}), path)
    actions: list[RequiredAction] = []
    for owner in ("partner", "leap"):
        items = _list(ctx, obj, owner, path)
        parse = _owned_action(owner)
        actions.extend(_items(ctx, items, f"{path}.{owner}[]", parse))
    return tuple(actions)


def _owned_action(owner: str) -> Callable[[_Ctx, Any, str], RequiredAction]:
    return lambda ctx, value, path: _action(ctx, value, path, owner)


# --- meters ---------------------------------------------------------------------------------------

_IDENTIFIER_KEYS = frozenset(
    {"meter_id", "partner_reference", "transmission_region", "customer_classification"}
    | {"load_types", "meter_type", "connection_references", "customer_group", "tags"}
    | {"is_archived", "audit"}
)
_DETAILS_KEYS = _IDENTIFIER_KEYS | {"customer", "utility", "device", "site"}
_DETAILS_KEYS |= {"caiso", "isone", "nyiso"}
_ENROLLMENT_KEYS = _IDENTIFIER_KEYS | {"global_enrollment_status", "participation_preferences"}
_ENROLLMENT_KEYS |= {"program_enrollment", "required_actions"}
# The spec's required lists, per endpoint (the shared identifier block differs between them).
_DETAILS_REQUIRED = frozenset({"is_archived", "meter_type", "transmission_region"})
_ENROLLMENT_REQUIRED = frozenset({"is_archived", "load_types", "tags", "transmission_region"})


def _meter_id(raw: Any) -> UUID:
    if not isinstance(raw, dict):
        raise PayloadError(f"meter payload is not an object: {type(raw).__name__}")
    value = raw.get("meter_id")
    if not isinstance(value, str) or not value:
        raise PayloadError("meter_id is missing or not a string")
    try:
        return UUID(value)
    except ValueError:
        raise PayloadError(f"meter_id is not a UUID: {value[:64]!r}") from None


def _identifiers(ctx: _Ctx, raw: dict, required: frozenset[str]) -> dict[str, Any]:
    def level(key: str) -> int:
        return REQUIRED if key in required else OPTIONAL

    audit = _sub(ctx, raw, "audit", _audit, REQUIRED)
    return {
        "partner_reference": _field(ctx, raw, "partner_reference", "", _text),
        "transmission_region": _field(
            ctx, raw, "transmission_region", "", _TRANSMISSION_REGION, level("transmission_region")
        ),
        "customer_classification": _field(ctx, raw, "customer_classification", "", _CLASSIFICATION),
        "load_types": _strings(ctx, raw, "load_types", level("load_types"), LOAD_TYPES),
        "meter_type": _field(ctx, raw, "meter_type", "", _METER_TYPE, level("meter_type")),
        "connection_references": _strings(ctx, raw, "connection_references", OPTIONAL),
        "customer_group": _field(ctx, raw, "customer_group", "", _text),
        "tags": _strings(ctx, raw, "tags", level("tags")),
        "is_archived": bool(_field(ctx, raw, "is_archived", "", _bool, REQUIRED)),
        "audit": audit or Audit(created_by=None, created_at=None, updated_at=None),
    }


def _parse(raw: Any, strict: bool, build: Callable[[_Ctx, dict, UUID], Any]) -> Any:
    meter_id = _meter_id(raw)
    ctx = _Ctx(strict)
    try:
        return build(ctx, raw, meter_id)
    except _Invalid as exc:
        raise PayloadError(f"meter {meter_id}: {exc}") from None


def _build_details(ctx: _Ctx, raw: dict, meter_id: UUID) -> MeterDetails:
    _object(ctx, raw, _DETAILS_KEYS, "")
    return MeterDetails(
        meter_id=meter_id,
        **_identifiers(ctx, raw, _DETAILS_REQUIRED),
        customer=_sub(ctx, raw, "customer", _customer, REQUIRED),
        utility=_sub(ctx, raw, "utility", _utility),
        device=_sub(ctx, raw, "device", lambda c, v, p: _blob(c, v, p, _DEVICE)),
        site=_sub(ctx, raw, "site", lambda c, v, p: _blob(c, v, p, _SITE)),
        caiso=_sub(ctx, raw, "caiso", lambda c, v, p: _blob(c, v, p, _CAISO)),
        isone=_sub(ctx, raw, "isone", lambda c, v, p: _blob(c, v, p, _ISONE)),
        nyiso=_sub(ctx, raw, "nyiso", lambda c, v, p: _blob(c, v, p, _NYISO)),
        warnings=tuple(ctx.warnings),
        raw=raw,
    )


def _build_enrollment(ctx: _Ctx, raw: dict, meter_id: UUID) -> MeterEnrollment:
    _object(ctx, raw, _ENROLLMENT_KEYS, "")
    identifiers = _identifiers(ctx, raw, _ENROLLMENT_REQUIRED)
    status = _field(ctx, raw, "global_enrollment_status", "", _ENROLLMENT_STATUS, REQUIRED)
    preferences = _list(ctx, raw, "participation_preferences", "")
    programs = _list(ctx, raw, "program_enrollment", "", REQUIRED)
    return MeterEnrollment(
        meter_id=meter_id,
        **identifiers,
        global_enrollment_status=status,
        participation_preferences=_items(
            ctx, preferences, "participation_preferences[]", _preference
        ),
        program_enrollment=_items(ctx, programs, "program_enrollment[]", _program),
        required_actions=_sub(ctx, raw, "required_actions", _required_actions, REQUIRED) or (),
        warnings=tuple(ctx.warnings),
        raw=raw,
    )


def parse_meter_details(raw: Any, *, strict: bool = False) -> MeterDetails:
    """A MeterDetailsResponse as a MeterDetails record.

    Tolerant by default: unknown fields and enum values, missing spec-required fields and
    malformed optional parts become `warnings` (the part is dropped, `raw` keeps everything).
    PayloadError only when the meter is unusable; with strict=True every warning raises it.
    """
    return _parse(raw, strict, _build_details)


def parse_meter_enrollment(raw: Any, *, strict: bool = False) -> MeterEnrollment:
    """A MeterEnrollmentResponse as a MeterEnrollment record; same contract as parse_meter_details."""
    return _parse(raw, strict, _build_enrollment)
