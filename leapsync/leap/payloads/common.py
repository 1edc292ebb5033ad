"""What both responses share: the meter_id, the identifier block with its audit, the entry point."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID

from leapsync.leap.enums import (
    CREATED_BY,
    CUSTOMER_CLASSIFICATIONS,
    LOAD_TYPES,
    METER_TYPES,
    TRANSMISSION_REGIONS,
)

from .fields import (
    OPTIONAL,
    REQUIRED,
    _bool,
    _Ctx,
    _datetime,
    _field,
    _Invalid,
    _object,
    _strings,
    _sub,
    _text,
    _unknown_fields,
)
from .records import Audit
from .values import HUGE_STRING, PayloadError, well_formed_datetime

_T = TypeVar("_T")

IDENTIFIER_KEYS = frozenset(
    {"meter_id", "partner_reference", "transmission_region", "customer_classification"}
    | {"load_types", "meter_type", "connection_references", "customer_group", "tags"}
    | {"is_archived", "audit"}
)
_AUDIT_KEYS = frozenset({"created_by", "created_at", "updated_at"})
_NO_AUDIT = Audit(created_by=None, created_at=None, updated_at=None)

# The identifier fields, in the order both record classes declare them after meter_id, then audit.
# The identifier fields in record order, spread into a record with *: typed loosely for that.
Identifiers = Any


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


def _audit(ctx: _Ctx, value: Any, path: str) -> Audit:
    obj = _object(ctx, value, _AUDIT_KEYS, path)
    return Audit(
        created_by=_field(ctx, obj, "created_by", path, CREATED_BY),
        created_at=_field(ctx, obj, "created_at", path, _datetime),
        updated_at=_field(ctx, obj, "updated_at", path, _datetime),
    )


def _clean_audit(ctx: _Ctx, value: Any) -> Audit | None:
    """The audit block when every known value in it is clean; None to take the tolerant path."""
    if value.__class__ is not dict:
        return None
    if not value.keys() <= _AUDIT_KEYS:
        _unknown_fields(ctx, value, _AUDIT_KEYS, "audit")
    get = value.get
    created_by, created_at, updated_at = get("created_by"), get("created_at"), get("updated_at")
    if created_by is not None and (created_by.__class__ is not str or created_by not in CREATED_BY):
        return None
    created = None if created_at is None else well_formed_datetime(created_at)
    updated = None if updated_at is None else well_formed_datetime(updated_at)
    if (created is None and created_at is not None) or (updated is None and updated_at is not None):
        return None
    return Audit(created_by, created, updated)


def _identifiers(ctx: _Ctx, raw: dict[str, Any], required: frozenset[str]) -> Identifiers:
    """The tolerant path for the identifier block; warnings in the order the fields are read."""

    def level(key: str) -> int:
        return REQUIRED if key in required else OPTIONAL

    audit = _sub(ctx, raw, "audit", _audit, REQUIRED)
    return (
        _field(ctx, raw, "partner_reference", "", _text),
        _field(
            ctx, raw, "transmission_region", "", TRANSMISSION_REGIONS, level("transmission_region")
        ),
        _field(ctx, raw, "customer_classification", "", CUSTOMER_CLASSIFICATIONS),
        _strings(ctx, raw, "load_types", level("load_types"), LOAD_TYPES),
        _field(ctx, raw, "meter_type", "", METER_TYPES, level("meter_type")),
        _strings(ctx, raw, "connection_references", OPTIONAL),
        _field(ctx, raw, "customer_group", "", _text),
        _strings(ctx, raw, "tags", level("tags")),
        bool(_field(ctx, raw, "is_archived", "", _bool, REQUIRED)),
        audit or _NO_AUDIT,
    )


def _clean_texts(values: Any, known: frozenset[str] | None = None) -> tuple[str, ...] | None:
    """An array of clean strings (all in `known`, if given) as a tuple; None otherwise."""
    if values.__class__ is not list:
        return None
    for value in values:
        if value.__class__ is not str or len(value) > HUGE_STRING:
            return None
        if known is not None and value not in known:
            return None
    return tuple(values)


def _clean_identifiers(
    ctx: _Ctx, raw: dict[str, Any], required: frozenset[str]
) -> Identifiers | None:
    """The identifier block when it needs no warning (`required`: the spec's list); else None."""
    get = raw.get
    region, classification = get("transmission_region"), get("customer_classification")
    meter_type, is_archived = get("meter_type"), get("is_archived")
    reference, group = get("partner_reference"), get("customer_group")
    if region.__class__ is not str or region not in TRANSMISSION_REGIONS:
        return None
    if classification is not None and (
        classification.__class__ is not str or classification not in CUSTOMER_CLASSIFICATIONS
    ):
        return None
    if meter_type is None:
        if "meter_type" in required:
            return None
    elif meter_type.__class__ is not str or meter_type not in METER_TYPES:
        return None
    if is_archived is not True and is_archived is not False:
        return None
    for text in (reference, group):
        if text is not None and (text.__class__ is not str or len(text) > HUGE_STRING):
            return None
    load_types = _optional_texts(get("load_types"), "load_types" in required, LOAD_TYPES)
    references = _optional_texts(get("connection_references"), False)
    tags = _optional_texts(get("tags"), "tags" in required)
    audit = _clean_audit(ctx, get("audit"))
    if load_types is None or references is None or tags is None or audit is None:
        return None
    identifiers = (reference, region, classification, load_types, meter_type, references, group)
    return (*identifiers, tags, is_archived, audit)


def _optional_texts(
    value: Any, required: bool, known: frozenset[str] | None = None
) -> tuple[str, ...] | None:
    """_clean_texts, with null as () unless the array is required (then it needs a warning)."""
    if value is None:
        return None if required else ()
    return _clean_texts(value, known)


def _parse(
    raw: Any,
    strict: bool,
    fast: Callable[[_Ctx, dict[str, Any], UUID], _T | None],
    build: Callable[[_Ctx, dict[str, Any], UUID], _T],
) -> _T:
    """Check the meter_id, then build the record.

    `fast` returns None when the top level of the payload needs the tolerant `build`, having
    warned at most about unknown fields, which `build` reports too (warnings are deduplicated,
    so the record holds the same warnings, perhaps in another order). Otherwise it builds the
    record, taking the tolerant path only for the sub-objects and items that need it.
    """
    meter_id = _meter_id(raw)
    ctx = _Ctx(strict)
    try:
        record = fast(ctx, raw, meter_id)
        return build(ctx, raw, meter_id) if record is None else record
    except _Invalid as exc:
        raise PayloadError(f"meter {meter_id}: {exc}") from None
