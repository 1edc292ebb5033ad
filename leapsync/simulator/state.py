"""Compact per-meter state: what can change; everything else is regenerated from (seed, seq)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

ACTIVE = "ACTIVE"
STATUS_RANK = ("ELIGIBLE", "PENDING", "NOT_PARTICIPATING", "INELIGIBLE")


@dataclass(slots=True)
class ProgramState:
    """A meter's standing in one program.

    `months` pins (status, market-group index) for specific local month indexes; any other month
    shows the standing status (with the standing group when ACTIVE). A rollover therefore reveals a
    new period without changing the periods already shown, as Leap's guide describes.
    """

    program: str
    standing: str
    group: int
    months: dict[int, tuple[str, int]] = field(default_factory=dict)
    capacity_kw: float | None = None  # an undocumented extra field Leap may add

    def at(self, mi: int) -> tuple[str, int]:
        """Status and market-group index (-1 = none) for local month `mi`."""
        pinned = self.months.get(mi)
        if pinned is not None:
            return pinned
        return (self.standing, self.group if self.standing == ACTIVE else -1)


@dataclass(slots=True)
class ActionState:
    """An unresolved required action; it rolls forward from `anchor_month` until resolved."""

    side: str
    kind: int
    program: str
    anchor_month: int
    description: int = 0


@dataclass(slots=True)
class Participation:
    """One participation-preference period, pre-formatted (end None = open-ended)."""

    preference: str
    start: str
    end: str | None
    reason: str | None = None


@dataclass(slots=True)
class MeterState:
    """Everything about one meter that the enrollment response shows or a mutation may change."""

    seq: int
    meter_id: str
    region: str
    place: int
    utility: str
    meter_type: str
    device_type: str | None
    classification: str | None
    partner_reference: str | None
    connection_references: tuple[str, ...]
    load_types: tuple[str, ...]
    customer_group: str | None
    tags: tuple[str, ...]
    is_archived: bool
    created_by: str
    created_at: datetime
    updated_at: datetime
    base_status: str
    programs: list[ProgramState]
    actions: list[ActionState]
    participation: list[Participation]
    far_future: int
    nickname: str | None = None
    details_patch: dict[tuple[str, str], object] | None = None

    def has_partner_action(self) -> bool:
        """True when at least one action sits in the partner array."""
        return any(a.side == "partner" for a in self.actions)
