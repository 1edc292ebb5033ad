"""MeterFilterRequest: strict validation against every published limit, and meter matching."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from leapsync.leap.enums import (
    ACTION_TYPES,
    CUSTOMER_CLASSIFICATIONS,
    ENROLLMENT_STATUSES,
    LOAD_TYPES,
    METER_TYPES,
    TRANSMISSION_REGIONS,
)
from leapsync.leap.references import LEAP_PATTERN

from .catalog import ACTION_KINDS
from .state import MeterState
from .timeutil import parse_rfc3339

UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)


class FilterError(ValueError):
    """An invalid search body; `field` names the offending property."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _is_reference(value: str) -> bool:
    return bool(LEAP_PATTERN.match(value))


# name: (minItems, maxItems, item check)
_ARRAYS: dict[str, tuple[int, int, Callable[[str], bool]]] = {
    "meter_ids": (0, 1000, lambda v: bool(UUID_RE.match(v))),
    "partner_references": (1, 1000, _is_reference),
    "global_enrollment_statuses": (1, 5, ENROLLMENT_STATUSES.__contains__),
    "meter_types": (1, 20, METER_TYPES.__contains__),
    "load_types": (1, 20, LOAD_TYPES.__contains__),
    "customer_groups": (1, 20, lambda v: True),
    "tags": (1, 20, lambda v: True),
    "connection_reference_ids": (1, 100, _is_reference),
    "action_type": (1, 20, ACTION_TYPES.__contains__),
}
_ENUMS = {
    "transmission_region": TRANSMISSION_REGIONS,
    "customer_classification": CUSTOMER_CLASSIFICATIONS,
}
_DATES = ("last_modified_date_time", "created_after_date_time", "created_before_date_time")
_BOOLS = ("partner_action_required", "exclude_archived")


@dataclass(frozen=True, slots=True)
class MeterFilter:
    """A validated search body. Sets are None when the field was not given."""

    page_token: str | None
    page_size: int
    fingerprint: str
    sets: dict[str, frozenset[str]]
    enums: dict[str, str]
    dates: dict[str, datetime]
    partner_action_required: bool
    exclude_archived: bool

    @property
    def needs_meter(self) -> bool:
        """True when matching needs more of a meter than its created and updated instants."""
        return bool(
            self.sets or self.enums or self.partner_action_required or self.exclude_archived
        )


def parse_filter(body: bytes) -> MeterFilter:
    """Validate a MeterFilterRequest body; raise FilterError naming the first broken limit."""
    try:
        data = msgspec.json.decode(body) if body.strip() else {}
    except msgspec.DecodeError as exc:
        raise FilterError("body", "malformed JSON") from exc
    if not isinstance(data, dict):
        raise FilterError("body", "must be a JSON object")
    sets = {name: _array(data, name) for name in _ARRAYS if name in data}
    if "meter_ids" in sets:
        sets["meter_ids"] = frozenset(v.lower() for v in sets["meter_ids"])
        if not sets["meter_ids"]:
            del sets["meter_ids"]  # minItems is 0: an empty list filters nothing
    enums = {name: _enum(data, name) for name in _ENUMS if name in data}
    dates = {name: _date(data, name) for name in _DATES if name in data}
    flags = {name: _bool(data, name) for name in _BOOLS}
    page_token = data.get("page_token")
    if page_token is not None and not isinstance(page_token, str):
        raise FilterError("page_token", "must be a string")
    canonical = {"sets": {k: sorted(v) for k, v in sets.items()}, "enums": enums, "flags": flags}
    canonical["dates"] = {k: v.isoformat() for k, v in dates.items()}
    digest = hashlib.sha256(msgspec.json.encode(canonical, order="sorted")).hexdigest()
    return MeterFilter(
        page_token=page_token,
        page_size=_page_size(data),
        fingerprint=digest[:16],
        sets=sets,
        enums=enums,
        dates=dates,
        partner_action_required=flags["partner_action_required"],
        exclude_archived=flags["exclude_archived"],
    )


def _array(data: dict[str, Any], name: str) -> frozenset[str]:
    value = data[name]
    low, high, check = _ARRAYS[name]
    if not isinstance(value, list):
        raise FilterError(name, "must be an array")
    if not low <= len(value) <= high:
        raise FilterError(name, f"must have between {low} and {high} items")
    for item in value:
        if not isinstance(item, str):
            raise FilterError(name, "items must be strings")
        if not check(item):
            raise FilterError(name, f"invalid value {item!r}")
    unique = frozenset(value)
    if len(unique) != len(value):
        raise FilterError(name, "items must be unique")
    return unique


def _enum(data: dict[str, Any], name: str) -> str:
    value = data[name]
    if not isinstance(value, str) or value not in _ENUMS[name]:
        raise FilterError(name, f"invalid value {value!r}")
    return value


def _date(data: dict[str, Any], name: str) -> datetime:
    value = data[name]
    parsed = parse_rfc3339(value) if isinstance(value, str) else None
    if parsed is None:
        raise FilterError(name, "must be an RFC 3339 date-time")
    return parsed


def _bool(data: dict[str, Any], name: str) -> bool:
    value = data.get(name, False)
    if not isinstance(value, bool):
        raise FilterError(name, "must be a boolean")
    return value


def _page_size(data: dict[str, Any]) -> int:
    value: object = data.get("page_size", 500)
    if isinstance(value, bool) or not isinstance(value, int):
        raise FilterError("page_size", "must be an integer")
    if not 1 <= value <= 500:
        raise FilterError("page_size", "must be between 1 and 500")
    return value


def matches(f: MeterFilter, m: MeterState, global_status: Callable[[MeterState], str]) -> bool:
    """AND across fields, OR within a list; `global_status` is asked only when needed."""
    if f.exclude_archived and m.is_archived:
        return False
    if f.partner_action_required and not m.has_partner_action():
        return False
    if not _enum_and_date_match(f, m):
        return False
    sets = f.sets
    if sets and not _set_match(sets, m):
        return False
    statuses = sets.get("global_enrollment_statuses")
    return statuses is None or global_status(m) in statuses


def _enum_and_date_match(f: MeterFilter, m: MeterState) -> bool:
    enums, dates = f.enums, f.dates
    if "transmission_region" in enums and m.region != enums["transmission_region"]:
        return False
    if "customer_classification" in enums and m.classification != enums["customer_classification"]:
        return False
    if "last_modified_date_time" in dates and not m.updated_at > dates["last_modified_date_time"]:
        return False
    if "created_after_date_time" in dates and not m.created_at > dates["created_after_date_time"]:
        return False
    return not (
        "created_before_date_time" in dates and not m.created_at < dates["created_before_date_time"]
    )


def _set_match(sets: dict[str, frozenset[str]], m: MeterState) -> bool:
    checks: tuple[tuple[str, Callable[[frozenset[str]], bool]], ...] = (
        ("meter_ids", lambda s: m.meter_id in s),
        ("partner_references", lambda s: m.partner_reference in s),
        ("meter_types", lambda s: m.meter_type in s),
        ("load_types", lambda s: not s.isdisjoint(m.load_types)),
        ("customer_groups", lambda s: m.customer_group in s),
        ("tags", lambda s: not s.isdisjoint(m.tags)),
        ("connection_reference_ids", lambda s: not s.isdisjoint(m.connection_references)),
        ("action_type", lambda s: any(ACTION_KINDS[a.kind].action_type in s for a in m.actions)),
    )
    return all(name not in sets or check(sets[name]) for name, check in checks)
