"""Schema drift on demand: one field Leap's schemas do not know, in every object of a meter.

Leap adds fields without notice and its sync guide says to expect it. With drift on (`drift=True`,
`leap_simulator --drift`, or the control route `drift`) the meter record and every object nested
in it (customer, site, utility, device, program periods, deadlines, actions, audit, ...) carry
`DRIFT_FIELD`, so a client's handling of unknown fields can be measured at full size.
"""

from __future__ import annotations

from typing import Any

DRIFT_FIELD = "x_drift_note"
DRIFT_VALUE = "added by a newer API version"


def add_drift(value: Any) -> Any:
    """`value` with DRIFT_FIELD added to every dict in it (in place); returns `value`."""
    if isinstance(value, dict):
        for item in value.values():
            if isinstance(item, dict | list):
                add_drift(item)
        value[DRIFT_FIELD] = DRIFT_VALUE
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict | list):
                add_drift(item)
    return value
