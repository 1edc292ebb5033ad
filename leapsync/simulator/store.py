"""The meters, by sequence number: compact columns for every meter, a MeterState only where needed.

Meter `seq` is generated from (seed, seq, start) whenever it is needed and dropped again, unless
it has changed (or was handed out for changing): such a meter stays in memory for good. Every
meter has two integers (created and updated, in microseconds since the epoch), which is all the
date filters and the clock need. Nothing is drawn at start-up: the integers, the ids and the
partner references are noted as meters are generated, and drawn for all the others the first
time something needs them all (a date filter, a look-up that misses).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import overload

from .generate import generate_meter, meter_basics, meter_identity
from .state import MeterState

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
UNKNOWN = -(2**63)  # not drawn yet


def to_us(when: datetime) -> int:
    """Microseconds since the epoch (exact for aware datetimes)."""
    return (when - EPOCH) // MICROSECOND


def from_us(us: int) -> datetime:
    """The UTC datetime `us` microseconds after the epoch."""
    return EPOCH + timedelta(microseconds=us)


class MeterStore:
    """Meters 0..N-1 as generated at `start`, plus meters added later (always kept)."""

    def __init__(self, seed: int, count: int, start: datetime) -> None:
        self.seed = seed
        self.start = start
        self._created = array("q", [UNKNOWN]) * count
        self._updated = array("q", [UNKNOWN]) * count
        self._unknown = count
        self._live: dict[int, MeterState] = {}
        self._ids: dict[str, int] = {}
        self._refs: dict[str, set[int]] | None = None

    def __len__(self) -> int:
        return len(self._created)

    def get(self, seq: int) -> MeterState:
        """Meter `seq`: the kept state, or a freshly generated one that is not kept."""
        m = self._live.get(seq)
        if m is None:
            m = generate_meter(self.seed, seq, self.start)
            if len(self._ids) < len(self._created):
                self._ids[m.meter_id] = seq
            self._note(seq, m.created_at, m.updated_at)
        return m

    def _note(self, seq: int, created: datetime, updated: datetime) -> None:
        if self._created[seq] == UNKNOWN:
            self._created[seq] = to_us(created)
            self._updated[seq] = to_us(updated)
            self._unknown -= 1

    def instants(self) -> tuple[array[int], array[int]]:
        """(created, updated) of every meter by seq, in microseconds since the epoch."""
        if self._unknown:
            for seq in range(len(self._created)):
                if self._created[seq] == UNKNOWN:
                    b = meter_basics(self.seed, seq, self.start)
                    self._note(seq, b.created_at, b.updated_at)
        return self._created, self._updated

    def is_kept(self, seq: int) -> bool:
        """True when meter `seq` is held in memory (changed, added or handed out)."""
        return seq in self._live

    def kept(self) -> int:
        """How many meters are held in memory."""
        return len(self._live)

    def keep(self, seq: int) -> MeterState:
        """Meter `seq`, kept from now on: the caller may change it (and then touch it)."""
        m = self.get(seq)
        self._live[seq] = m
        return m

    def add(self, m: MeterState) -> None:
        """Append a new meter (its seq is the next one), kept for good."""
        assert m.seq == len(self._created)
        self._created.append(to_us(m.created_at))
        self._updated.append(to_us(m.updated_at))
        self._live[m.seq] = m
        self._ids[m.meter_id] = m.seq
        if self._refs is not None and m.partner_reference is not None:
            self._refs.setdefault(m.partner_reference, set()).add(m.seq)

    def touched(self, m: MeterState) -> None:
        """Record that kept meter `m` changed (its instants included: a test may move even its
        created_at, which Leap never does)."""
        self._live[m.seq] = m
        self._created[m.seq] = to_us(m.created_at)
        self._updated[m.seq] = to_us(m.updated_at)

    def set_reference(self, m: MeterState, value: str | None) -> None:
        """Change kept meter `m`'s partner_reference, and the index of them when built."""
        if self._refs is not None:
            if m.partner_reference is not None:
                self._refs[m.partner_reference].discard(m.seq)
            if value is not None:
                self._refs.setdefault(value, set()).add(m.seq)
        m.partner_reference = value

    def find(self, meter_id: str) -> int | None:
        """The seq of the meter with this (lower-case) id, or None."""
        seq = self._ids.get(meter_id)
        if seq is None and len(self._ids) < len(self._created):
            self._scan()
            seq = self._ids.get(meter_id)
        return seq

    def with_references(self, references: Iterable[str]) -> set[int]:
        """The seqs of the meters whose partner_reference is one of `references`."""
        if self._refs is None:
            self._scan()
        assert self._refs is not None
        return {seq for r in references for seq in self._refs.get(r, ())}

    def meter_id(self, seq: int) -> str:
        """The id of meter `seq` (ids never change)."""
        m = self._live.get(seq)
        return (
            m.meter_id if m is not None else meter_identity(self.seed, seq, self.start)[1].meter_id
        )

    def _scan(self) -> None:
        """Index every meter's id and partner_reference (drawing only as far as the id)."""
        refs: dict[str, set[int]] = {}
        for seq in range(len(self._created)):
            m = self._live.get(seq)
            if m is not None:
                meter_id, reference = m.meter_id, m.partner_reference
            else:
                b, identity = meter_identity(self.seed, seq, self.start)
                meter_id, reference = identity.meter_id, identity.partner_reference
                self._note(seq, b.created_at, b.updated_at)
            self._ids[meter_id] = seq
            if reference is not None:
                refs.setdefault(reference, set()).add(seq)
        self._refs = refs


class MetersView(Sequence[MeterState]):
    """Every meter in sequence order; an item read through it is kept (it may be changed)."""

    def __init__(self, store: MeterStore) -> None:
        self._store = store

    def __len__(self) -> int:
        return len(self._store)

    @overload
    def __getitem__(self, index: int) -> MeterState: ...

    @overload
    def __getitem__(self, index: slice) -> list[MeterState]: ...

    def __getitem__(self, index: int | slice) -> MeterState | list[MeterState]:
        if isinstance(index, slice):
            return [self._store.keep(seq) for seq in range(len(self._store))[index]]
        if not -len(self._store) <= index < len(self._store):
            raise IndexError(index)
        return self._store.keep(index % len(self._store))

    def __iter__(self) -> Iterator[MeterState]:
        return (self._store.keep(seq) for seq in range(len(self._store)))
