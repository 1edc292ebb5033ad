"""Meter enrollments (MeterEnrollmentResponse): programs, deadlines, preferences, actions.

Every item has two parsers: `_clean_<item>` builds the record when the item needs no warning
but for unknown fields, which it reports (and returns None otherwise), `_<item>` is the tolerant
path that reports what is wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from leapsync.leap.enums import (
    ACTION_TYPES,
    ENROLLMENT_STATUSES,
    PARTICIPATION_PREFERENCES,
    PROGRAM_IDENTIFIERS,
)

from .common import IDENTIFIER_KEYS, _clean_identifiers, _identifiers, _parse
from .fields import (
    ESSENTIAL,
    REQUIRED,
    _Ctx,
    _datetime,
    _each,
    _field,
    _list,
    _object,
    _sub,
    _text,
    _unknown_fields,
    _uuid,
)
from .records import (
    EnrollmentDeadline,
    MeterEnrollment,
    ParticipationPreference,
    ProgramEnrollment,
    RequiredAction,
)
from .values import HUGE_STRING, remember, well_formed_datetime, well_formed_uuid

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
_ACTIONS_KEYS = frozenset({"partner", "leap"})
_ENROLLMENT_KEYS = IDENTIFIER_KEYS | {"global_enrollment_status", "participation_preferences"}
_ENROLLMENT_KEYS |= {"program_enrollment", "required_actions"}
# The spec's required list for this endpoint.
_ENROLLMENT_REQUIRED = frozenset({"is_archived", "load_types", "tags", "transmission_region"})


def _is_text(value: Any) -> bool:
    return value.__class__ is str and len(value) <= HUGE_STRING


def _is_optional_text(value: Any) -> bool:
    return value is None or (value.__class__ is str and len(value) <= HUGE_STRING)


# --- deadlines ------------------------------------------------------------------------------------

# Deadlines are the most numerous item and repeat across meters (same program calendars); the
# records are immutable, so a clean one is built once per pair of strings and shared.
_DEADLINE_CACHE: dict[tuple[str, str], EnrollmentDeadline] = {}


def _clean_deadline(ctx: _Ctx, value: Any, where: str) -> EnrollmentDeadline | None:
    if value.__class__ is not dict:
        return None
    if len(value) != 2 and not value.keys() <= _DEADLINE_KEYS:  # two known keys: none unknown
        _unknown_fields(ctx, value, _DEADLINE_KEYS, where)
    return _new_deadline(
        value.get("enrollment_deadline_date_time"), value.get("activation_date_time")
    )


def _new_deadline(deadline_at: Any, activation_at: Any) -> EnrollmentDeadline | None:
    """The deadline of two clean date-time strings; None otherwise."""
    if deadline_at.__class__ is not str or activation_at.__class__ is not str:
        return None
    key = (deadline_at, activation_at)
    deadline = _DEADLINE_CACHE.get(key)
    if deadline is None:
        deadline_dt = well_formed_datetime(deadline_at)
        activation_dt = well_formed_datetime(activation_at)
        if deadline_dt is None or activation_dt is None:
            return None
        deadline = EnrollmentDeadline(deadline_dt, activation_dt)
        remember(_DEADLINE_CACHE, key, deadline)
    return deadline


def _deadline(ctx: _Ctx, value: Any, path: str) -> EnrollmentDeadline:
    obj = _object(ctx, value, _DEADLINE_KEYS, path)
    return EnrollmentDeadline(
        enrollment_deadline_date_time=_field(
            ctx, obj, "enrollment_deadline_date_time", path, _datetime, ESSENTIAL
        ),
        activation_date_time=_field(ctx, obj, "activation_date_time", path, _datetime, REQUIRED),
    )


# --- programs -------------------------------------------------------------------------------------


# Programs repeat across meters too (same calendars, statuses and market groups): a clean one is
# cached under its raw values, which determine the record once its keys are known to be clean.
_PROGRAM_CACHE: dict[tuple[Any, ...], ProgramEnrollment] = {}
_PROGRAM_FIELDS = (
    "program_identifier",
    "delivery_period",
    "delivery_period_start_date_time",
    "delivery_period_end_date_time",
    "enrollment_status",
    "market_group_id",
    "market_group_name",
)


def _deadline_pairs(ctx: _Ctx, deadlines: Any, where: str) -> tuple[tuple[Any, Any], ...] | None:
    """The known values of an array of objects (unknown keys reported); else None."""
    if deadlines.__class__ is not list:
        return None
    pairs = []
    for deadline in deadlines:
        if deadline.__class__ is not dict:
            return None
        if len(deadline) != 2 and not deadline.keys() <= _DEADLINE_KEYS:
            _unknown_fields(ctx, deadline, _DEADLINE_KEYS, f"{where}.enrollment_deadlines[]")
        get = deadline.get
        pairs.append((get("enrollment_deadline_date_time"), get("activation_date_time")))
    return tuple(pairs)


def _clean_program(ctx: _Ctx, value: Any, where: str) -> ProgramEnrollment | None:
    if value.__class__ is not dict:
        return None
    if not value.keys() <= _PROGRAM_KEYS:
        _unknown_fields(ctx, value, _PROGRAM_KEYS, where)
    pairs = _deadline_pairs(ctx, value.get("enrollment_deadlines"), where)
    if pairs is None:
        return None
    key = (*map(value.get, _PROGRAM_FIELDS), pairs)
    try:
        program = _PROGRAM_CACHE.get(key)
    except TypeError:  # an array or object where a string belongs
        return None
    if program is None:
        program = _new_program(value, pairs)
        if program is not None:
            remember(_PROGRAM_CACHE, key, program)
    return program


def _new_program(
    value: dict[str, Any], pairs: tuple[tuple[Any, Any], ...]
) -> ProgramEnrollment | None:
    get: Callable[[str], Any] = value.get
    start = well_formed_datetime(get("delivery_period_start_date_time"))
    end = well_formed_datetime(get("delivery_period_end_date_time"))
    program, status = get("program_identifier"), get("enrollment_status")
    period, group_name = get("delivery_period"), get("market_group_name")
    group_id = get("market_group_id")
    if start is None or end is None:
        return None
    if program is not None and (program.__class__ is not str or program not in PROGRAM_IDENTIFIERS):
        return None
    if status.__class__ is not str or status not in ENROLLMENT_STATUSES:
        return None
    if not _is_optional_text(period) or not _is_optional_text(group_name):
        return None
    if group_id is not None and (group_id := well_formed_uuid(group_id)) is None:
        return None
    deadlines: list[Any] = [_new_deadline(*pair) for pair in pairs]
    if not all(deadlines):  # records are always true; `None in` would call their __eq__
        return None
    return ProgramEnrollment(
        program, period, start, end, status, tuple(deadlines), group_id, group_name
    )


def _program(ctx: _Ctx, value: Any, path: str) -> ProgramEnrollment:
    obj = _object(ctx, value, _PROGRAM_KEYS, path)
    start = _field(ctx, obj, "delivery_period_start_date_time", path, _datetime, ESSENTIAL)
    end = _field(ctx, obj, "delivery_period_end_date_time", path, _datetime, REQUIRED)
    deadlines = _list(ctx, obj, "enrollment_deadlines", path, REQUIRED)
    where = f"{path}.enrollment_deadlines[]"
    return ProgramEnrollment(
        program_identifier=_field(ctx, obj, "program_identifier", path, PROGRAM_IDENTIFIERS),
        delivery_period=_field(ctx, obj, "delivery_period", path, _text),
        delivery_period_start_date_time=start,
        delivery_period_end_date_time=end,
        enrollment_status=_field(
            ctx, obj, "enrollment_status", path, ENROLLMENT_STATUSES, REQUIRED
        ),
        enrollment_deadlines=_each(ctx, deadlines, where, _clean_deadline, _deadline),
        market_group_id=_field(ctx, obj, "market_group_id", path, _uuid),
        market_group_name=_field(ctx, obj, "market_group_name", path, _text),
    )


# --- participation preferences --------------------------------------------------------------------


def _clean_preference(ctx: _Ctx, value: Any, where: str) -> ParticipationPreference | None:
    if value.__class__ is not dict:
        return None
    if not value.keys() <= _PREFERENCE_KEYS:
        _unknown_fields(ctx, value, _PREFERENCE_KEYS, where)
    get = value.get
    preference, reason = get("participation_preference"), get("reason")
    start, end = well_formed_datetime(get("start_time")), get("end_time")
    if end is not None and (end := well_formed_datetime(end)) is None:
        return None
    if preference.__class__ is not str or preference not in PARTICIPATION_PREFERENCES:
        return None
    if start is None or not _is_optional_text(reason):
        return None
    return ParticipationPreference(preference, start, end, reason)


def _preference(ctx: _Ctx, value: Any, path: str) -> ParticipationPreference:
    obj = _object(ctx, value, _PREFERENCE_KEYS, path)
    return ParticipationPreference(
        participation_preference=_field(
            ctx, obj, "participation_preference", path, PARTICIPATION_PREFERENCES, ESSENTIAL
        ),
        start_time=_field(ctx, obj, "start_time", path, _datetime, ESSENTIAL),
        end_time=_field(ctx, obj, "end_time", path, _datetime),
        reason=_field(ctx, obj, "reason", path, _text),
    )


# --- required actions -----------------------------------------------------------------------------


# Actions repeat like programs do; cached the same way.
_ACTION_CACHE: dict[tuple[Any, ...], RequiredAction] = {}
_ACTION_FIELDS = (
    "program_identifier",
    "delivery_period",
    "enrollment_deadline_date_time",
    "action_type",
    "action_description",
    "action_code",
)


def _clean_action(ctx: _Ctx, value: Any, owner: str, where: str) -> RequiredAction | None:
    if value.__class__ is not dict:
        return None
    if not value.keys() <= _ACTION_KEYS:
        _unknown_fields(ctx, value, _ACTION_KEYS, where)
    key = (owner, *map(value.get, _ACTION_FIELDS))
    try:
        action = _ACTION_CACHE.get(key)
    except TypeError:  # an array or object where a string belongs
        return None
    if action is None:
        action = _new_action(*key)
        if action is not None:
            remember(_ACTION_CACHE, key, action)
    return action


def _new_action(
    owner: str, program: Any, period: Any, deadline_at: Any, kind: Any, description: Any, code: Any
) -> RequiredAction | None:
    deadline = well_formed_datetime(deadline_at)
    if program.__class__ is not str or program not in PROGRAM_IDENTIFIERS:
        return None
    if kind.__class__ is not str or kind not in ACTION_TYPES:
        return None
    if deadline is None or not (_is_text(period) and _is_text(description) and _is_text(code)):
        return None
    return RequiredAction(owner, program, period, deadline, kind, description, code)


def _action(ctx: _Ctx, value: Any, path: str, owner: str) -> RequiredAction:
    obj = _object(ctx, value, _ACTION_KEYS, path)
    return RequiredAction(
        owner=owner,
        program_identifier=_field(
            ctx, obj, "program_identifier", path, PROGRAM_IDENTIFIERS, REQUIRED
        ),
        delivery_period=_field(ctx, obj, "delivery_period", path, _text, REQUIRED),
        enrollment_deadline_date_time=_field(
            ctx, obj, "enrollment_deadline_date_time", path, _datetime, REQUIRED
        ),
        action_type=_field(ctx, obj, "action_type", path, ACTION_TYPES, ESSENTIAL),
        action_description=_field(ctx, obj, "action_description", path, _text, ESSENTIAL),
        action_code=_field(ctx, obj, "action_code", path, _text, ESSENTIAL),
    )


def _clean_partner_action(ctx: _Ctx, value: Any, where: str) -> RequiredAction | None:
    return _clean_action(ctx, value, "partner", where)


def _clean_leap_action(ctx: _Ctx, value: Any, where: str) -> RequiredAction | None:
    return _clean_action(ctx, value, "leap", where)


_OWNERS: dict[str, Callable[[_Ctx, Any, str], RequiredAction | None]] = {
    "partner": _clean_partner_action,
    "leap": _clean_leap_action,
}


def _required_actions(ctx: _Ctx, value: Any, path: str) -> tuple[RequiredAction, ...]:
    """Partner's actions first, then Leap's; each action records whose array it came from."""
    obj = _object(ctx, value, _ACTIONS_KEYS, path)
    actions: list[RequiredAction] = []
    for owner, clean in _OWNERS.items():
        items = _list(ctx, obj, owner, path)
        parse = _owned_action(owner)
        actions.extend(_each(ctx, items, f"{path}.{owner}[]", clean, parse))
    return tuple(actions)


def _owned_action(owner: str) -> Callable[[_Ctx, Any, str], RequiredAction]:
    return lambda ctx, value, path: _action(ctx, value, path, owner)


def _clean_actions(ctx: _Ctx, value: dict[str, Any]) -> tuple[RequiredAction, ...]:
    """_required_actions for the usual case: both arrays clean (else the tolerant path)."""
    partner: Any = value.get("partner")
    leap: Any = value.get("leap")
    if not value.keys() <= _ACTIONS_KEYS:
        _unknown_fields(ctx, value, _ACTIONS_KEYS, "required_actions")
    if partner.__class__ is list and leap.__class__ is list:
        where = "required_actions.partner[]"
        actions: list[Any] = [_clean_action(ctx, item, "partner", where) for item in partner]
        where = "required_actions.leap[]"
        actions += [_clean_action(ctx, item, "leap", where) for item in leap]
        if all(actions):  # records are always true; `None in` would call their __eq__
            return tuple(actions)
    return _required_actions(ctx, value, "required_actions")


# --- the meter ------------------------------------------------------------------------------------


def _build_enrollment(ctx: _Ctx, raw: dict[str, Any], meter_id: UUID) -> MeterEnrollment:
    """The tolerant path for the whole payload."""
    _object(ctx, raw, _ENROLLMENT_KEYS, "")
    identifiers = _identifiers(ctx, raw, _ENROLLMENT_REQUIRED)
    status = _field(ctx, raw, "global_enrollment_status", "", ENROLLMENT_STATUSES, REQUIRED)
    preferences = _list(ctx, raw, "participation_preferences", "")
    programs = _list(ctx, raw, "program_enrollment", "", REQUIRED)
    # mypy cannot place the arguments that follow a *spread: the ignore is for that.
    return MeterEnrollment(  # type: ignore[call-arg]
        meter_id,
        *identifiers,
        status,
        _each(ctx, preferences, "participation_preferences[]", _clean_preference, _preference),
        _each(ctx, programs, "program_enrollment[]", _clean_program, _program),
        _sub(ctx, raw, "required_actions", _required_actions, REQUIRED) or (),
        tuple(ctx.warnings),
        raw,
    )


def _fast_enrollment(ctx: _Ctx, raw: dict[str, Any], meter_id: UUID) -> MeterEnrollment | None:
    """The payload with a clean top level (items may still take the tolerant path); else None."""
    _object(ctx, raw, _ENROLLMENT_KEYS, "")  # the tolerant path reports these first too
    get: Callable[[str], Any] = raw.get
    status, actions = get("global_enrollment_status"), get("required_actions")
    preferences, programs = get("participation_preferences"), get("program_enrollment")
    if status.__class__ is not str or status not in ENROLLMENT_STATUSES:
        return None
    if programs.__class__ is not list or actions.__class__ is not dict:
        return None
    if preferences is None:
        preferences = []
    elif preferences.__class__ is not list:
        return None
    identifiers = _clean_identifiers(ctx, raw, _ENROLLMENT_REQUIRED)
    if identifiers is None:
        return None
    # mypy cannot place the arguments that follow a *spread: the ignore is for that.
    return MeterEnrollment(  # type: ignore[call-arg]
        meter_id,
        *identifiers,
        status,
        _each(ctx, preferences, "participation_preferences[]", _clean_preference, _preference),
        _each(ctx, programs, "program_enrollment[]", _clean_program, _program),
        _clean_actions(ctx, actions),
        tuple(ctx.warnings),
        raw,
    )


def parse_meter_enrollment(raw: Any, *, strict: bool = False) -> MeterEnrollment:
    """A MeterEnrollmentResponse as a MeterEnrollment record; same contract as parse_meter_details."""
    return _parse(raw, strict, _fast_enrollment, _build_enrollment)
