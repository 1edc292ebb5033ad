"""What the simulator's parts use of it: the routes, control API, mutations and events.

Those modules sit below core.LeapSimulator (core imports them), so they name the simulator by this
structural type instead of importing core; LeapSimulator satisfies it without inheriting from it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from .enrollment import RenderContext
from .faults import FaultPlan
from .filters import MeterFilter
from .state import MeterState
from .webhooks import WebhookHub


class Simulator(Protocol):
    """The members of LeapSimulator that control, events, mutations, partner_reference, routes
    and transport use."""

    # Set by the control API.
    slow_seconds: float
    apply_reference_updates: bool

    @property
    def api_key(self) -> str: ...

    @property
    def lock(self) -> threading.RLock: ...

    @property
    def fault_plan(self) -> FaultPlan: ...

    @property
    def webhooks(self) -> WebhookHub: ...

    @property
    def ctx(self) -> RenderContext: ...

    @property
    def now(self) -> datetime: ...

    # clock
    def advance(self, delta: timedelta) -> datetime: ...

    def set_time(self, when: datetime) -> datetime: ...

    def rollover(self) -> datetime: ...

    # store
    def add_meter(self) -> MeterState: ...

    def find(self, meter_id: str) -> MeterState | None: ...

    def find_seq(self, meter_id: str) -> int | None: ...

    def meters(self) -> Sequence[MeterState]: ...

    def touch(self, m: MeterState) -> None: ...

    def set_partner_reference(self, m: MeterState, value: str | None) -> bool: ...

    # rendering and search
    def enrollment_bytes(self, m: MeterState) -> bytes: ...

    def details_bytes(self, m: MeterState) -> bytes: ...

    def enrollment_json(self, seq: int, m: MeterState | None = None) -> bytes: ...

    def details_json(self, seq: int, m: MeterState | None = None) -> bytes: ...

    def set_send_nulls(self, send_nulls: bool) -> None: ...

    def set_drift(self, drift: bool) -> None: ...

    def warm(self) -> None: ...

    def search(self, f: MeterFilter, render: Callable[[int], bytes]) -> bytes: ...

    # control API
    def faults(self, rate: float, kinds: list[str] | None = None, seed: int = 0) -> None: ...

    def mutate(self, fraction: float, seed: int) -> dict[str, Any]: ...

    def truth_page(self, offset: int, limit: int) -> bytes: ...

    def state(self) -> dict[str, Any]: ...

    def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]: ...
