"""Meter details (MeterDetailsResponse): customer, utility, and the schemaless blobs.

Typed sub-objects have two parsers: `_clean_<part>` builds the record when the part needs no
warning but for unknown fields, which it reports (and returns None otherwise), `_<part>` is the
tolerant path that reports what is wrong.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from leapsync.leap.enums import (
    CBL_METHODS,
    COMPANY_TYPES,
    DEVICE_TYPES,
    DISPATCH_OPTIONS,
    FUEL_TYPES,
    NEM_TYPES,
    UTILITIES,
    VOLTAGE_LEVELS,
)

from .common import IDENTIFIER_KEYS, Identifiers, _clean_identifiers, _identifiers, _parse
from .fields import (
    OPTIONAL,
    REQUIRED,
    _Blob,
    _blob_field,
    _bool,
    _Ctx,
    _date,
    _field,
    _integer,
    _Kind,
    _number,
    _object,
    _sub,
    _text,
    _unknown_fields,
)
from .records import Customer, MeterDetails, Utility
from .values import HUGE_STRING, well_formed_date

# --- schemaless blobs: kept as dicts (their shape drifts between spec versions) but checked -----

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
        "device_type": DEVICE_TYPES,
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
        "device_type": DEVICE_TYPES,
        "model": _text,
        "manufacturer": _text,
        "serial_number": _text,
        "energy_capacity_kwh": _number,
        "power_capacity_kw": _number,
        "energy_capacity_duration_hours": _integer,
        "voltage_level": VOLTAGE_LEVELS,
        "model_year": _integer,
        "fuel_type": FUEL_TYPES,
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
        "generator_fuel_type": FUEL_TYPES,
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


# --- customer and utility -------------------------------------------------------------------------

# Customer's text fields: the record declares the first twelve, then partner_offering_date,
# is_in_wholesale_capacity_market, dispatch_option and billing, then the last one.
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
_UTILITY_TEXT = (
    "load_serving_entity",
    "electric_service_account_number",
    "tariff",
    "voltage",
    "utility_meter_serial_number",
    "bill_service_agreement_number",
    "bill_customer_account_number",
)
_UTILITY_KEYS = frozenset(_UTILITY_TEXT) | {"utility_name"}


def _clean_texts(obj: dict[str, Any], keys: tuple[str, ...]) -> tuple[str | None, ...] | None:
    """obj's values at `keys`, if each is a string of sane length or null; None otherwise."""
    values = tuple(map(obj.get, keys))
    for value in values:
        if value is not None and (value.__class__ is not str or len(value) > HUGE_STRING):
            return None
    return values


def _clean_customer(ctx: _Ctx, value: Any) -> Customer | None:
    """Built without warnings but for unknown fields, and billing's (parsed last, as the
    tolerant path does)."""
    if value.__class__ is not dict:
        return None
    if not value.keys() <= _CUSTOMER_KEYS:
        _unknown_fields(ctx, value, _CUSTOMER_KEYS, "customer")
    get = value.get
    texts: Any = _clean_texts(value, _CUSTOMER_TEXT)
    if texts is None or None in map(get, _ADDRESS_REQUIRED):
        return None
    offered, wholesale = get("partner_offering_date"), get("is_in_wholesale_capacity_market")
    dispatch = get("dispatch_option")
    if offered is not None and (offered := well_formed_date(offered)) is None:
        return None
    if wholesale is not None and wholesale.__class__ is not bool:
        return None
    if dispatch is not None and (dispatch.__class__ is not str or dispatch not in DISPATCH_OPTIONS):
        return None
    billing = _blob_field(ctx, value, "billing", _BILLING, "customer")
    # mypy cannot place the arguments that follow a *spread: the ignore is for that.
    return Customer(  # type: ignore[call-arg]
        *texts[:12], offered, wholesale, dispatch, billing, texts[12]
    )


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
        dispatch_option=_field(ctx, obj, "dispatch_option", path, DISPATCH_OPTIONS),
        billing=_blob_field(ctx, obj, "billing", _BILLING, path),
    )


def _clean_utility(ctx: _Ctx, value: Any) -> Utility | None:
    if value.__class__ is not dict:
        return None
    if not value.keys() <= _UTILITY_KEYS:
        _unknown_fields(ctx, value, _UTILITY_KEYS, "utility")
    name = value.get("utility_name")
    if name is not None and (name.__class__ is not str or name not in UTILITIES):
        return None
    texts = _clean_texts(value, _UTILITY_TEXT)
    return None if texts is None else Utility(name, *texts)


def _utility(ctx: _Ctx, value: Any, path: str) -> Utility:
    obj = _object(ctx, value, _UTILITY_KEYS, path)
    return Utility(
        utility_name=_field(ctx, obj, "utility_name", path, UTILITIES),
        **{key: _field(ctx, obj, key, path, _text) for key in _UTILITY_TEXT},
    )


# --- the meter ------------------------------------------------------------------------------------

_DETAILS_KEYS = IDENTIFIER_KEYS | {"customer", "utility", "device", "site"}
_DETAILS_KEYS |= {"caiso", "isone", "nyiso"}
# The spec's required list for this endpoint.
_DETAILS_REQUIRED = frozenset({"is_archived", "meter_type", "transmission_region"})


def _details(
    ctx: _Ctx, raw: dict[str, Any], meter_id: UUID, identifiers: Identifiers
) -> MeterDetails:
    """The record, each part through its clean parser first; warnings in the field order."""
    customer = _clean_customer(ctx, raw.get("customer"))
    if customer is None:
        customer = _sub(ctx, raw, "customer", _customer, REQUIRED)
    utility = raw.get("utility")
    if utility is not None:
        utility = _clean_utility(ctx, utility) or _sub(ctx, raw, "utility", _utility)
    *block, audit = identifiers  # MeterDetails declares audit after the region blocks
    # mypy cannot place the arguments that follow a *spread: the ignore is for that.
    return MeterDetails(  # type: ignore[call-arg]
        meter_id,
        *block,
        customer,
        utility,
        _blob_field(ctx, raw, "device", _DEVICE),
        _blob_field(ctx, raw, "site", _SITE),
        _blob_field(ctx, raw, "caiso", _CAISO),
        _blob_field(ctx, raw, "isone", _ISONE),
        _blob_field(ctx, raw, "nyiso", _NYISO),
        audit,
        tuple(ctx.warnings),
        raw,
    )


def _build_details(ctx: _Ctx, raw: dict[str, Any], meter_id: UUID) -> MeterDetails:
    """The tolerant path for the top level."""
    _object(ctx, raw, _DETAILS_KEYS, "")
    return _details(ctx, raw, meter_id, _identifiers(ctx, raw, _DETAILS_REQUIRED))


def _fast_details(ctx: _Ctx, raw: dict[str, Any], meter_id: UUID) -> MeterDetails | None:
    """The record when the top level needs no warning (parts may still); else None."""
    _object(ctx, raw, _DETAILS_KEYS, "")  # the tolerant path reports these first too
    identifiers = _clean_identifiers(ctx, raw, _DETAILS_REQUIRED)
    return None if identifiers is None else _details(ctx, raw, meter_id, identifiers)


def parse_meter_details(raw: Any, *, strict: bool = False) -> MeterDetails:
    """A MeterDetailsResponse as a MeterDetails record.

    Tolerant by default: unknown fields and enum values, missing spec-required fields and
    malformed optional parts become `warnings` (the part is dropped, `raw` keeps everything).
    PayloadError only when the meter is unusable; with strict=True every warning raises it.
    """
    return _parse(raw, strict, _fast_details, _build_details)
