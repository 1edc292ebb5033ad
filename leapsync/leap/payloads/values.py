"""Scalar values in Leap's JSON: date-times, dates, UUIDs, and the payload hash.

The fast functions (`well_formed_datetime`, `well_formed_date`, `well_formed_uuid`) return the
parsed value for the common, clean spelling and None for anything else; callers then take the
tolerant path, which reports the problem. They never raise.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import msgspec

# Leap spells "no end" as a far-future instant (9000-01-01, 9000-12-31T23:59:59.999999999, 2099-...).
OPEN_ENDED_YEAR = 2099
# Long strings are kept whole (the database stores text) but reported: no Leap field is this long.
HUGE_STRING = 65_536


class PayloadError(ValueError):
    """The meter cannot be used: not an object, no valid meter_id, or a required field unusable."""


_DATETIME_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?"
)
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")

# The same deadlines and period bounds repeat across thousands of meters: parse each string once.
# Caches are bounded by emptying them when full; they only ever hold well-formed values.
CACHE_SIZE = 16_384
_DATETIME_CACHE: dict[str, datetime] = {}
_DATE_CACHE: dict[str, date] = {}
_UUID_CACHE: dict[str, UUID] = {}


def _zulu(value: str) -> datetime | None:
    """Leap's usual shape, 'YYYY-MM-DDTHH:MM:SS[.fff|.ffffff]Z', without the regex; else None.

    With the separators in place, fromisoformat accepts only ASCII digits at the other positions,
    so whatever it parses here, the general path would accept and parse identically.
    """
    size = len(value)
    if size != 20 and not ((size == 24 or size == 27) and value[19] == "."):
        return None
    if value[-1] != "Z" or value[10] != "T" or (size != 20 and not value[20:-1].isdigit()):
        return None
    if value[4] != "-" or value[7] != "-" or value[13] != ":" or value[16] != ":":
        return None
    try:
        return datetime.fromisoformat(value)  # "Z" gives tzinfo UTC itself
    except ValueError:
        return None


def _parse_datetime_text(value: str) -> datetime:
    text = value.strip().upper()
    if not _DATETIME_RE.fullmatch(text):
        raise PayloadError(f"not an ISO-8601 date-time: {value[:64]!r}")
    try:
        parsed = datetime.fromisoformat(text)  # 3.11: "Z", and fractions past 6 digits truncated
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise PayloadError(f"not a valid date-time: {value[:64]!r}") from None


def remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    """cache[key] = value, emptying the cache first when it is full."""
    if len(cache) >= CACHE_SIZE:
        cache.clear()
    cache[key] = value


def parse_datetime_str(value: str) -> datetime:
    """An aware UTC datetime from a date-time string; PayloadError if it is not one."""
    parsed = _DATETIME_CACHE.get(value)
    if parsed is None:
        parsed = _zulu(value) or _parse_datetime_text(value)
        remember(_DATETIME_CACHE, value, parsed)
    return parsed


def well_formed_datetime(value: Any) -> datetime | None:
    """The datetime for a cached or 'YYYY-MM-DDTHH:MM:SS(.fff)Z' string; None for anything else."""
    if value.__class__ is not str:
        return None
    parsed = _DATETIME_CACHE.get(value)
    if parsed is None:
        parsed = _zulu(value)
        if parsed is not None:
            remember(_DATETIME_CACHE, value, parsed)
    return parsed


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
    return parse_datetime_str(value)


# A page's stamps in one of Leap's usual spellings, joined by newlines (see latest_datetime).
_STAMP = "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
_ZULU_RUNS = {
    size: re.compile(f"(?:{_STAMP}{fraction}Z\n)*{_STAMP}{fraction}Z")
    for size, fraction in ((20, ""), (24, "[.][0-9]{3}"), (27, "[.][0-9]{6}"))
}


def latest_datetime(values: Sequence[Any]) -> datetime | None:
    """The latest instant among date-time values; None, and values that do not parse, ignored.

    A full sync reads two audit stamps per meter only to find the latest (its cursor). When a
    page's stamps all share one of Leap's usual spellings ('YYYY-MM-DDTHH:MM:SS[.fff|.ffffff]Z',
    one length), as Leap's do, their strings sort as their instants do: one regular expression
    checks them all and only the greatest is parsed. Any other page is parsed value by value.
    """
    present = [value for value in values if value is not None]
    try:
        uniform = _ZULU_RUNS.get(len(present[0])) if present else None
        if uniform is not None and uniform.fullmatch("\n".join(present)):
            latest = _zulu(max(present))
            if latest is not None:  # else the greatest is no date (month 13): parse them all
                return latest
    except TypeError:  # a value that is not a string
        pass
    return _latest_parsed(present)


def _latest_parsed(values: Iterable[Any]) -> datetime | None:
    latest = None
    for value in values:
        try:
            parsed = parse_datetime(value)
        except PayloadError:
            continue
        if parsed is not None and (latest is None or parsed > latest):
            latest = parsed
    return latest


def parse_date(value: Any) -> date:
    """A date from 'YYYY-MM-DD' (or a date itself); PayloadError otherwise."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _DATE_RE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise PayloadError(f"not an ISO-8601 date: {str(value)[:64]!r}")


def well_formed_date(value: Any) -> date | None:
    """The date for a 'YYYY-MM-DD' string; None for anything else (fromisoformat checks digits)."""
    if value.__class__ is not str:
        return None
    parsed = _DATE_CACHE.get(value)
    if parsed is None:
        if len(value) != 10 or value[4] != "-" or value[7] != "-":
            return None
        try:
            parsed = date.fromisoformat(value)
        except ValueError:
            return None
        remember(_DATE_CACHE, value, parsed)
    return parsed


def parse_uuid(value: Any) -> UUID:
    """A UUID from its text (any spelling uuid.UUID accepts); PayloadError otherwise."""
    if isinstance(value, UUID):
        return value
    if isinstance(value, str):
        parsed = _UUID_CACHE.get(value)
        if parsed is not None:
            return parsed
        try:
            parsed = UUID(value)
        except ValueError:
            pass
        else:
            remember(_UUID_CACHE, value, parsed)
            return parsed
    raise PayloadError(f"not a UUID: {str(value)[:64]!r}")


def well_formed_uuid(value: Any) -> UUID | None:
    """The UUID for a cached or valid string (market groups repeat); None for anything else."""
    if value.__class__ is not str:
        return None
    try:
        return parse_uuid(value)
    except PayloadError:
        return None


def is_open_ended(dt: datetime | None) -> bool:
    """True for None or a year >= 2099: Leap's spellings of "no end"."""
    return dt is None or dt.year >= OPEN_ENDED_YEAR


def payload_hash(raw: Any) -> str:
    """Digest of one record's JSON text as Leap sent it: equal text, equal digest.

    `raw` is the text (bytes-like, such as a page's `msgspec.Raw` slice) or an already decoded
    record, which is encoded again compactly first (what the sync's tests hand in). The text
    is hashed rather than a canonical re-encoding, so an unchanged record is recognised
    without being decoded at all. Should Leap ever reformat its JSON, every record looks
    changed once: the sync then rewrites what it has, with no events (nothing changed in
    value), and converges.
    """
    if not isinstance(raw, bytes | bytearray | memoryview | msgspec.Raw):
        raw = msgspec.json.encode(raw)
    return hashlib.blake2b(raw, digest_size=16).hexdigest()
