"""Deterministic generation of one meter's state from (seed, sequence number, start instant)."""

from __future__ import annotations

import random
import uuid
from bisect import bisect
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from itertools import accumulate
from typing import Any, NamedTuple, TypeVar

from .catalog import (
    ACTION_KINDS,
    COMMERCIAL_LOADS,
    CUSTOMER_GROUPS,
    DEVICE_TYPE_WEIGHTS,
    DISENROLL_REASONS,
    IDLE_REASONS,
    LOAD_TYPES_BY_DEVICE,
    PLACES,
    PROGRAMS,
    REGION_TZ,
    REGIONS,
    TAGS,
)
from .state import ACTIVE, ActionState, MeterState, Participation, ProgramState
from .timeutil import fmt_s, local_midnight, month_index

T = TypeVar("T")
GROUPS_PER_POOL = 6
_REGION_WEIGHTS = tuple((r.name, r.weight) for r in REGIONS)
NICKNAMES = ("Garage battery", "Main house", "Zoë's EV", "Warehouse #2", "Cabin")


def meter_rng(seed: int, seq: int, salt: int) -> random.Random:
    """An independent random stream per (seed, meter, purpose): meters never disturb each other."""
    return random.Random((seed << 40) ^ (seq << 4) ^ salt)


@lru_cache(maxsize=256)
def _cumulative(pairs: tuple[tuple[Any, float], ...]) -> tuple[tuple[Any, ...], tuple[float, ...]]:
    values = tuple(p[0] for p in pairs)
    return values, tuple(accumulate(p[1] for p in pairs))


def weighted(rng: random.Random, pairs: Sequence[tuple[T, float]]) -> T:
    """Pick a value from (value, weight) pairs (a tuple, so its cumulative table is cached)."""
    values, cumulative = _cumulative(tuple(pairs))
    value: T = values[bisect(cumulative, rng.random() * cumulative[-1])]
    return value


def new_uuid(rng: random.Random) -> str:
    """A version-4 UUID drawn from `rng`."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def reference_for(seed: int, seq: int) -> str:
    """The partner reference a meter gets unless it has none or shares another's."""
    rng = meter_rng(seed, seq, 9)
    n = rng.randrange(1, 999_999)
    style = rng.randrange(4)
    if style == 0:
        return f"cust-{n:06d}"
    if style == 1:
        return f"site_{rng.getrandbits(32):08x}"
    if style == 2:
        return f"HOME-{n:06d}"
    return f"acct.{n}:premise-{rng.randrange(1, 9)}"


class Basics(NamedTuple):
    """What a meter's random stream yields first: cheap to draw for every meter at start-up."""

    region: str
    place: int
    utility: str
    meter_type: str
    device_type: str | None
    classification: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime


class Identity(NamedTuple):
    """What the stream yields next, up to and including the meter id."""

    partner_reference: str | None
    m0: int
    programs: list[ProgramState]
    meter_id: str


def basics(rng: random.Random, start: datetime) -> Basics:
    """The first draws of a meter's stream 1 (see `generate_meter`)."""
    region = weighted(rng, _REGION_WEIGHTS)
    place = rng.randrange(len(PLACES[region]))
    meter_type = weighted(rng, (("UTILITY_METER", 0.70), ("DEVICE", 0.25), ("SUBMETER", 0.05)))
    device_type = weighted(rng, DEVICE_TYPE_WEIGHTS) if meter_type == "DEVICE" else None
    classification = weighted(rng, (("RESIDENTIAL", 0.78), ("COMMERCIAL", 0.21), (None, 0.01)))
    created_by = _created_by(rng, meter_type)
    created_at = start - timedelta(seconds=rng.uniform(86_400, 3 * 365 * 86_400))
    updated_at = created_at + (start - created_at) * rng.uniform(0.05, 0.999)
    utility = PLACES[region][place].utility
    return Basics(
        region, place, utility, meter_type, device_type, classification, created_by, created_at,
        updated_at,
    )  # fmt: skip


def identity(rng: random.Random, seed: int, seq: int, start: datetime, b: Basics) -> Identity:
    """The draws after `basics`, up to the meter id (see `generate_meter`)."""
    reference = _partner_reference(rng, seed, seq)
    m0 = month_index(start, REGION_TZ[b.region])
    programs = _programs(rng, b.region, b.utility, m0)
    return Identity(reference, m0, programs, new_uuid(rng))


def meter_basics(seed: int, seq: int, start: datetime) -> Basics:
    """`basics` of meter `seq`, without generating the rest of it."""
    return basics(meter_rng(seed, seq, 1), start)


def meter_identity(seed: int, seq: int, start: datetime) -> tuple[Basics, Identity]:
    """`basics` and `identity` of meter `seq`, without generating the rest of it."""
    rng = meter_rng(seed, seq, 1)
    b = basics(rng, start)
    return b, identity(rng, seed, seq, start, b)


def generate_meter(seed: int, seq: int, start: datetime) -> MeterState:
    """Build meter `seq` deterministically; `start` anchors creation dates and pinned periods.

    The order of draws from the meter's stream is part of the data: never reorder them.
    """
    rng = meter_rng(seed, seq, 1)
    b = basics(rng, start)
    i = identity(rng, seed, seq, start, b)
    return MeterState(
        seq=seq,
        meter_id=i.meter_id,
        region=b.region,
        place=b.place,
        utility=b.utility,
        meter_type=b.meter_type,
        device_type=b.device_type,
        classification=b.classification,
        partner_reference=i.partner_reference,
        connection_references=_connection_refs(rng, b.created_by, i.partner_reference),
        load_types=_load_types(rng, b.device_type, b.classification),
        customer_group=rng.choice(CUSTOMER_GROUPS) if rng.random() < 0.9 else None,
        tags=tuple(rng.sample(TAGS, weighted(rng, ((0, 0.55), (1, 0.3), (2, 0.1), (3, 0.05))))),
        is_archived=rng.random() < 0.02,
        created_by=b.created_by,
        created_at=b.created_at,
        updated_at=b.updated_at,
        base_status=weighted(
            rng, [("PENDING", 0.5), ("INELIGIBLE", 0.3), ("NOT_PARTICIPATING", 0.2)]
        ),
        programs=i.programs,
        actions=_actions(rng, i.programs, i.m0),
        participation=_participation(rng, b.region, b.created_at, i.m0),
        far_future=weighted(rng, ((0, 0.6), (1, 0.3), (2, 0.1))),
        nickname=rng.choice(NICKNAMES) if rng.random() < 0.05 else None,
    )


def _created_by(rng: random.Random, meter_type: str) -> str:
    if meter_type == "UTILITY_METER":
        return weighted(rng, (("UTILITY", 0.6), ("PARTNER", 0.33), ("LEAP", 0.07)))
    return weighted(rng, (("PARTNER", 0.9), ("LEAP", 0.1)))


def _partner_reference(rng: random.Random, seed: int, seq: int) -> str | None:
    roll = rng.random()
    if roll < 0.05:
        return None
    if roll < 0.08 and seq > 0:
        return reference_for(seed, seq - 1)  # shares the previous meter's reference
    return reference_for(seed, seq)


def _connection_refs(rng: random.Random, created_by: str, reference: str | None) -> tuple[str, ...]:
    if created_by != "UTILITY":
        return ()
    extra = f"conn-{rng.getrandbits(24):06x}"
    if reference is None:
        return (extra,) if rng.random() < 0.5 else ()
    return (reference, extra) if rng.random() < 0.1 else (reference,)


def _load_types(
    rng: random.Random, device_type: str | None, classification: str | None
) -> tuple[str, ...]:
    if device_type is not None:
        return (LOAD_TYPES_BY_DEVICE[device_type],)
    if classification == "COMMERCIAL":
        return tuple(rng.sample(COMMERCIAL_LOADS, rng.randint(1, 3)))
    picks = ["HVAC"] + [t for t in ("EV_CHARGING", "BATTERY_STORAGE") if rng.random() < 0.2]
    return tuple(picks)


def _programs(rng: random.Random, region: str, utility: str, m0: int) -> list[ProgramState]:
    offered = [p for p in PROGRAMS[region] if utility in p.utilities]
    count = weighted(rng, ((0, 0.15), (1, 0.5), (2, 0.25), (3, 0.10)))
    chosen = rng.sample(offered, min(count, len(offered)))
    return [new_program(rng, p.identifier, m0) for p in chosen]


def new_program(rng: random.Random, identifier: str, m0: int) -> ProgramState:
    standing = weighted(
        rng,
        [(ACTIVE, 0.55), ("ELIGIBLE", 0.2), ("INELIGIBLE", 0.12), ("PENDING", 0.1),
         ("NOT_PARTICIPATING", 0.03)],
    )  # fmt: skip
    group = rng.randrange(GROUPS_PER_POOL)
    program = ProgramState(identifier, standing, group if standing == ACTIVE else -1)
    if standing == ACTIVE:
        other = (group + rng.randrange(1, GROUPS_PER_POOL)) % GROUPS_PER_POOL
        first = (ACTIVE, group) if rng.random() < 0.9 else ("ELIGIBLE", -1)
        program.months[m0] = first
        program.months[m0 + 1] = (ACTIVE, group if rng.random() < 0.85 else other)
        program.months[m0 + 2] = ("ELIGIBLE", -1) if rng.random() < 0.5 else (ACTIVE, group)
    if rng.random() < 0.05:
        program.capacity_kw = round(rng.uniform(0.5, 250.0), 2)
    return program


def _actions(rng: random.Random, programs: list[ProgramState], m0: int) -> list[ActionState]:
    if not programs:
        return []
    actions: list[ActionState] = []
    for side, rate in (("partner", 0.25), ("leap", 0.15)):
        kinds = tuple((i, k.weight) for i, k in enumerate(ACTION_KINDS) if k.side == side)
        for _ in range(1 if rng.random() < rate else 0):
            kind = weighted(rng, kinds)
            program = rng.choice(programs).program
            anchor = m0 + rng.choice((-2, -1, 0, 1, 1))
            description = rng.randrange(len(ACTION_KINDS[kind].descriptions))
            actions.append(ActionState(side, kind, program, anchor, description))
    return actions


def _participation(
    rng: random.Random, region: str, created_at: datetime, m0: int
) -> list[Participation]:
    first = fmt_s(created_at.replace(microsecond=0))
    roll = rng.random()
    tz = REGION_TZ[region]
    earliest = month_index(created_at, tz) + 1  # schedule changes come after creation
    if roll < 0.07:
        idle_start = max(earliest, m0 + rng.randint(-3, 2))
        idle_end = idle_start + rng.randint(1, 3)
        a, b = fmt_s(local_midnight(tz, idle_start)), fmt_s(local_midnight(tz, idle_end))
        return [
            Participation("PARTICIPATE", first, a),
            Participation("IDLE", a, b, rng.choice(IDLE_REASONS)),
            Participation("PARTICIPATE", b, None),
        ]
    if roll < 0.10:
        leave = fmt_s(local_midnight(tz, max(earliest, m0 + rng.randint(-2, 2))))
        return [
            Participation("PARTICIPATE", first, leave),
            Participation("DISENROLL", leave, None, rng.choice(DISENROLL_REASONS)),
        ]
    return [Participation("PARTICIPATE", first, None)]
