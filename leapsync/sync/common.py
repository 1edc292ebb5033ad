"""What both streams' page appliers share: the page context, quarantine, events, column fitting."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, Self, TypeVar
from uuid import UUID

import msgspec
from django.db import models

from leapsync.leap.payloads import PayloadError, latest_datetime, payload_hash
from leapsync.lib import bulk
from leapsync.models import QuarantinedPayload, SyncRange, SyncRun
from meters.models import EventKind, MeterEvent

# A run keeps at most this many distinct warning messages (with their counts): enough to see
# what Leap changed, bounded so a systematic oddity on 100k meters cannot bloat the run row.
MAX_DISTINCT_WARNINGS = 200
# The MeterEvent columns naming what a change belongs to (a delivery period, an action).
EVENT_PARTS = ("program_identifier", "delivery_period", "owner", "action_type", "action_code")

# A table row by column name: what `.values()` reads and `bulk.write` takes.
Row = dict[str, Any]


class ParsedRecord(Protocol):
    """What `parse_all` reads of a parsed record (MeterDetails or MeterEnrollment)."""

    @property
    def meter_id(self) -> UUID: ...

    @property
    def warnings(self) -> tuple[str, ...]: ...


R = TypeVar("R", bound=ParsedRecord)


class SeenMeters:
    """The stored meters a run has seen (to flag the ones it has not), one bit per primary key.

    A full sync keeps this until its end, so its size is what grows with the inventory: a
    bitmap over the Meter table's keys takes an eighth of a byte a meter (125 KB at a million),
    where a set of meter_ids took about 70 bytes (measured: the sync's peak RSS grew by 125
    bytes a meter from 10,000 to 300,000 meters, nearly all of it that set).
    """

    __slots__ = ("_bits", "_count")

    def __init__(self) -> None:
        self._bits = bytearray()
        self._count = 0

    def update(self, pks: Iterable[int]) -> None:
        bits = self._bits
        for pk in pks:
            index, mask = pk >> 3, 1 << (pk & 7)
            if index >= len(bits):
                bits.extend(bytes(index + 1 - len(bits) + len(bits) // 8))
            if not bits[index] & mask:
                bits[index] |= mask
                self._count += 1

    def __ior__(self, other: SeenMeters) -> Self:
        size = len(other._bits)
        if size > len(self._bits):
            self._bits.extend(bytes(size - len(self._bits)))
        merged = int.from_bytes(self._bits[:size], "little") | int.from_bytes(other._bits, "little")
        self._bits[:size] = merged.to_bytes(size, "little")
        self._count = int.from_bytes(self._bits, "little").bit_count()
        return self

    def __contains__(self, pk: int) -> bool:
        index = pk >> 3
        return index < len(self._bits) and bool(self._bits[index] & (1 << (pk & 7)))

    def __len__(self) -> int:
        return self._count


@dataclass
class RunStats:
    """Counters and warnings a run accumulates page by page, saved onto its SyncRun.

    `warnings` holds each distinct message once with the number of times it was seen; a
    parsed record reports a message once, so a field Leap added is one entry counting the
    meters that carried it. The run's warnings count is the number of entries.
    """

    pages: int = 0
    meters_seen: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    missing: int = 0
    events: int = 0
    warnings: Counter[str] = field(default_factory=Counter)
    cursor_reached: datetime | None = None
    seen: SeenMeters = field(default_factory=SeenMeters)

    def warn(self, message: str, times: int = 1) -> None:
        if message in self.warnings or len(self.warnings) < MAX_DISTINCT_WARNINGS:
            self.warnings[message] += times
        else:
            self.warnings["(further distinct warnings not kept)"] += times

    def merge(self, page: RunStats) -> None:
        """Add one page's counters (kept apart until its transaction committed)."""
        for name in _COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(page, name))
        for message, count in page.warnings.items():
            self.warn(message, count)
        self.see_timestamps(page.cursor_reached)
        self.seen |= page.seen

    def see_timestamps(self, *stamps: datetime | None) -> None:
        for stamp in stamps:
            if stamp is not None and (self.cursor_reached is None or stamp > self.cursor_reached):
                self.cursor_reached = stamp

    def save_onto(self, run: SyncRun | SyncRange) -> None:
        """Set the counters a run (or one range of a split run) keeps from these."""
        for name in run.COUNTERS:
            if name != "warnings_count":
                setattr(run, name, getattr(self, name))
        run.warnings_count = len(self.warnings)
        run.warnings = dict(self.warnings.most_common())
        run.cursor_reached = self.cursor_reached


# The counters a page adds up; the warnings' count is summed from the messages instead.
_COUNTERS: tuple[str, ...] = tuple(name for name in SyncRun.COUNTERS if name != "warnings_count")


@dataclass
class PageContext:
    """One page being applied: the run, our clock for this page, and its pending writes.

    Events are collected keyed by Leap's meter_id (a new meter has no pk yet) and written by
    `flush` once the page's meters are upserted and their pks known.
    """

    run: SyncRun
    stats: RunStats
    now: datetime
    events: list[tuple[UUID, Row]] = field(default_factory=list)
    quarantine: list[QuarantinedPayload] = field(default_factory=list)
    # The page's meters the run has seen, by meter_id until `flush` knows their pks.
    seen: set[UUID] = field(default_factory=set)

    def event(
        self,
        meter_id: UUID,
        kind: EventKind,
        *,
        field_name: str = "",
        old: Any = "",
        new: Any = "",
        leap_updated_at: datetime | None = None,
        about: Mapping[str, str] | None = None,
    ) -> None:
        """Record a change; `about` names the delivery period or action it belongs to."""
        self.events.append(
            (
                meter_id,
                {
                    "kind": kind.value,
                    "field": field_name,
                    **dict.fromkeys(EVENT_PARTS, ""),
                    **(about or {}),
                    "old": _as_text(old),
                    "new": _as_text(new),
                    "observed_at": self.now,
                    "leap_updated_at": leap_updated_at,
                    "sync_run_id": self.run.pk,
                    "user_id": None,
                },
            )
        )

    def quarantine_raw(self, raw: Any, error: Exception) -> None:
        meter_id = raw.get("meter_id") if isinstance(raw, dict) else None
        self.quarantine.append(
            QuarantinedPayload(
                run=self.run,
                stream=self.run.stream,
                meter_id=str(meter_id)[:64] if meter_id is not None else "",
                error=str(error)[:2000],
                raw=raw if isinstance(raw, dict) else None,
                raw_text="" if isinstance(raw, dict) else repr(raw)[:10000],
            )
        )
        self.stats.quarantined += 1

    def flush(self, pks: dict[UUID, int]) -> None:
        """Write the page's events and quarantined records (inside the page's transaction).

        `pks` holds every meter of the page stored or written: the seen ones are noted by pk.
        """
        self.stats.seen.update(pks[meter_id] for meter_id in self.seen)
        if self.events:
            bulk.write(MeterEvent, [{"meter_id": pks[uuid], **row} for uuid, row in self.events])
            self.stats.events += len(self.events)
        if self.quarantine:
            QuarantinedPayload.objects.bulk_create(self.quarantine, batch_size=500)


class _Audit(msgspec.Struct):
    updated_at: str | None = None
    created_at: str | None = None


class _Key(msgspec.Struct):
    """What screening reads of a record; every other field is skipped, not decoded."""

    meter_id: str | None = None
    audit: _Audit | None = None


_KEY = msgspec.json.Decoder(_Key)
_TEXT = bytes | bytearray | memoryview | msgspec.Raw


@dataclass(slots=True)
class Incoming:
    """One record of a page, read only as far as screening needs: its meter, stamps, digest."""

    meter_id: UUID | None
    stamps: tuple[Any, ...]  # its audit's updated_at and created_at as Leap wrote them
    digest: str
    raw: Any  # the record's JSON text, or the decoded record once `payload()` has run

    def payload(self) -> Any:
        """The decoded record (a dict, unless Leap sent something else: parsing says so)."""
        if isinstance(self.raw, _TEXT):
            self.raw = _decoded(self.raw)
        return self.raw


def _decoded(text: Any) -> Any:
    text = bytes(text)
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:  # JSON the page's screening took but a full decode refuses
        return text.decode("utf-8", "replace")


def incoming(raws: list[Any]) -> list[Incoming]:
    """Read each record's meter_id and audit stamps; decode a record in full only if it is odd.

    `raws` are JSON texts (a search page read with `raw=True`) or decoded records.
    """
    items = []
    for raw in raws:
        digest = payload_hash(raw)
        if isinstance(raw, _TEXT):
            try:
                key = _KEY.decode(raw)
            except (msgspec.ValidationError, msgspec.DecodeError):
                key = None  # not an object, or a field of an unexpected type: decode it all
            if key is not None:
                audit = key.audit or _Audit()
                texts = (audit.updated_at, audit.created_at)
                items.append(Incoming(_uuid(key.meter_id), texts, digest, raw))
                continue
            raw = _decoded(raw)
        decoded_audit = raw.get("audit") if isinstance(raw, dict) else None
        stamps = (
            (decoded_audit.get("updated_at"), decoded_audit.get("created_at"))
            if isinstance(decoded_audit, dict)
            else ()
        )
        items.append(Incoming(meter_id_of(raw), stamps, digest, raw))
    return items


def screen(
    items: list[Incoming], stored_hash: Callable[[UUID], str | None], ctx: PageContext
) -> tuple[list[UUID], list[tuple[Any, str]]]:
    """Split a page into (unchanged meter_ids, changed records decoded, with their digest).

    Comparing digests of the records' text first means unchanged meters (most of any full
    run) are never decoded, let alone parsed. A record without a usable meter_id goes on as
    changed; parsing will quarantine it.
    """
    unchanged: list[UUID] = []
    changed: list[tuple[Any, str]] = []
    stamps: list[Any] = []
    for item in items:
        if item.meter_id is not None:
            stamps += item.stamps
            if stored_hash(item.meter_id) == item.digest:
                unchanged.append(item.meter_id)
                continue
        changed.append((item.payload(), item.digest))
    ctx.stats.see_timestamps(latest_datetime(stamps))
    ctx.stats.unchanged += len(unchanged)
    ctx.stats.meters_seen += len(unchanged)
    ctx.seen.update(unchanged)
    return unchanged, changed


def _uuid(value: str | None) -> UUID | None:
    try:
        return UUID(value) if value is not None else None
    except ValueError:
        return None


def meter_id_of(raw: Any) -> UUID | None:
    try:
        return UUID(raw["meter_id"])
    except (TypeError, KeyError, ValueError, AttributeError):
        return None


def parse_all(
    changed: list[tuple[Any, str]], parse: Callable[[Any], R], ctx: PageContext
) -> list[tuple[R, str]]:
    """Parse the changed records; one that cannot be used is quarantined and the page goes on."""
    records: list[tuple[R, str]] = []
    seen_in_page: set[UUID] = set()
    # Counted here, then added to the run's: after a Leap release every record reports its new
    # fields, and Counter.update costs a third of a warn() per message.
    warnings: Counter[str] = Counter()
    for raw, digest in changed:
        try:
            record = parse(raw)
        except PayloadError as error:
            ctx.quarantine_raw(raw, error)
            continue
        if record.meter_id in seen_in_page:
            ctx.stats.warn("meter listed twice in one page; the later copy was used")
            records = [r for r in records if r[0].meter_id != record.meter_id]
        seen_in_page.add(record.meter_id)
        if record.warnings:
            warnings.update(record.warnings)
        records.append((record, digest))
    for message, times in warnings.items():
        ctx.stats.warn(message, times)
    ctx.stats.meters_seen += len(records)
    ctx.seen.update(seen_in_page)
    return records


def fit(model: type[models.Model], name: str, value: str | None, stats: RunStats) -> str:
    """A Leap string for a bounded column; overlong values are cut (the raw JSON keeps them)."""
    if value is None:
        return ""
    if type(value) is not str:
        value = str(value)
    limit = _max_length(model, name)
    if limit is not None and len(value) > limit:
        stats.warn(f"{model._meta.label}.{name} longer than {limit} characters; cut for display")
        return value[:limit]
    return value


@functools.cache
def _max_length(model: type[models.Model], name: str) -> int | None:
    column = model._meta.get_field(name)
    if not isinstance(column, models.Field):  # a relation's reverse side or a generic key
        raise TypeError(f"{model._meta.label}.{name} is not a column")
    return column.max_length


# An event's value as JSON text, keys sorted; a type msgspec does not know is written as its str.
_SORTED = msgspec.json.Encoder(enc_hook=str, order="sorted")


def _as_text(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return _SORTED.encode(value).decode()
