"""Random but deterministic changes to meters, each one a change Leap says moves updated_at."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from .catalog import ACTION_KINDS, PLACES, PROGRAMS, REGION_TZ
from .enrollment import PERIODS_SHOWN
from .generate import GROUPS_PER_POOL, new_program, weighted
from .protocol import Simulator
from .state import ACTIVE, ActionState, MeterState, Participation
from .timeutil import fmt_s, fmt_us, local_midnight

NEW_METER_SHARE = 0.05
STATUSES = (ACTIVE, "ELIGIBLE", "INELIGIBLE", "PENDING", "NOT_PARTICIPATING")
Mutation = Callable[[random.Random, MeterState, int], str]


def apply_mutations(
    sim: Simulator,
    fraction: float,
    seed: int,
    changed: list[tuple[MeterState, str]] | None = None,
) -> dict[str, Any]:
    """Touch round(fraction * N) meters (about 5% of them brand new) after a one-second tick.

    Each (meter, kind of change) is appended to `changed` when given (webhook events use it).
    """
    changed = [] if changed is None else changed
    sim.advance(timedelta(seconds=1))  # every new updated_at is later than any before
    rng = random.Random(seed)
    meters = sim.meters()
    total = round(fraction * len(meters))
    created = round(total * NEW_METER_SHARE)
    changes: Counter[str] = Counter()
    touched: list[str] = []
    for m in rng.sample(meters, min(total - created, len(meters))):
        kind = _mutate_one(sim, rng, m)
        changes[kind] += 1
        touched.append(m.meter_id)
        changed.append((m, kind))
    new_meters = [sim.add_meter() for _ in range(created)]
    changed += [(m, "new_meter") for m in new_meters]
    new_ids = [m.meter_id for m in new_meters]
    changes["new_meter"] += len(new_ids)
    return {
        "now": fmt_us(sim.now),
        "touched": len(touched) + len(new_ids),
        "changes": dict(sorted(changes.items())),
        "meter_ids": touched,
        "created": new_ids,
    }


def _mutate_one(sim: Simulator, rng: random.Random, m: MeterState) -> str:
    name = weighted(rng, tuple(_WEIGHTS.items()))
    if name == "partner_reference":
        value = None if rng.random() < 0.1 else f"ref-{rng.getrandbits(32):08x}"
        if value == m.partner_reference:
            value = f"ref-{rng.getrandbits(32):08x}"
        sim.set_partner_reference(m, value)
        return name
    name = MUTATIONS[name](rng, m, sim.ctx.months[m.region])
    sim.touch(m)
    return name


def _status(rng: random.Random, m: MeterState, cur: int) -> str:
    if not m.programs:
        return _add_program(rng, m, cur)
    program = rng.choice(m.programs)
    program.standing = rng.choice([s for s in STATUSES if s != program.standing])
    program.group = rng.randrange(GROUPS_PER_POOL) if program.standing == ACTIVE else -1
    for mi in range(cur, cur + PERIODS_SHOWN):
        program.months[mi] = (program.standing, program.group)
    return "status"


def _market_group(rng: random.Random, m: MeterState, cur: int) -> str:
    shown = [
        (p, mi)
        for p in m.programs
        for mi in range(cur, cur + PERIODS_SHOWN)
        if p.at(mi)[0] == ACTIVE
    ]
    if not shown:
        return _status(rng, m, cur)
    program, mi = rng.choice(shown)
    group = (program.at(mi)[1] + rng.randrange(1, GROUPS_PER_POOL)) % GROUPS_PER_POOL
    program.months[mi] = (ACTIVE, group)
    return "market_group"


def _add_program(rng: random.Random, m: MeterState, cur: int) -> str:
    have = {p.program for p in m.programs}
    offered = [
        p for p in PROGRAMS[m.region] if m.utility in p.utilities and p.identifier not in have
    ]
    if not offered:
        return _status(rng, m, cur) if m.programs else _archive(rng, m, cur)
    m.programs.append(new_program(rng, rng.choice(offered).identifier, cur))
    return "program_added"


def _action_add(rng: random.Random, m: MeterState, cur: int) -> str:
    if not m.programs:
        return _add_program(rng, m, cur)
    kind = rng.randrange(len(ACTION_KINDS))
    program = rng.choice(m.programs).program
    if any(a.kind == kind and a.program == program for a in m.actions):
        return _action_remove(rng, m, cur)
    m.actions.append(ActionState(ACTION_KINDS[kind].side, kind, program, cur + 1))
    return "action_added"


def _action_remove(rng: random.Random, m: MeterState, cur: int) -> str:
    if not m.actions:
        return _action_add(rng, m, cur)
    m.actions.pop(rng.randrange(len(m.actions)))
    return "action_removed"


def _participation(rng: random.Random, m: MeterState, cur: int) -> str:
    if len(m.participation) > 1:
        m.participation = [Participation("PARTICIPATE", m.participation[0].start, None)]
        return "participation_reset"
    tz = REGION_TZ[m.region]
    start = fmt_s(local_midnight(tz, cur + 1))
    first = Participation("PARTICIPATE", m.participation[0].start, start)
    if rng.random() < 0.7:
        end = fmt_s(local_midnight(tz, cur + 1 + rng.randint(1, 3)))
        idle = Participation("IDLE", start, end, "Idle Time")
        m.participation = [first, idle, Participation("PARTICIPATE", end, None)]
        return "participation_idle"
    m.participation = [first, Participation("DISENROLL", start, None, "Disenrollment")]
    return "participation_disenroll"


def _archive(rng: random.Random, m: MeterState, cur: int) -> str:
    m.is_archived = not m.is_archived
    return "archived" if m.is_archived else "unarchived"


def _details(rng: random.Random, m: MeterState, cur: int) -> str:
    patch = dict(m.details_patch or {})
    if rng.random() < 0.5:
        phone = f"({rng.randint(201, 989)}) {rng.randint(200, 999)}-{rng.randrange(10000):04d}"
        patch[("customer", "end_customer_phone_number")] = phone
    else:
        place = PLACES[m.region][m.place]
        patch[("customer", "city")] = place.city
        patch[("customer", "street_1")] = f"{rng.randint(1, 9899)} Relocated Ave"
    m.details_patch = patch
    return "details"


MUTATIONS: dict[str, Mutation] = {
    "status": _status,
    "market_group": _market_group,
    "action_add": _action_add,
    "action_remove": _action_remove,
    "participation": _participation,
    "archive": _archive,
    "details": _details,
}
_WEIGHTS: dict[str, float] = {
    "status": 0.22,
    "market_group": 0.15,
    "action_add": 0.15,
    "action_remove": 0.12,
    "participation": 0.08,
    "partner_reference": 0.10,
    "archive": 0.05,
    "details": 0.13,
}
