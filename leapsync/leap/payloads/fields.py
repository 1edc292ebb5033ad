"""The tolerant path: field access that reports every problem as a warning on the context.

Each parse function in this package first tries a fast check that accepts only clean input and
builds the record directly; anything else comes here, where the problem is described with its
path ("program_enrollment[].market_group_id") and the value is coerced, dropped or kept. Unknown
fields are the exception: the fast checks report them (`_unknown_fields`) and go on, since when
Leap adds a field every object of that shape carries it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any
from uuid import UUID

from .values import (
    HUGE_STRING,
    PayloadError,
    parse_date,
    parse_datetime,
    parse_datetime_str,
    parse_uuid,
    remember,
    well_formed_date,
)


class _Invalid(Exception):
    """An item or sub-object cannot be used; its parent drops it (or, at the top, rejects the meter)."""


# Field levels. REQUIRED follows the spec's `required` lists: missing is only a warning, because
# Leap's guide says many fields may be empty. ESSENTIAL fields are those a record cannot exist
# without (e.g. an action without its code); missing them drops the item.
OPTIONAL, REQUIRED, ESSENTIAL = 0, 1, 2


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
    return parse_uuid(value)


def _datetime(ctx: _Ctx, value: Any, path: str, key: str) -> datetime | None:
    return parse_datetime_str(value) if value.__class__ is str else parse_datetime(value)


def _date(ctx: _Ctx, value: Any, path: str, key: str) -> date:
    return parse_date(value)


def _enum_value(ctx: _Ctx, value: Any, path: str, key: str, known: frozenset[str]) -> str:
    text = _text(ctx, value, path, key)
    if text not in known:
        ctx.warn(f"unknown value for {_join(path, key)}: {text[:128]}")
    return text


def _field(
    ctx: _Ctx,
    obj: dict[str, Any],
    key: str,
    path: str,
    kind: _Kind | frozenset[str],
    level: int = OPTIONAL,
) -> Any:
    """obj[key] converted by `kind` (a frozenset kind is an enum; unknown values are kept).

    Null, absent and (except for free text) "" all count as absent.
    """
    value = obj.get(key)
    if value.__class__ is str and value:
        if kind is _text and len(value) <= HUGE_STRING:
            return value
        if isinstance(kind, frozenset) and value in kind:
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


def _list(ctx: _Ctx, obj: dict[str, Any], key: str, path: str, level: int = OPTIONAL) -> list[Any]:
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


def _items(
    ctx: _Ctx, values: list[Any], where: str, parse: Callable[[_Ctx, Any, str], Any]
) -> tuple[Any, ...]:
    """Parse each item; an unusable one is dropped with a warning instead of failing the meter."""
    out = []
    for value in values:
        try:
            out.append(parse(ctx, value, where))
        except _Invalid as exc:
            ctx.warn(f"dropped {where} item: {exc}")
    return tuple(out)


def _each(
    ctx: _Ctx,
    values: list[Any],
    where: str,
    fast: Callable[[_Ctx, Any, str], Any],
    parse: Callable[[_Ctx, Any, str], Any],
) -> tuple[Any, ...]:
    """Like _items, but each item first goes through `fast` (None: take the tolerant `parse`)."""
    out = []
    for value in values:
        record = fast(ctx, value, where)
        if record is None:
            try:
                record = parse(ctx, value, where)
            except _Invalid as exc:
                ctx.warn(f"dropped {where} item: {exc}")
                continue
        out.append(record)
    return tuple(out)


def _object(ctx: _Ctx, value: Any, known: frozenset[str], path: str) -> dict[str, Any]:
    """`value` as a JSON object, each key outside `known` reported (and kept in raw)."""
    if not isinstance(value, dict):
        raise _Invalid(f"expected object, got {type(value).__name__}")
    if not value.keys() <= known:
        _unknown_fields(ctx, value, known, path)
    return value


# The "unknown field" messages of an object, by its known keys, path and keys in order. When Leap
# adds a field, every object of that shape on every meter carries it: the fast parsers report it
# and go on, and the messages are worked out once per shape. Shapes of more keys than any of
# Leap's objects has are not kept, so that odd payloads cannot fill memory with key tuples.
_UNKNOWN_FIELDS: dict[tuple[frozenset[str], str, tuple[str, ...]], tuple[str, ...]] = {}
_SHAPE_KEYS = 64


def _unknown_fields(ctx: _Ctx, obj: dict[str, Any], known: frozenset[str], path: str) -> None:
    """Report each key of `obj` outside `known` (the value stays in the record's raw JSON).

    The fast parsers call this too, and build the record from the known keys as usual: schema
    drift costs a lookup per object, not the tolerant path.
    """
    shape = (known, path, tuple(obj))
    messages = _UNKNOWN_FIELDS.get(shape)
    if messages is None:
        unknown = sorted(obj.keys() - known)
        messages = tuple(f"unknown field: {_join(path, key)}" for key in unknown)
        if len(obj) <= _SHAPE_KEYS:
            remember(_UNKNOWN_FIELDS, shape, messages)
    for message in messages:
        ctx.warn(message)


def _string_item(ctx: _Ctx, value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"expected string, got {type(value).__name__}")
    return _text(ctx, value, where, "")


def _strings(
    ctx: _Ctx, obj: dict[str, Any], key: str, level: int, known: frozenset[str] | None = None
) -> tuple[Any, ...]:
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


# The classes a value of each kind has when it needs neither a warning nor a coercion.
_CLEAN_CLASSES: dict[Any, frozenset[type]] = {
    _text: frozenset({str}),
    _date: frozenset({str}),
    _number: frozenset({int, float}),
    _integer: frozenset({int}),
    _bool: frozenset({bool}),
}


# --- schemaless blobs: device, site, region blocks, billing ---------------------------------------
# Kept as dicts (their shape drifts between spec versions), but checked so that strict mode and
# the warnings still catch drift. A value that fails its check is left out of the returned dict.


class _Blob:
    """What a blob may hold: a kind (or a nested blob, for arrays of objects) per key.

    Also derives what _clean_blob checks: the classes each key accepts without a warning, the
    enum values per key, and which strings must be dates.
    """

    __slots__ = ("accepts", "dates", "enums", "kinds", "known", "required")

    def __init__(self, kinds: Mapping[str, Any], required: frozenset[str] = frozenset()) -> None:
        self.kinds = kinds
        self.required = required
        self.known = frozenset(kinds)
        self.accepts = {key: _accepted(kind, key in required) for key, kind in kinds.items()}
        self.enums = {key: kind for key, kind in kinds.items() if kind.__class__ is frozenset}
        self.dates = frozenset(key for key, kind in kinds.items() if kind is _date)


def _accepted(kind: Any, required: bool) -> frozenset[type]:
    if kind.__class__ is _Blob:
        return frozenset({list})  # not null: the tolerant path turns that into []
    classes = _CLEAN_CLASSES[kind] if kind.__class__ is not frozenset else frozenset({str})
    return classes if required else classes | {type(None)}


def _blob(ctx: _Ctx, value: Any, path: str, spec: _Blob) -> dict[str, Any]:
    """The tolerant path: a copy of the blob without the values that fail their check."""
    obj = _object(ctx, value, spec.known, path)
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


def _blob_item(spec: _Blob) -> Callable[[_Ctx, Any, str], dict[str, Any]]:
    return lambda ctx, value, where: _blob(ctx, value, where, spec)


def _clean_blob(ctx: _Ctx, value: Any, spec: _Blob, where: str) -> dict[str, Any] | None:
    """A copy of a blob whose known keys need no cleaning (unknown ones are reported and kept),
    or None: then _blob must report the problems."""
    if value.__class__ is not dict or not spec.required <= value.keys():
        return None
    accepts, enums = spec.accepts, spec.enums
    nested: dict[str, list[Any]] = {}
    unknown = False
    for key, item in value.items():
        cls = item.__class__
        if cls not in accepts.get(key, ()):
            if key in accepts:
                return None  # a value that needs a warning or coercion
            unknown = True
        elif cls is str:
            if len(item) > HUGE_STRING or (key in enums and item not in enums[key]):
                return None
            if key in spec.dates and well_formed_date(item) is None:
                return None
        elif cls is list:
            items_where, kind = f"{where}.{key}[]", spec.kinds[key]
            nested[key] = cleaned = [_clean_blob(ctx, entry, kind, items_where) for entry in item]
            if None in cleaned:
                return None
    if unknown:
        _unknown_fields(ctx, value, spec.known, where)
    return {**value, **nested} if nested else dict(value)


def _blob_field(
    ctx: _Ctx, obj: dict[str, Any], key: str, spec: _Blob, path: str = ""
) -> dict[str, Any] | None:
    """The optional blob obj[key], cleaned; see _blob."""
    value = obj.get(key)
    if value is None:
        return None
    clean = _clean_blob(ctx, value, spec, _join(path, key))
    if clean is None:
        clean = _sub(ctx, obj, key, lambda c, v, p: _blob(c, v, p, spec), path=path)
    return clean


def _sub(
    ctx: _Ctx,
    raw: dict[str, Any],
    key: str,
    parse: Callable[..., Any],
    level: int = OPTIONAL,
    path: str = "",
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
