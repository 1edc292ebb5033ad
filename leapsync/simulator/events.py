"""Which Leap webhook event a simulated change makes, with the fields Leap's event carries."""

from __future__ import annotations

from typing import Any

import msgspec

from .protocol import Simulator
from .state import MeterState

GLOBAL_STATUS = "meter.enrollment.global-status.updated"
REQUIRED_ACTIONS = "meter.enrollment.required-actions.updated"
PARTICIPATION = "meter.enrollment.participation-status.updated"
GROUP = "meter.enrollment.group.updated"
CREATED = "meter.created"
# Mutation kinds (mutations.py) to event types. Leap has no event for a details change, a
# partner_reference edit or archiving: polling is what finds those.
EVENT_FOR_KIND = {
    "status": GLOBAL_STATUS,
    "program_added": GLOBAL_STATUS,
    "market_group": GROUP,
    "action_added": REQUIRED_ACTIONS,
    "action_removed": REQUIRED_ACTIONS,
    "participation_reset": PARTICIPATION,
    "participation_idle": PARTICIPATION,
    "participation_disenroll": PARTICIPATION,
    "new_meter": CREATED,
}


def events_for(
    sim: Simulator, changed: list[tuple[MeterState, str]]
) -> list[tuple[str, dict[str, Any]]]:
    """(event type, payload fields) for each change that Leap announces by webhook."""
    events = []
    for m, kind in changed:
        event_type = EVENT_FOR_KIND.get(kind)
        if event_type is not None:
            enrollment = msgspec.json.decode(sim.enrollment_bytes(m))
            events.append(_event(m, event_type, enrollment))
    return events


def _event(
    m: MeterState, event_type: str, enrollment: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    base: dict[str, Any] = {"meter_id": m.meter_id}
    if m.partner_reference is not None:
        base["partner_reference"] = m.partner_reference
    base |= {"transmission_region": m.region, "meter_type": m.meter_type}
    status = enrollment["global_enrollment_status"]
    if event_type == GLOBAL_STATUS:
        return event_type, {**base, "global_enrollment_status": status}
    if event_type == REQUIRED_ACTIONS:
        partner = enrollment["required_actions"].get("partner") or []
        actions = {"partner": partner} if partner else {}  # empty once every one is resolved
        return event_type, {**base, "global_enrollment_status": status, "required_actions": actions}
    if event_type == PARTICIPATION:
        latest = enrollment["participation_preferences"][-1]
        fields = {k: latest[k] for k in ("participation_preference", "start_time", "end_time")}
        return event_type, {**base, **{k: v for k, v in fields.items() if v is not None}}
    if event_type == GROUP:
        return _group_event(m, enrollment, base, status)
    return event_type, base


def _group_event(
    m: MeterState, enrollment: dict[str, Any], base: dict[str, Any], status: str
) -> tuple[str, dict[str, Any]]:
    """Keyed by the group the meter is in now; names the meter whose membership changed."""
    for row in enrollment["program_enrollment"]:
        if row.get("market_group_id"):
            return GROUP, {
                "market_group_id": row["market_group_id"],
                "market_group_name": row["market_group_name"],
                "start_date_time": row["delivery_period_start_date_time"],
                "end_date_time": row["delivery_period_end_date_time"],
                "meter_ids": [m.meter_id],
            }
    return GLOBAL_STATUS, {**base, "global_enrollment_status": status}
